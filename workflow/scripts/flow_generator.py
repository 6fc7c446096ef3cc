from rtpref.flow.generator import save_generator
from rtpref.flow.pipeline import train_base_generator
from rtpref.jobs import run_job


def main(snakemake):
    model = train_base_generator(snakemake.params.shapes, snakemake.params.generator)
    save_generator(model, snakemake.output[0])


run_job(snakemake, main)
