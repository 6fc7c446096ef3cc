from rtpref.io import write_parquet
from rtpref.jobs import run_job
from rtpref.summary import collect


def main(snakemake):
    write_parquet(snakemake.output[0], collect(snakemake.input).to_arrow())


run_job(snakemake, main)
