from rtpref.jobs import run_job
from rtpref.models import DemoModelConfig, save_demo_clip


def main(snakemake):
    save_demo_clip(
        DemoModelConfig(**snakemake.params.model),
        config_path=snakemake.output.model_config,
        weights_path=snakemake.output.model_weights,
    )


run_job(snakemake, main)
