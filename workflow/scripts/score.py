from rtpref.embedding import BatchSettings, run_model_job
from rtpref.io import write_parquet
from rtpref.jobs import run_job
from rtpref.scoring import score_shard


def main(snakemake):
    settings = BatchSettings.from_config(
        snakemake.config["embedding"], snakemake.params.batch_pairs
    )
    rewards = run_model_job(snakemake.input, snakemake.params.model, settings, score_shard)
    write_parquet(snakemake.output[0], rewards)


run_job(snakemake, main)
