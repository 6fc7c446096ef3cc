from rtpref.flow.generator import load_generator
from rtpref.flow.pipeline import pool_shapes
from rtpref.flow.store import write_shapes
from rtpref.jobs import run_job


def main(snakemake):
    pool = pool_shapes(
        load_generator(snakemake.input[0]),
        snakemake.params.pool,
        int(snakemake.wildcards.seed),
        snakemake.params.sample_steps,
    )
    write_shapes(snakemake.output[0], {"shape": pool})


run_job(snakemake, main)
