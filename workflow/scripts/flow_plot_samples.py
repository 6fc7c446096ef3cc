from rtpref.flow.generator import load_generator
from rtpref.flow.pipeline import sample_generator
from rtpref.flow.report import plot_samples
from rtpref.jobs import run_job


def main(snakemake):
    params = snakemake.params
    paths = [snakemake.input.reference, *snakemake.input.generators]
    labels = ["A", *(f"B {label}" for label in params.labels)]
    models = [load_generator(path) for path in paths]
    rows = [
        (label, sample_generator(model, params.rows, params.seed, params.sample_steps))
        for label, model in zip(labels, models, strict=True)
    ]
    plot_samples(rows, snakemake.output[0], models[0].dim // 2)


run_job(snakemake, main)
