from rtpref.io import write_json
from rtpref.jobs import run_job
from rtpref.personalization import run_experiment_seed


def main(snakemake):
    records = run_experiment_seed(
        synthetic=snakemake.params.synthetic,
        users=snakemake.params.users,
        barrier=snakemake.params.barrier,
        non_decision_time=snakemake.params.non_decision_time,
        training=snakemake.params.training,
        run_seed=int(snakemake.wildcards.seed),
    )
    write_json(snakemake.output[0], records)


run_job(snakemake, main)
