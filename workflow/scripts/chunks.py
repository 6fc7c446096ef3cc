from rtpref.jobs import run_job
from rtpref.split import write_split_chunks


def main(snakemake):
    write_split_chunks(
        labels_path=snakemake.input.labels,
        feature_paths=list(snakemake.input.features),
        train_dir=snakemake.output.train,
        test_dir=snakemake.output.test,
        test_size=snakemake.params.test_size,
        split_seed=snakemake.params.chunks["split_seed"],
        rows_per_chunk=snakemake.params.chunks["rows_per_chunk"],
        user_split=snakemake.params.get("user_split"),
    )


run_job(snakemake, main)
