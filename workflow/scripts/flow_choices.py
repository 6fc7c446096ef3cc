from rtpref.flow.pipeline import simulate_choices
from rtpref.flow.store import read_table
from rtpref.io import write_parquet
from rtpref.jobs import run_job


def main(snakemake):
    source = snakemake.input[0]
    queries = read_table(source, ["pair_index", "reward_1", "reward_2"])
    labels = simulate_choices(queries, snakemake.params.ddm, int(snakemake.wildcards.seed), source)
    write_parquet(snakemake.output[0], labels)


run_job(snakemake, main)
