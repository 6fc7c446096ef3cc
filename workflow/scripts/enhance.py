import pyarrow as pa
import pyarrow.parquet as pq

from rtpref.chunks import DataError
from rtpref.enhance import simulate_labels
from rtpref.io import write_parquet
from rtpref.jobs import run_job
from rtpref.users import attach_user_ids


def read_rewards(paths):
    tables = []
    for path in paths:
        try:
            tables.append(pq.read_table(path))
        except (pa.ArrowInvalid, OSError) as error:
            raise DataError(f"{path}: not a readable Parquet file ({error})") from error
    return pa.concat_tables(tables, promote_options="default")


def main(snakemake):
    ddm = snakemake.params.ddm
    rewards = read_rewards(snakemake.input.rewards)
    if snakemake.input.get("users"):
        rewards = attach_user_ids(rewards, snakemake.input.users)
    labels = simulate_labels(
        rewards,
        barrier=ddm["barrier"],
        seed=ddm["seed"],
        reward_diff_std=ddm["reward_diff_std"],
        reward_scale=ddm["reward_scale"],
        source=", ".join(snakemake.input.rewards),
    )
    write_parquet(snakemake.output[0], labels)


run_job(snakemake, main)
