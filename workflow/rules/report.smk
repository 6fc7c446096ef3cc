rule plot_metric:
    input:
        results("summary.parquet"),
    output:
        report(
            results("figures/{metric}.png"),
            caption="../report/metric.rst",
            category="Scaling",
            labels={"metric": "{metric}"},
        ),
    log:
        logs("figures/{metric}.log"),
    benchmark:
        benchmarks("figures/{metric}.tsv")
    script:
        "../scripts/plot_metric.py"


rule nuisance_error:
    input:
        results("summary.parquet"),
    output:
        report(
            results("figures/nuisance_error.png"),
            caption="../report/nuisance_error.rst",
            category="Diagnostics",
        ),
    log:
        logs("figures/nuisance_error.log"),
    benchmark:
        benchmarks("figures/nuisance_error.tsv")
    script:
        "../scripts/plot_nuisance_error.py"


rule ddm_check:
    output:
        report(
            results("figures/ddm_check.png"),
            caption="../report/ddm_check.rst",
            category="Diagnostics",
        ),
    log:
        logs("figures/ddm_check.log"),
    benchmark:
        benchmarks("figures/ddm_check.tsv")
    params:
        barrier=config["ddm"]["barrier"],
        seed=config["ddm"]["seed"],
        rows=config["figures"]["ddm_check_rows"],
    script:
        "../scripts/ddm_check.py"


rule plot_regret_at_k:
    input:
        results("summary.parquet"),
    output:
        report(
            results("figures/regret_at_k.png"),
            caption="../report/regret_at_k.rst",
            category="Scaling",
        ),
    log:
        logs("figures/regret_at_k.log"),
    benchmark:
        benchmarks("figures/regret_at_k.tsv")
    script:
        "../scripts/plot_regret_at_k.py"
