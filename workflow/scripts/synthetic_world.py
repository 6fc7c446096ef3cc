import tempfile
from pathlib import Path

from rtpref.enhance import simulate_labels
from rtpref.io import write_parquet
from rtpref.jobs import run_job
from rtpref.sources.synthetic import make_pairs, world_config, world_seed
from rtpref.split import write_split_chunks


def main(snakemake):
    seed = int(snakemake.wildcards.seed)
    ddm = snakemake.params.ddm
    features, rewards = make_pairs(world_config(snakemake.params.synthetic, seed))
    labels = simulate_labels(
        rewards,
        barrier=ddm["barrier"],
        seed=world_seed(ddm["seed"], seed, "ddm"),
        reward_diff_std=ddm["reward_diff_std"],
        reward_scale=ddm["reward_scale"],
        non_decision_time=ddm["non_decision_time"],
        source=f"synthetic world of seed {seed}",
    )
    # The intermediate tables live only for this job; the chunks are its outputs.
    with tempfile.TemporaryDirectory(dir=Path(snakemake.output.train).parent) as scratch:
        write_parquet(f"{scratch}/labels.parquet", labels)
        write_parquet(f"{scratch}/features.parquet", features)
        write_split_chunks(
            labels_path=f"{scratch}/labels.parquet",
            feature_paths=[f"{scratch}/features.parquet"],
            train_dir=snakemake.output.train,
            test_dir=snakemake.output.test,
            test_size=snakemake.params.test_size,
            split_seed=world_seed(snakemake.params.chunks["split_seed"], seed, "split"),
            rows_per_chunk=snakemake.params.chunks["rows_per_chunk"],
        )


run_job(snakemake, main)
