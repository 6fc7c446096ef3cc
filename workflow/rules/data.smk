rule synthetic_pairs:
    output:
        features=results("synthetic/{split}/features.parquet"),
        rewards=results("synthetic/{split}/rewards.parquet"),
    log:
        logs("synthetic/{split}.log"),
    benchmark:
        benchmarks("synthetic/{split}.tsv")
    conda:
        "../../envs/rtpref.yaml"
    params:
        synthetic=config["synthetic"],
    script:
        "../scripts/synthetic_pairs.py"


rule enhance:
    input:
        rewards=reward_files,
        users=user_id_files,
    output:
        results("enhanced/{split}.parquet"),
    log:
        logs("enhance/{split}.log"),
    benchmark:
        benchmarks("enhance/{split}.tsv")
    conda:
        "../../envs/rtpref.yaml"
    params:
        ddm=config["ddm"],
    script:
        "../scripts/enhance.py"


rule chunks:
    input:
        labels=results(f"enhanced/{SPLIT}.parquet"),
        features=feature_files,
    output:
        train=directory(results("chunks/train")),
        test=directory(results("chunks/test")),
    log:
        logs("chunks.log"),
    benchmark:
        benchmarks("chunks.tsv")
    conda:
        "../../envs/rtpref.yaml"
    params:
        test_size=config["test_size"],
        chunks=config["chunks"],
    script:
        "../scripts/chunks.py"
