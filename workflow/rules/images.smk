# Image sources (demo, pickapic): raw shards -> scores and embeddings (DESIGN §2.2, §2.6).
# No rule here touches the network or a model at DAG-build time: names and paths go to params.

DEMO_MODEL = {
    "model_config": results("models/demo_clip/open_clip_config.json"),
    "model_weights": results("models/demo_clip/open_clip_model.safetensors"),
}


def raw_settings():
    """Only the keys that change the raw pairs, so that model settings do not redraw them."""
    if SOURCE == "demo":
        return {key: value for key, value in config["demo"].items() if key != "model"}
    return {
        key: value
        for key, value in config["pickapic"].items()
        if key not in ("scorer", "embedder")
    }


def model_files(wildcards):
    """The demo's saved tiny CLIP; pickapic models are hub ids or local paths in params."""
    return DEMO_MODEL if SOURCE == "demo" else {}


def scorer_spec():
    if SOURCE == "demo":
        return {"kind": "demo"}
    return {"kind": "transformers", **config["pickapic"]["scorer"]}


def embedder_spec():
    if SOURCE == "demo":
        return {"kind": "demo"}
    return {"kind": "open_clip", **config["pickapic"]["embedder"]}


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
        settings=raw_settings(),
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
        unpack(model_files),
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
        model=scorer_spec(),
        batching=config["embedding"],
    script:
        "../scripts/score.py"


rule embed:
    input:
        unpack(model_files),
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
        model=embedder_spec(),
        batching=config["embedding"],
    script:
        "../scripts/embed.py"
