# Image sources (demo, pickapic): raw shards (Pick-a-Pic schema, contiguous pair ranges)
# -> per-pair rewards (score) and features (embed), one output per shard.
# No rule here touches the network or a model at DAG-build time: names and paths go to params.

DEMO_MODEL = {
    "model_config": results("models/demo_clip/open_clip_config.json"),
    "model_weights": results("models/demo_clip/open_clip_model.safetensors"),
}
# Params are rerun triggers, so they hold only what changes the data. Throughput settings
# (threads, batch rows, row groups) reach the scripts through the config instead: changing
# them must not restart a 200 GB stream or a GPU embedding.
NOT_DATA = (
    "model",
    "scorer",
    "embedder",
    "batch_rows",
    "check_workers",
    "row_group_rows",
)
RAW_SETTINGS = {
    key: value for key, value in config[SOURCE].items() if key not in NOT_DATA
}
# The demo's tiny CLIP is scorer and embedder; pickapic models are hub ids or local paths.
SCORER = (
    {"kind": "demo"}
    if SOURCE == "demo"
    else {"kind": "transformers", **config["pickapic"]["scorer"]}
)
EMBEDDER = (
    {"kind": "demo"}
    if SOURCE == "demo"
    else {"kind": "open_clip", **config["pickapic"]["embedder"]}
)


rule raw:
    output:
        expand(results("raw/{{split}}/shard-{shard}.parquet"), shard=SHARDS),
    log:
        logs("raw/{split}.log"),
    benchmark:
        benchmarks("raw/{split}.tsv")
    threads: config[SOURCE].get("check_workers", 1)
    params:
        source=SOURCE,
        settings=RAW_SETTINGS,
    script:
        "../scripts/raw.py"


rule demo_model:
    output:
        **DEMO_MODEL,
    log:
        logs("models/demo_clip.log"),
    benchmark:
        benchmarks("models/demo_clip.tsv")
    params:
        model=config["demo"]["model"],
    script:
        "../scripts/demo_model.py"


rule score:
    input:
        unpack(lambda wildcards: DEMO_MODEL if SOURCE == "demo" else {}),
        raw=results("raw/{split}/shard-{shard}.parquet"),
    output:
        results("scores/{split}/shard-{shard}.parquet"),
    log:
        logs("scores/{split}/shard-{shard}.log"),
    benchmark:
        benchmarks("scores/{split}/shard-{shard}.tsv")
    threads: config["threads"]["embed"]
    resources:
        gpu=1,
    params:
        model=SCORER,
        batch_pairs=config["embedding"]["batch_pairs"],
    script:
        "../scripts/score.py"


rule embed:
    input:
        unpack(lambda wildcards: DEMO_MODEL if SOURCE == "demo" else {}),
        raw=results("raw/{split}/shard-{shard}.parquet"),
    output:
        results("embeddings/{split}/shard-{shard}.parquet"),
    log:
        logs("embeddings/{split}/shard-{shard}.log"),
    benchmark:
        benchmarks("embeddings/{split}/shard-{shard}.tsv")
    threads: config["threads"]["embed"]
    resources:
        gpu=1,
    params:
        model=EMBEDDER,
        batch_pairs=config["embedding"]["batch_pairs"],
    script:
        "../scripts/embed.py"
