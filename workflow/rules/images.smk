# Image sources (demo, pickapic): raw shards -> scores and embeddings (DESIGN §2.2, §2.6).
# No rule here touches the network or a model at DAG-build time: names and paths go to params.

DEMO_MODEL = {
    "model_config": results("models/demo_clip/open_clip_config.json"),
    "model_weights": results("models/demo_clip/open_clip_model.safetensors"),
}
# Only the keys that change the raw pairs, so that model settings do not redraw the data.
RAW_SETTINGS = {
    key: value
    for key, value in config[SOURCE].items()
    if key not in ("model", "scorer", "embedder")
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
    conda:
        "../../envs/rtpref.yaml"
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
    conda:
        "../../envs/rtpref.yaml"
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
    conda:
        "../../envs/rtpref.yaml"
    threads: config["threads"]["embed"]
    resources:
        gpu=1,
    params:
        model=SCORER,
        batching=config["embedding"],
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
    conda:
        "../../envs/rtpref.yaml"
    threads: config["threads"]["embed"]
    resources:
        gpu=1,
    params:
        model=EMBEDDER,
        batching=config["embedding"],
    script:
        "../scripts/embed.py"
