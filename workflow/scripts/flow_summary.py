from rtpref.flow.report import collect, table_markdown
from rtpref.io import atomic_path, write_parquet
from rtpref.jobs import run_job


def main(snakemake):
    summary = collect(snakemake.input.runs, snakemake.input.base)
    write_parquet(snakemake.output.summary, summary.to_arrow())
    with atomic_path(snakemake.output.table) as temporary:
        temporary.write_text(table_markdown(summary))


run_job(snakemake, main)
