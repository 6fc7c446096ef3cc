# Text source: raw pairs -> reference rewards and sentence-encoder features, per shard.
# Paths live under results/{name}/text/ so that they never collide with the image rules.
# Nothing here loads a model or a dataset at DAG-build time: names and paths go to params.

TEXT = config["text"]
# The demo's stand-in reward reads the response embeddings instead of encoding them again.
TEXT_SCORE_NEEDS_FEATURES = TEXT["reward"]["kind"] == "standin"
if SOURCE == "text" and TEXT_SCORE_NEEDS_FEATURES and TEXT["dataset"] != "demo":
    raise ValueError(
        "config: text.reward.kind=standin needs text.dataset=demo (its hidden descriptions); "
        "use text.reward.kind=model with a reward model for a real dataset"
    )


rule text_raw:
    output:
        expand(results("text/raw/{{split}}/shard-{shard}.parquet"), shard=SHARDS),
    log:
        logs("text/raw/{split}.log"),
    benchmark:
        benchmarks("text/raw/{split}.tsv")
    params:
        text={
            key: value
            for key, value in TEXT.items()
            if key not in ("reward", "encoder")
        },
    script:
        "../scripts/text_raw.py"


rule text_embed:
    input:
        raw=results("text/raw/{split}/shard-{shard}.parquet"),
    output:
        results("text/embeddings/{split}/shard-{shard}.parquet"),
    log:
        logs("text/embeddings/{split}/shard-{shard}.log"),
    benchmark:
        benchmarks("text/embeddings/{split}/shard-{shard}.tsv")
    threads: config["threads"]["embed"]
    resources:
        gpu=1,
    params:
        encoder=TEXT["encoder"],
    script:
        "../scripts/text_embed.py"


rule text_score:
    input:
        raw=results("text/raw/{split}/shard-{shard}.parquet"),
        features=lambda wildcards: (
            results(
                f"text/embeddings/{wildcards.split}/shard-{wildcards.shard}.parquet"
            )
            if TEXT_SCORE_NEEDS_FEATURES
            else []
        ),
    output:
        results("text/scores/{split}/shard-{shard}.parquet"),
    log:
        logs("text/scores/{split}/shard-{shard}.log"),
    benchmark:
        benchmarks("text/scores/{split}/shard-{shard}.tsv")
    threads: config["threads"]["embed"]
    resources:
        gpu=1,
    params:
        reward=TEXT["reward"],
        encoder=TEXT["encoder"],
    script:
        "../scripts/text_score.py"


rule text_groups:
    input:
        expand(results("text/raw/{{split}}/shard-{shard}.parquet"), shard=SHARDS),
    output:
        results("text/groups/{split}.parquet"),
    log:
        logs("text/groups/{split}.log"),
    benchmark:
        benchmarks("text/groups/{split}.tsv")
    script:
        "../scripts/text_groups.py"
