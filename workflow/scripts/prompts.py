from rtpref.evaluation import write_prompts
from rtpref.jobs import run_job


def main(snakemake):
    write_prompts(list(snakemake.input), snakemake.output[0])


run_job(snakemake, main)
