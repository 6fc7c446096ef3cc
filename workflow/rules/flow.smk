# The generator experiment (source flow): generator A -> query pairs from A -> DDM choices and
# times -> a reward per learner -> B fine-tuned from A -> metrics, summary and figures.
rule flow_generator:
    output:
        flow("generator_a.safetensors"),
    log:
        logs("flow/generator_a.log"),
    benchmark:
        benchmarks("flow/generator_a.tsv")
    # One thread: the network is small, and on a busy machine a second OpenMP thread that
    # spin-waits for its partner made each step ~10x slower.
    threads: 1
    params:
        shapes=config["flow"]["shapes"],
        generator=config["flow"]["generator"],
    script:
        "../scripts/flow_generator.py"


rule flow_queries:
    input:
        flow("generator_a.safetensors"),
    output:
        flow("seed{seed}/queries.parquet"),
    log:
        logs("flow/seed{seed}/queries.log"),
    benchmark:
        benchmarks("flow/seed{seed}/queries.tsv")
    params:
        pairs=max(config["sizes"]),
        sample_steps=config["flow"]["generator"]["sample_steps"],
    script:
        "../scripts/flow_queries.py"


rule flow_choices:
    input:
        flow("seed{seed}/queries.parquet"),
    output:
        flow("seed{seed}/choices.parquet"),
    log:
        logs("flow/seed{seed}/choices.log"),
    benchmark:
        benchmarks("flow/seed{seed}/choices.tsv")
    params:
        ddm=config["ddm"],
    script:
        "../scripts/flow_choices.py"


rule flow_pool:
    input:
        flow("generator_a.safetensors"),
    output:
        flow("seed{seed}/pool.parquet"),
    log:
        logs("flow/seed{seed}/pool.log"),
    benchmark:
        benchmarks("flow/seed{seed}/pool.tsv")
    params:
        pool=config["flow"]["pool"],
        sample_steps=config["flow"]["generator"]["sample_steps"],
    script:
        "../scripts/flow_pool.py"


rule flow_reward:
    input:
        queries=flow("seed{seed}/queries.parquet"),
        choices=flow("seed{seed}/choices.parquet"),
        pool=flow("seed{seed}/pool.parquet"),
    output:
        flow("rewards/{learner}/n{size}/seed{seed}.parquet"),
    log:
        logs("flow/rewards/{learner}/n{size}/seed{seed}.log"),
    benchmark:
        benchmarks("flow/rewards/{learner}/n{size}/seed{seed}.tsv")
    params:
        features=config["flow"]["features"],
        control_algorithm=config["flow"]["control_algorithm"],
        training=config["training"],
        barrier=config["ddm"]["barrier"],
    script:
        "../scripts/flow_reward.py"


# Fine-tuning and scoring B share one job: on 2 cores the start-up of a Python process with
# torch is a large part of a job this small, and B's checkpoint is kept for the figures anyway.
rule flow_finetune:
    input:
        generator=flow("generator_a.safetensors"),
        pool=flow("seed{seed}/pool.parquet"),
        rewards=flow("rewards/{learner}/n{size}/seed{seed}.parquet"),
        shapes_a=flow("evaluation_shapes_a.parquet"),
    output:
        generator=flow("generators/{learner}/{method}/n{size}/seed{seed}.safetensors"),
        metrics=flow("runs/{learner}/{method}/n{size}/seed{seed}/metrics.json"),
    log:
        logs("flow/finetune/{learner}/{method}/n{size}/seed{seed}.log"),
    benchmark:
        benchmarks("flow/finetune/{learner}/{method}/n{size}/seed{seed}.tsv")
    params:
        finetune=config["flow"]["finetune"],
        evaluation=config["flow"]["evaluation"],
        sample_steps=config["flow"]["generator"]["sample_steps"],
    script:
        "../scripts/flow_finetune.py"


rule flow_evaluate_base:
    input:
        flow("generator_a.safetensors"),
    output:
        metrics=flow("base_metrics.json"),
        shapes=flow("evaluation_shapes_a.parquet"),
    log:
        logs("flow/base_metrics.log"),
    benchmark:
        benchmarks("flow/base_metrics.tsv")
    params:
        evaluation=config["flow"]["evaluation"],
        sample_steps=config["flow"]["generator"]["sample_steps"],
    script:
        "../scripts/flow_evaluate_base.py"


rule flow_summary:
    input:
        base=flow("base_metrics.json"),
        runs=flow_run_metrics(),
    output:
        summary=flow("summary.parquet"),
        table=flow("table.md"),
    log:
        logs("flow/summary.log"),
    benchmark:
        benchmarks("flow/summary.tsv")
    script:
        "../scripts/flow_summary.py"


rule flow_plot_metric:
    input:
        flow("summary.parquet"),
    output:
        report(
            results("figures/flow_{flow_metric}.png"),
            caption="../report/flow_metric.rst",
            category="Generator",
            labels={"metric": "{flow_metric}"},
        ),
    log:
        logs("figures/flow_{flow_metric}.log"),
    benchmark:
        benchmarks("figures/flow_{flow_metric}.tsv")
    script:
        "../scripts/flow_plot_metric.py"


rule flow_plot_samples:
    input:
        reference=flow("generator_a.safetensors"),
        generators=flow_sample_generators(),
    output:
        report(
            results("figures/flow_samples.png"),
            caption="../report/flow_samples.rst",
            category="Generator",
        ),
    log:
        logs("figures/flow_samples.log"),
    benchmark:
        benchmarks("figures/flow_samples.tsv")
    params:
        labels=flow_sample_labels(),
        rows=config["flow"]["evaluation"]["figure_samples"],
        seed=config["flow"]["evaluation"]["seed"],
        sample_steps=config["flow"]["generator"]["sample_steps"],
    script:
        "../scripts/flow_plot_samples.py"
