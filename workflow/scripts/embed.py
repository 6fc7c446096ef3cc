from rtpref.embedding import BatchSettings, features_table, run_model_job
from rtpref.io import write_parquet
from rtpref.jobs import run_job


def main(snakemake):
    settings = BatchSettings.from_config(
        snakemake.config["embedding"], snakemake.params.batch_pairs
    )
    encoded = run_model_job(snakemake.input, snakemake.params.model, settings)
    write_parquet(snakemake.output[0], features_table(encoded))


run_job(snakemake, main)
