from rtpref.devices import gpu_lease
from rtpref.io import write_json
from rtpref.jobs import run_job
from rtpref.run import run_training


def main(snakemake):
    wildcards = snakemake.wildcards
    # One run per output: every size of the config (sizes_per_train_job: all), or one size.
    sizes = snakemake.params.get("sizes") or [int(wildcards.size)]
    with gpu_lease() as device:
        for size, output in zip(sizes, snakemake.output, strict=True):
            metrics = run_training(
                train_dir=snakemake.input.train,
                test_dir=snakemake.input.test,
                algorithm=wildcards.algorithm,
                size=int(size),
                seed=int(wildcards.seed),
                training=snakemake.params.training,
                barrier=snakemake.params.barrier,
                device=device,
                label=f"{wildcards.algorithm}/n{size}/seed{wildcards.seed}",
                data_per_seed=snakemake.params.data_per_seed,
            )
            write_json(output, metrics)


run_job(snakemake, main)
