"""Pick-a-Pic inputs checked before any job runs: the local files of a split, model paths.

Torch-free and cheap (Parquet footers only), so the workflow calls :func:`check_inputs` while it
parses, instead of failing after a download and a whole embedding shard.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rtpref.data import DataError, open_parquet, require_columns
from rtpref.hub import require_checkpoint_file, require_local_dir, require_local_path
from rtpref.sources.raw import RAW_SCHEMA

PICKAPIC_COLUMNS = tuple(name for name in RAW_SCHEMA.names if name != "pair_index")


def local_parquet_files(local_path: str | Path, split: str) -> list[Path]:
    """Parquet files of ``split`` under ``local_path`` (a file or a directory), sorted.

    A directory laid out like the hub repo (``data/{split}-00000-of-00645-*.parquet``) may
    hold several splits; then only files named ``{split}-*`` are used.
    """
    path = Path(local_path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"pickapic.local_path {path} does not exist")
    files = sorted(path.rglob("*.parquet"))
    of_split = [file for file in files if file.name.startswith(f"{split}-")]
    if not of_split:
        # Reading them all would mix the dataset's splits into one.
        found = [str(file.relative_to(path)) for file in files[:10]]
        more = f" and {len(files) - 10} more" if len(files) > 10 else ""
        raise DataError(
            f"pickapic.local_path {path}: no Parquet file of split {split!r} (named "
            f"{split}-*.parquet); found {found or 'no *.parquet files'}{more}. Set `split` to "
            "the split those files hold, or pickapic.local_path to one Parquet file"
        )
    return of_split


def check_local_schema(files: Sequence[Path]) -> list[int]:
    """Row counts of ``files``, each checked for the Pick-a-Pic columns (footers only)."""
    rows = []
    for file in files:
        parquet = open_parquet(file)
        require_columns(file, parquet.schema_arrow.names, PICKAPIC_COLUMNS, "Pick-a-Pic ")
        rows.append(parquet.metadata.num_rows)
    return rows


def check_inputs(
    settings: Mapping[str, Any], split: str, sizes: Sequence[int], test_size: int
) -> None:
    """Refuse, before any job runs, a Pick-a-Pic config whose local inputs cannot work.

    ``settings`` is the config's ``pickapic`` block. Local model paths must exist, and a local
    dataset must hold the split with at least ``test_size + max(sizes)`` rows (and
    ``sample_size``), counted from the Parquet footers: an upper bound on the usable pairs,
    since ties and undecodable rows are dropped while streaming.
    """
    scorer, embedder = settings.get("scorer", {}), settings.get("embedder", {})
    for key in ("model", "processor"):
        if scorer.get(key):
            require_local_path(scorer[key], f"pickapic.scorer.{key}")
    model, pretrained = embedder.get("model", ""), embedder.get("pretrained")
    if model.startswith("local-dir:"):
        require_local_dir(model)
    elif pretrained and not model.startswith("hf-hub:"):
        require_checkpoint_file(pretrained, "pickapic.embedder.pretrained")
    if not settings.get("local_path"):
        return
    files = local_parquet_files(settings["local_path"], split)
    rows = sum(check_local_schema(files))
    sample_size = settings.get("sample_size")
    needed = {"sample_size": sample_size} if sample_size else {}
    needed["test_size + max(sizes)"] = test_size + max(sizes)
    for what, count in needed.items():
        if count > rows:
            raise DataError(
                f"pickapic.local_path {settings['local_path']}: {what} = {count} but split "
                f"{split!r} has {rows} rows in {len(files)} file(s) (fewer pairs once ties and "
                "undecodable images are dropped); lower sizes, test_size or sample_size"
            )
