# The embedder behind the features, recorded in every saved model (None: raw features).
FEATURE_EMBEDDER = (
    EMBEDDER
    if SOURCE in IMAGE_SOURCES
    else (
        {"kind": "open_clip", **config["recorded"]["embedder"]}
        if SOURCE == "recorded" and config["recorded"]["items"]
        else None
    )
)


rule train:
    input:
        unpack(model_inputs),
        train=results("chunks/train"),
        test=results("chunks/test"),
    output:
        metrics=results("runs/{algorithm}/n{size}/seed{seed}/metrics.json"),
        model=directory(results("runs/{algorithm}/n{size}/seed{seed}/model")),
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
        ddm=config["ddm"],
        source=SOURCE,
        embedder=FEATURE_EMBEDDER,
        evaluation=config["evaluation"],
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
    conda:
        "../../envs/rtpref.yaml"
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
    conda:
        "../../envs/rtpref.yaml"
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
    conda:
        "../../envs/rtpref.yaml"
    script:
        "../scripts/prompts.py"
