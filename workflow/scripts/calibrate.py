from rtpref.calibration import CalibrationSettings, calibrate
from rtpref.chunks import load_pairs
from rtpref.io import write_json
from rtpref.jobs import run_job


def main(snakemake):
    pairs = load_pairs(snakemake.input.train)
    result = calibrate(
        pairs.x1,
        pairs.x2,
        pairs.choice,
        pairs.response_time,
        CalibrationSettings.from_mapping(snakemake.params.calibration),
    )
    write_json(snakemake.output[0], result.as_dict())


run_job(snakemake, main)
