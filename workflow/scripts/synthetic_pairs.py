from rtpref.io import write_parquet
from rtpref.jobs import run_job
from rtpref.sources.synthetic import SyntheticConfig, make_pairs


def main(snakemake):
    settings = dict(snakemake.params.synthetic)
    settings["hidden"] = tuple(settings["hidden"])
    features, rewards = make_pairs(SyntheticConfig(**settings))
    write_parquet(snakemake.output.features, features)
    write_parquet(snakemake.output.rewards, rewards)


run_job(snakemake, main)
