from rtpref.devices import gpu_lease
from rtpref.io import write_parquet
from rtpref.jobs import run_job
from rtpref.text_models import SentenceEncoder, embed_text_shard


def main(snakemake):
    encoder = snakemake.params.encoder
    with gpu_lease() as device:
        model = SentenceEncoder.load(encoder["model"], encoder["max_tokens"]).to(device)
        features = embed_text_shard(snakemake.input.raw, model, encoder["batch_texts"])
    write_parquet(snakemake.output[0], features)


run_job(snakemake, main)
