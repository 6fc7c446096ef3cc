from rtpref.jobs import run_job
from rtpref.sources import text, text_demo


def main(snakemake):
    settings = dict(snakemake.params.text)
    demo = settings.pop("demo")
    if settings["dataset"] == text_demo.DEMO_DATASET:
        table = text_demo.make_pairs(text_demo.TextDemoConfig(**demo))
        text.write_text_shards(table, list(snakemake.output))
    else:
        columns = settings.pop("columns")
        text.write_raw(
            text.TextConfig(
                **settings,
                split=snakemake.wildcards.split,
                prompt_column=columns["prompt"],
                chosen_column=columns["chosen"],
                rejected_column=columns["rejected"],
            ),
            list(snakemake.output),
        )


run_job(snakemake, main)
