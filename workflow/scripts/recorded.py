from rtpref.io import write_parquet
from rtpref.jobs import run_job
from rtpref.sources.recorded import read_recorded


def main(snakemake):
    labels, features = read_recorded(
        list(snakemake.input.pairs), snakemake.input.get("item_features")
    )
    write_parquet(snakemake.output.labels, labels)
    write_parquet(snakemake.output.features, features)


run_job(snakemake, main)
