from rtpref.flow.evaluation import evaluate
from rtpref.flow.generator import load_generator
from rtpref.flow.pipeline import evaluation_shapes
from rtpref.flow.store import write_shapes
from rtpref.io import write_json
from rtpref.jobs import run_job


def main(snakemake):
    params = snakemake.params
    shapes_a = evaluation_shapes(
        load_generator(snakemake.input[0]), params.evaluation, params.sample_steps
    )
    write_shapes(snakemake.output.shapes, {"shape": shapes_a})
    write_json(snakemake.output.metrics, evaluate(shapes_a, shapes_a))


run_job(snakemake, main)
