rule train:
    input:
        train=results("chunks/train"),
        test=results("chunks/test"),
    output:
        results("runs/{algorithm}/n{size}/seed{seed}/metrics.json"),
    log:
        logs("train/{algorithm}/n{size}/seed{seed}.log"),
    benchmark:
        benchmarks("train/{algorithm}/n{size}/seed{seed}.tsv")
    threads: config["threads"]["train"]
    resources:
        gpu=1,
    params:
        training=lambda wildcards: options_for(wildcards.algorithm, config["training"]),
        barrier=config["ddm"]["barrier"],
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
    script:
        "../scripts/summary.py"
