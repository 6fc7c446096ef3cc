import polars as pl

from rtpref.jobs import run_job
from rtpref.plots import plot_metric


def main(snakemake):
    plot_metric(
        pl.read_parquet(snakemake.input[0]), snakemake.wildcards.metric, snakemake.output[0]
    )


run_job(snakemake, main)
