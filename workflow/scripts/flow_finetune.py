from rtpref.flow.generator import load_generator, save_generator
from rtpref.flow.pipeline import evaluate_generator, finetune_generator
from rtpref.flow.store import read_table, shapes_of
from rtpref.io import write_json
from rtpref.jobs import run_job


def main(snakemake):
    inputs, params, wildcards = snakemake.input, snakemake.params, snakemake.wildcards
    pool = shapes_of(read_table(inputs.pool, ["shape"]), "shape", inputs.pool)
    scores = read_table(inputs.rewards, ["learned_reward"]).column("learned_reward")
    model = finetune_generator(
        load_generator(inputs.generator),
        pool,
        scores.to_numpy(),
        wildcards.method,
        int(wildcards.seed),
        params.finetune,
    )
    shapes_a = shapes_of(read_table(inputs.shapes_a, ["shape"]), "shape", inputs.shapes_a)
    metrics = evaluate_generator(model, shapes_a, params.evaluation, params.sample_steps)
    metrics |= {
        "learner": wildcards.learner,
        "method": wildcards.method,
        "n": int(wildcards.size),
        "seed": int(wildcards.seed),
    }
    save_generator(model, snakemake.output.generator)
    write_json(snakemake.output.metrics, metrics)


run_job(snakemake, main)
