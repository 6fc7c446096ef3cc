from rtpref.enhance import read_rewards, simulate_labels
from rtpref.io import write_parquet
from rtpref.jobs import run_job
from rtpref.users import UsersConfig, attach_user_ids


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
        users=UsersConfig.from_config(snakemake.params.users)
        if snakemake.params.users
        else None,
        feature_paths=list(snakemake.input.get("features") or []),
    )
    write_parquet(snakemake.output[0], labels)


run_job(snakemake, main)
