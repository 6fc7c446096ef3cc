rule synthetic_world:
    output:
        train=directory(results("worlds/seed{seed}/chunks/train")),
        test=directory(results("worlds/seed{seed}/chunks/test")),
    log:
        logs("worlds/seed{seed}.log"),
    benchmark:
        benchmarks("worlds/seed{seed}.tsv")
    conda:
        "../../envs/rtpref.yaml"
    params:
        synthetic=config["synthetic"],
        ddm=config["ddm"],
        test_size=config["test_size"],
        chunks=config["chunks"],
    script:
        "../scripts/synthetic_world.py"


rule train:
    input:
        unpack(run_chunks),
    output:
        results("runs/{algorithm}/n{size}/seed{seed}/metrics.json"),
    log:
        logs("train/{algorithm}/n{size}/seed{seed}.log"),
    benchmark:
        benchmarks("train/{algorithm}/n{size}/seed{seed}.tsv")
    conda:
        "../../envs/rtpref.yaml"
    threads: config["threads"]["train"]
    resources:
        gpu=1,
    params:
        training=lambda wildcards: options_for(wildcards.algorithm, config["training"]),
        barrier=config["ddm"]["barrier"],
        data_per_seed=PER_SEED_WORLDS,
    script:
        "../scripts/train.py"


rule summary:
    input:
        run_metrics(),
    output:
        results("summary.parquet"),
    log:
        logs("summary.log"),
    benchmark:
        benchmarks("summary.tsv")
    conda:
        "../../envs/rtpref.yaml"
    script:
        "../scripts/summary.py"
