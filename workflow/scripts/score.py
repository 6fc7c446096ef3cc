from rtpref.devices import gpu_lease
from rtpref.embedding import BatchSettings
from rtpref.io import write_parquet
from rtpref.jobs import run_job
from rtpref.models import load_model
from rtpref.scoring import score_shard


def main(snakemake):
    files = {key: snakemake.input.get(key) for key in ("model_config", "model_weights")}
    with gpu_lease() as device:
        model = load_model(snakemake.params.model, **files).to(device)
        rewards = score_shard(
            snakemake.input.raw,
            model,
            BatchSettings.from_config(snakemake.config["embedding"], snakemake.params.batch_pairs),
        )
    write_parquet(snakemake.output[0], rewards)


run_job(snakemake, main)
