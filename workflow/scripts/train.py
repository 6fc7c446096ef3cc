"""Train one run (or, with sizes_per_train_job: all, every size of an algorithm and seed)."""

from rtpref.calibration import resolve_ddm
from rtpref.devices import gpu_lease
from rtpref.io import write_json
from rtpref.jobs import run_job
from rtpref.provenance import embedder_provenance
from rtpref.run import run_training


def main(snakemake):
    wildcards = snakemake.wildcards
    barrier, non_decision_time, calibration = resolve_ddm(
        snakemake.params.ddm, snakemake.input.get("calibration")
    )
    provenance = {
        "source": snakemake.params.source,
        "embedder": embedder_provenance(
            snakemake.params.embedder,
            snakemake.input.get("model_config"),
            snakemake.input.get("model_weights"),
        ),
    }
    # One run per output: every size of the config (sizes_per_train_job: all), or one size.
    sizes = snakemake.params.get("sizes") or [int(wildcards.size)]
    metrics_files = snakemake.output.metrics
    model_dirs = snakemake.output.model
    if isinstance(metrics_files, str):
        metrics_files, model_dirs = [metrics_files], [model_dirs]
    with gpu_lease() as device:
        for size, metrics_file, model_dir in zip(sizes, metrics_files, model_dirs, strict=True):
            metrics = run_training(
                train_dir=snakemake.input.train,
                test_dir=snakemake.input.test,
                algorithm=wildcards.algorithm,
                size=int(size),
                seed=int(wildcards.seed),
                training=snakemake.params.training,
                barrier=barrier,
                device=device,
                label=f"{wildcards.algorithm}/n{size}/seed{wildcards.seed}",
                data_per_seed=snakemake.params.data_per_seed,
                model_dir=model_dir,
                non_decision_time=non_decision_time,
                provenance=provenance,
                best_of=tuple(snakemake.params.evaluation["best_of"]),
                group_seed=snakemake.params.evaluation["seed"],
                calibration=calibration,
                prompts_file=snakemake.input.get("prompts"),
            )
            write_json(metrics_file, metrics)


run_job(snakemake, main)
