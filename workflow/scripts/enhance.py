from rtpref.enhance import read_rewards, simulate_labels
from rtpref.io import write_parquet
from rtpref.jobs import run_job
from rtpref.users import attach_user_ids


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
        non_decision_time=ddm["non_decision_time"],
    )
    write_parquet(snakemake.output[0], labels)


run_job(snakemake, main)
