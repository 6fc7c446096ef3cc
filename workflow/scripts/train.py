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
    with gpu_lease() as device:
        metrics = run_training(
            train_dir=snakemake.input.train,
            test_dir=snakemake.input.test,
            algorithm=wildcards.algorithm,
            size=int(wildcards.size),
            seed=int(wildcards.seed),
            training=snakemake.params.training,
            barrier=barrier,
            device=device,
            label=f"{wildcards.algorithm}/n{wildcards.size}/seed{wildcards.seed}",
            model_dir=snakemake.output.model,
            non_decision_time=non_decision_time,
            provenance=provenance,
            best_of=tuple(snakemake.params.evaluation["best_of"]),
            group_seed=snakemake.params.evaluation["seed"],
            calibration=calibration,
            prompts_file=snakemake.input.get("prompts"),
        )
    write_json(snakemake.output.metrics, metrics)


run_job(snakemake, main)
