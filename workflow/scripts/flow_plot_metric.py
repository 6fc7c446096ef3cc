import polars as pl

from rtpref.flow.report import plot_metric
from rtpref.jobs import run_job


def main(snakemake):
    summary = pl.read_parquet(snakemake.input[0])
    plot_metric(summary, snakemake.wildcards.flow_metric, snakemake.output[0])


run_job(snakemake, main)
