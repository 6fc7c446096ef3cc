from rtpref.flow.pipeline import learned_pool_rewards
from rtpref.flow.store import read_table, shapes_of
from rtpref.io import write_parquet
from rtpref.jobs import run_job


def main(snakemake):
    import pyarrow as pa

    inputs, wildcards = snakemake.input, snakemake.wildcards
    pool = shapes_of(read_table(inputs.pool, ["shape"]), "shape", inputs.pool)
    scores = learned_pool_rewards(
        wildcards.learner,
        int(wildcards.size),
        int(wildcards.seed),
        read_table(inputs.queries, ["shape_1", "shape_2"]),
        read_table(inputs.choices, ["pair_index", "choice", "response_time"]),
        pool,
        {
            "features": snakemake.params.features,
            "control_algorithm": snakemake.params.control_algorithm,
            "training": snakemake.params.training,
            "barrier": snakemake.params.barrier,
        },
        inputs.queries,
    )
    write_parquet(snakemake.output[0], pa.table({"learned_reward": scores}))


run_job(snakemake, main)
