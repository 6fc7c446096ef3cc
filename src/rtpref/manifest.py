"""Chunk-directory manifests: which chunk files a finished directory holds, and their checks.

The chunk writer ends a directory with ``manifest.json``: every chunk file's name, row count,
size in bytes and the SHA-256 of its Parquet footer (the file's last bytes, so writing and
checking never re-read the features). A directory without a valid manifest is incomplete, and a
missing, extra, truncated or rewritten chunk file is refused by name before any row is read.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from rtpref.data import DataError, open_parquet
from rtpref.io import write_json

CHUNK_GLOB = "chunk-*.parquet"
MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
# A Parquet file ends with the footer's length (4 bytes, little-endian) and the magic b"PAR1".
_PARQUET_TAIL = 8


def chunk_files(directory: str | Path) -> list[Path]:
    files = sorted(Path(directory).glob(CHUNK_GLOB))
    if not files:
        raise DataError(f"{directory}: no {CHUNK_GLOB} files")
    return files


def footer_digest(path: Path) -> str:
    """SHA-256 of the Parquet footer of ``path`` (the file's last bytes only)."""
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            if size < _PARQUET_TAIL:
                raise DataError(f"{path}: not a readable Parquet file ({size} bytes)")
            handle.seek(size - _PARQUET_TAIL)
            tail = handle.read(_PARQUET_TAIL)
            footer_length = int.from_bytes(tail[:4], "little")
            if tail[4:] != b"PAR1" or footer_length > size - _PARQUET_TAIL:
                raise DataError(f"{path}: not a readable Parquet file (no Parquet footer)")
            handle.seek(size - _PARQUET_TAIL - footer_length)
            return hashlib.sha256(handle.read(footer_length + _PARQUET_TAIL)).hexdigest()
    except OSError as error:
        raise DataError(f"{path}: unreadable ({error})") from error


def _file_record(path: Path) -> dict[str, int | str]:
    return {
        "name": path.name,
        "rows": open_parquet(path).metadata.num_rows,
        "bytes": path.stat().st_size,
        "footer_sha256": footer_digest(path),
    }


def write_manifest(directory: str | Path) -> None:
    """Record the chunk files of ``directory`` in its manifest; call once they are all written.

    The files are flushed to disk first, so that after a crash the manifest never vouches for
    data still in the page cache; the manifest itself is written atomically.
    """
    files = chunk_files(directory)
    for path in files:
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())
    records = [_file_record(path) for path in files]
    write_json(
        Path(directory) / MANIFEST_NAME,
        {
            "format": MANIFEST_FORMAT,
            "rows": sum(int(record["rows"]) for record in records),
            "files": records,
        },
    )


def _incomplete(directory: Path, problem: str) -> DataError:
    """``problem`` (it starts with the file at fault) and what to do about the directory."""
    return DataError(
        f"{problem}; the chunk directory {directory} is incomplete or was changed after it "
        f"was written: delete it or rerun the chunks rule (`snakemake --forcerun chunks` with "
        "the run's other arguments) to write it again"
    )


def _read_manifest(directory: Path) -> list[dict]:
    path = directory / MANIFEST_NAME
    if not path.is_file():
        raise _incomplete(
            directory,
            f"{path}: missing (the chunks job did not finish, or an rtpref without chunk "
            "manifests wrote the directory)",
        )
    try:
        manifest = json.loads(path.read_text())
        records = manifest["files"]
        if manifest["format"] != MANIFEST_FORMAT or not all(
            isinstance(record, dict) and {"name", "rows", "bytes", "footer_sha256"} <= set(record)
            for record in records
        ):
            raise ValueError(f"not a format {MANIFEST_FORMAT} manifest")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise _incomplete(directory, f"{path}: unreadable ({error})") from error
    return records


def verify_manifest(directory: str | Path) -> list[Path]:
    """The chunk files of ``directory`` after checking them against its manifest.

    Names, sizes and footers must match the manifest exactly: a missing, extra, truncated or
    rewritten chunk file raises DataError naming the file.
    """
    directory = Path(directory)
    records = _read_manifest(directory)
    manifest = directory / MANIFEST_NAME
    present = {path.name for path in directory.glob(CHUNK_GLOB)}
    listed = [str(record["name"]) for record in records]
    missing = [name for name in listed if name not in present]
    if missing:
        raise _incomplete(directory, f"{directory / missing[0]}: missing (listed in {manifest})")
    extra = sorted(present - set(listed))
    if extra:
        raise _incomplete(directory, f"{directory / extra[0]}: not listed in {manifest}")
    for record in records:
        path = directory / str(record["name"])
        size = path.stat().st_size
        if size != record["bytes"]:
            raise _incomplete(
                directory,
                f"{path}: {size} bytes but {manifest} records {record['bytes']} "
                "(truncated or replaced)",
            )
        if footer_digest(path) != record["footer_sha256"]:
            raise _incomplete(
                directory,
                f"{path}: its Parquet footer differs from the one {manifest} records "
                "(the file was rewritten)",
            )
    return sorted(directory / name for name in listed)
