rule synthetic_world:
    output:
        train=directory(results("worlds/seed{seed}/chunks/train")),
        test=directory(results("worlds/seed{seed}/chunks/test")),
    log:
        logs("worlds/seed{seed}.log"),
    benchmark:
        benchmarks("worlds/seed{seed}.tsv")
    params:
        synthetic=config["synthetic"],
        ddm=config["ddm"],
        test_size=config["test_size"],
        chunks=config["chunks"],
    script:
        "../scripts/synthetic_world.py"


# One job per run (default), or with `sizes_per_train_job: all` one job per (algorithm, seed)
# that fits every size in turn: the same outputs and results, far fewer process start-ups.
if config["sizes_per_train_job"] == "all":

    rule train:
        input:
            unpack(run_chunks),
        output:
            expand(
                results("runs/{{algorithm}}/n{size}/seed{{seed}}/metrics.json"),
                size=config["sizes"],
            ),
        log:
            logs("train/{algorithm}/seed{seed}.log"),
        benchmark:
            benchmarks("train/{algorithm}/seed{seed}.tsv")
        threads: config["threads"]["train"]
        resources:
            gpu=1,
        params:
            training=lambda wildcards: options_for(
                wildcards.algorithm, config["training"]
            ),
            barrier=config["ddm"]["barrier"],
            data_per_seed=PER_SEED_WORLDS,
            sizes=config["sizes"],
        script:
            "../scripts/train.py"

else:

    rule train:
        input:
            unpack(run_chunks),
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
            training=lambda wildcards: options_for(
                wildcards.algorithm, config["training"]
            ),
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
    script:
        "../scripts/summary.py"
