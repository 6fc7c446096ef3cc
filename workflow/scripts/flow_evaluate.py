from rtpref.flow.generator import load_generator
from rtpref.flow.pipeline import evaluate_generator
from rtpref.flow.store import read_table, shapes_of
from rtpref.io import write_json
from rtpref.jobs import run_job


def main(snakemake):
    inputs, wildcards = snakemake.input, snakemake.wildcards
    shapes_a = shapes_of(read_table(inputs.shapes_a, ["shape"]), "shape", inputs.shapes_a)
    metrics = evaluate_generator(
        load_generator(inputs.generator),
        shapes_a,
        snakemake.params.evaluation,
        snakemake.params.sample_steps,
    )
    metrics |= {
        "learner": wildcards.learner,
        "method": wildcards.method,
        "n": int(wildcards.size),
        "seed": int(wildcards.seed),
    }
    write_json(snakemake.output[0], metrics)


run_job(snakemake, main)
