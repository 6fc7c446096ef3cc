"""Atomic file output: write to a temporary name in the target directory, then rename.

A job killed at any point therefore leaves either no output or the complete one, never a
plausible-looking partial file that a later run would take for finished work.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _temporary_sibling(path: Path, directory: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name}.tmp-"
    # Left by an earlier attempt that was killed (SIGKILL cannot be cleaned up after); for a
    # raw shard that can be a hundred GB. Snakemake's lock means no other job writes ``path``.
    for stale in path.parent.glob(glob.escape(prefix) + "*"):
        _remove(stale)
    if directory:
        return Path(tempfile.mkdtemp(prefix=prefix, dir=path.parent))
    handle, name = tempfile.mkstemp(prefix=prefix, dir=path.parent)
    os.close(handle)
    os.chmod(name, 0o644)  # mkstemp's 0600 would make results unreadable to collaborators
    return Path(name)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``.

    With ``directory=True`` the temporary path is an (empty) directory that replaces ``path``
    as a whole. On any exception the temporary path is removed and ``path`` is left untouched.
    """
    target = Path(path)
    temporary = _temporary_sibling(target, directory)
    try:
        yield temporary
        if directory:
            if target.exists():
                _remove(target)
        else:
            with open(temporary, "rb+") as handle:
                os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        _remove(temporary)
        raise


def write_json(path: str | os.PathLike[str], payload: Any) -> None:
    """Write ``payload`` as indented JSON, atomically. Floats keep their exact repr."""
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")


def write_parquet(path: str | os.PathLike[str], table: Any, **options: Any) -> None:
    """Write a pyarrow table to Parquet atomically."""
    import pyarrow.parquet as pq

    with atomic_path(path) as temporary:
        pq.write_table(table, temporary, **options)
