from rtpref.flow.generator import load_generator
from rtpref.flow.pipeline import query_pairs
from rtpref.flow.store import write_shapes
from rtpref.jobs import run_job


def main(snakemake):
    queries = query_pairs(
        load_generator(snakemake.input[0]),
        snakemake.params.pairs,
        int(snakemake.wildcards.seed),
        snakemake.params.sample_steps,
    )
    write_shapes(snakemake.output[0], queries)


run_job(snakemake, main)
