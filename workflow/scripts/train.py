from rtpref.devices import gpu_lease
from rtpref.io import write_json
from rtpref.jobs import run_job
from rtpref.run import run_training


def main(snakemake):
    wildcards = snakemake.wildcards
    with gpu_lease() as device:
        metrics = run_training(
            train_dir=snakemake.input.train,
            test_dir=snakemake.input.test,
            algorithm=wildcards.algorithm,
            size=int(wildcards.size),
            seed=int(wildcards.seed),
            training=snakemake.params.training,
            barrier=snakemake.params.barrier,
            device=device,
            data_per_seed=snakemake.params.data_per_seed,
            label=f"{wildcards.algorithm}/n{wildcards.size}/seed{wildcards.seed}",
        )
    write_json(snakemake.output[0], metrics)


run_job(snakemake, main)
