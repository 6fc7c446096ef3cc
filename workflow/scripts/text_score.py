from rtpref.devices import gpu_lease
from rtpref.io import write_parquet
from rtpref.jobs import run_job
from rtpref.text_models import RewardModel, SentenceEncoder, StandInReward, score_text_shard


def main(snakemake):
    reward, encoder = snakemake.params.reward, snakemake.params.encoder
    with gpu_lease() as device:
        if reward["kind"] == "standin":
            model = SentenceEncoder.load(encoder["model"], encoder["max_tokens"]).to(device)
            rewards = StandInReward(model, reward["scale"]).score_shard(
                snakemake.input.raw, snakemake.input.features, encoder["batch_texts"]
            )
        else:
            model = RewardModel.load(reward["model"], reward["scale"], reward["max_tokens"])
            rewards = score_text_shard(snakemake.input.raw, model.to(device), reward["batch_pairs"])
    write_parquet(snakemake.output[0], rewards)


run_job(snakemake, main)
