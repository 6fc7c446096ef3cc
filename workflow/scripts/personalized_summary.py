import json
from pathlib import Path

from rtpref.io import atomic_path, write_json
from rtpref.jobs import run_job
from rtpref.personalization_report import (
    markdown_table,
    plot_barrier_estimates,
    plot_mse_vs_user_pairs,
    summarize,
)


def main(snakemake):
    records = [record for path in snakemake.input for record in json.loads(Path(path).read_text())]
    summary = summarize(records)
    write_json(snakemake.output.summary, summary)
    with atomic_path(snakemake.output.table) as temporary:
        temporary.write_text(markdown_table(summary))
    plot_mse_vs_user_pairs(records, snakemake.output.mse)
    plot_barrier_estimates(records, snakemake.output.barriers)


run_job(snakemake, main)
