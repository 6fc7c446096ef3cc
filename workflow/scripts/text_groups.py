from rtpref.io import write_parquet
from rtpref.jobs import run_job
from rtpref.sources.text import group_table


def main(snakemake):
    write_parquet(snakemake.output[0], group_table(list(snakemake.input)))


run_job(snakemake, main)
