from rtpref.jobs import run_job
from rtpref.sources import demo, pickapic


def main(snakemake):
    settings = snakemake.params.settings
    if snakemake.params.source == "demo":
        demo.write_demo_shards(demo.DemoConfig(**settings), list(snakemake.output))
    else:
        pickapic.write_raw(
            pickapic.PickapicConfig(**settings), snakemake.wildcards.split, list(snakemake.output)
        )


run_job(snakemake, main)
