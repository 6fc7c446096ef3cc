from rtpref.jobs import run_job
from rtpref.sources import demo, pickapic


def main(snakemake):
    # params hold the settings that change the data; the config adds throughput knobs.
    settings = snakemake.params.settings
    if snakemake.params.source == "demo":
        demo.write_demo_shards(demo.DemoConfig(**settings), list(snakemake.output))
    else:
        throughput = {
            key: snakemake.config["pickapic"][key]
            for key in ("batch_rows", "check_workers", "row_group_rows")
        }
        # Not params: a change of sizes must not restart the stream, only be checked by it.
        config = snakemake.config
        pickapic.write_raw(
            pickapic.PickapicConfig(**settings, **throughput),
            snakemake.wildcards.split,
            list(snakemake.output),
            needed_rows=config["test_size"] + max(config["sizes"]),
        )


run_job(snakemake, main)
