rule synthetic_pairs:
    output:
        features=results("synthetic/{split}/features.parquet"),
        rewards=results("synthetic/{split}/rewards.parquet"),
    log:
        logs("synthetic/{split}.log"),
    benchmark:
        benchmarks("synthetic/{split}.tsv")
    params:
        synthetic=config["synthetic"],
    script:
        "../scripts/synthetic_pairs.py"


rule enhance:
    input:
        rewards=reward_files,
        users=user_id_files,
        features=user_feature_files,
    output:
        results("enhanced/{split}.parquet"),
    log:
        logs("enhance/{split}.log"),
    benchmark:
        benchmarks("enhance/{split}.tsv")
    params:
        ddm=config["ddm"],
        users=USER_SIMULATION,
    script:
        "../scripts/enhance.py"


rule chunks:
    input:
        labels=label_file(),
        features=feature_files,
    output:
        train=directory(results("chunks/train")),
        test=directory(results("chunks/test")),
    log:
        logs("chunks.log"),
    benchmark:
        benchmarks("chunks.tsv")
    params:
        test_size=config.get("test_size"),  # absent for source flow
        chunks=config["chunks"],
        user_split=USER_SPLIT,
    script:
        "../scripts/chunks.py"


# Source recorded: people's own choices and response times, no simulation.
rule recorded:
    input:
        unpack(recorded_inputs),
    output:
        labels=results("recorded/labels.parquet"),
        features=results("recorded/features.parquet"),
    log:
        logs("recorded.log"),
    benchmark:
        benchmarks("recorded.tsv")
    script:
        "../scripts/recorded.py"


rule recorded_items:
    input:
        item_table=config["recorded"]["items"] or [],
    output:
        results("recorded/item_features.parquet"),
    log:
        logs("recorded_items.log"),
    benchmark:
        benchmarks("recorded_items.tsv")
    threads: config["threads"]["embed"]
    resources:
        gpu=1,
    params:
        model={"kind": "open_clip", **config["recorded"]["embedder"]},
        batch_pairs=config["embedding"]["batch_pairs"],
    script:
        "../scripts/recorded_items.py"
