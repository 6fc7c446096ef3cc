# The embedder behind the features, recorded in every saved model (None: raw features).
if SOURCE in IMAGE_SOURCES:
    FEATURE_EMBEDDER = EMBEDDER
elif SOURCE == "text":
    FEATURE_EMBEDDER = {
        "kind": "sentence_transformers",
        "model": config["text"]["encoder"]["model"],
        "max_tokens": config["text"]["encoder"]["max_tokens"],
    }
elif SOURCE == "recorded" and config["recorded"]["items"]:
    FEATURE_EMBEDDER = {"kind": "open_clip", **config["recorded"]["embedder"]}
else:
    FEATURE_EMBEDDER = None


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
        test_size=config.get("test_size"),
        chunks=config["chunks"],
    script:
        "../scripts/synthetic_world.py"


# One job per run (default), or with `sizes_per_train_job: all` one job per (algorithm, seed)
# that fits every size in turn: the same outputs and results, far fewer process start-ups.
if config["sizes_per_train_job"] == "all":

    rule train:
        input:
            unpack(run_inputs),
        output:
            metrics=expand(
                results("runs/{{algorithm}}/n{size}/seed{{seed}}/metrics.json"),
                size=config["sizes"],
            ),
            model=[
                directory(path)
                for path in expand(
                    results("runs/{{algorithm}}/n{size}/seed{{seed}}/model"),
                    size=config["sizes"],
                )
            ],
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
            ddm=config["ddm"],
            source=SOURCE,
            embedder=FEATURE_EMBEDDER,
            evaluation=config["evaluation"],
            data_per_seed=PER_SEED_WORLDS,
            sizes=config["sizes"],
        script:
            "../scripts/train.py"

else:

    rule train:
        input:
            unpack(run_inputs),
        output:
            metrics=results("runs/{algorithm}/n{size}/seed{seed}/metrics.json"),
            model=directory(results("runs/{algorithm}/n{size}/seed{seed}/model")),
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
            ddm=config["ddm"],
            source=SOURCE,
            embedder=FEATURE_EMBEDDER,
            evaluation=config["evaluation"],
            data_per_seed=PER_SEED_WORLDS,
        script:
            "../scripts/train.py"


rule calibrate:
    input:
        train=results("chunks/train"),
    output:
        results("calibration.json"),
    log:
        logs("calibration.log"),
    benchmark:
        benchmarks("calibration.tsv")
    threads: config["threads"]["train"]
    params:
        calibration=config["calibration"],
    script:
        "../scripts/calibrate.py"


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


# The caption of every pair, so that best-of-k groups share a prompt (image sources).
rule prompts:
    input:
        expand(results(f"raw/{SPLIT}/shard-{{shard}}.parquet"), shard=SHARDS),
    output:
        results("prompts.parquet"),
    log:
        logs("prompts.log"),
    benchmark:
        benchmarks("prompts.tsv")
    script:
        "../scripts/prompts.py"
