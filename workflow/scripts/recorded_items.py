from rtpref.devices import gpu_lease
from rtpref.io import write_parquet
from rtpref.jobs import run_job
from rtpref.models import load_model
from rtpref.sources.recorded import embed_items


def main(snakemake):
    with gpu_lease() as device:
        model = load_model(snakemake.params.model).to(device)
        table = embed_items(snakemake.input.item_table, model, snakemake.params.batch_pairs)
    write_parquet(snakemake.output[0], table)


run_job(snakemake, main)
