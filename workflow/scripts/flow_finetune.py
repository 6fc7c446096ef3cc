from rtpref.flow.generator import load_generator, save_generator
from rtpref.flow.pipeline import finetune_generator
from rtpref.flow.store import read_table, shapes_of
from rtpref.jobs import run_job


def main(snakemake):
    inputs, wildcards = snakemake.input, snakemake.wildcards
    pool = shapes_of(read_table(inputs.pool, ["shape"]), "shape", inputs.pool)
    scores = read_table(inputs.rewards, ["learned_reward"]).column("learned_reward")
    model = finetune_generator(
        load_generator(inputs.generator),
        pool,
        scores.to_numpy(),
        wildcards.method,
        int(wildcards.seed),
        snakemake.params.finetune,
    )
    save_generator(model, snakemake.output[0])


run_job(snakemake, main)
