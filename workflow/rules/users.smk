# The personalization experiment (config `users`): one job per seed fits every learner
# globally and personalized in that seed's world of simulated users; then a table and figures.


rule personalized_world:
    output:
        results("personalized/seed{seed}.json"),
    log:
        logs("personalized/seed{seed}.log"),
    benchmark:
        benchmarks("personalized/seed{seed}.tsv")
    threads: config["threads"]["train"]
    params:
        synthetic=config["synthetic"],
        users=config["users"],
        barrier=config["ddm"]["barrier"],
        non_decision_time=config["ddm"]["non_decision_time"],
        training=config["training"],
    script:
        "../scripts/personalized_world.py"


rule personalized_summary:
    input:
        expand(results("personalized/seed{seed}.json"), seed=config["seeds"]),
    output:
        summary=results("personalized/summary.json"),
        table=results("personalized/summary.md"),
        mse=report(
            results("figures/personalized_mse.png"),
            caption="../report/personalized_mse.rst",
            category="Personalization",
        ),
        barriers=report(
            results("figures/barrier_estimates.png"),
            caption="../report/barrier_estimates.rst",
            category="Personalization",
        ),
    log:
        logs("personalized/summary.log"),
    benchmark:
        benchmarks("personalized/summary.tsv")
    script:
        "../scripts/personalized_summary.py"
