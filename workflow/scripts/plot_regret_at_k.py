import polars as pl

from rtpref.jobs import run_job
from rtpref.plots import plot_regret_at_k


def main(snakemake):
    plot_regret_at_k(pl.read_parquet(snakemake.input[0]), snakemake.output[0])


run_job(snakemake, main)
