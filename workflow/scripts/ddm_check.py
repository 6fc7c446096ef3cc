from rtpref.jobs import run_job
from rtpref.plots import plot_ddm_check


def main(snakemake):
    plot_ddm_check(
        snakemake.output[0],
        barrier=snakemake.params.barrier,
        seed=snakemake.params.seed,
        rows_per_drift=snakemake.params.rows,
    )


run_job(snakemake, main)
