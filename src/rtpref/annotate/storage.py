"""Answers on disk: an append-only JSON-lines journal, mirrored to Parquet after every answer.

Each answer is one line, written and fsync'ed before the browser hears "saved", so a killed
server keeps every acknowledged answer. A line cut short by a kill (no trailing newline) was
never acknowledged and is dropped when the journal is opened again. The Parquet file, the format
``source: recorded`` reads, is rebuilt from the journal and replaced atomically (temporary file,
then rename), so readers never see half of it.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rtpref.io import write_parquet


class JournalError(ValueError):
    """The journal cannot be read back; the message names the file and line."""


def _schema() -> Any:
    import pyarrow as pa

    timestamp = pa.timestamp("us", tz="UTC")
    return pa.schema([
        ("item_1", pa.string()),
        ("item_2", pa.string()),
        ("choice", pa.int8()),  # +1: item_1 chosen, -1: item_2 chosen
        ("response_time", pa.float64()),  # seconds, measured in the browser
        ("user_id", pa.string()),
        ("session_id", pa.string()),
        ("pair_index", pa.int64()),  # position of the pair in the plan
        ("item_1_on_left", pa.bool_()),
        ("chosen_side", pa.string()),  # "left" or "right"
        ("input", pa.string()),  # "click" or "key"
        ("page_hidden", pa.bool_()),  # the page was hidden while the pair was on screen
        ("after_break", pa.bool_()),  # first pair after a resume, or a long pause
        ("flagged", pa.bool_()),  # page_hidden or after_break: not a clean response time
        ("served_at", timestamp),
        ("answered_at", timestamp),
    ])


COLUMNS = [field.name for field in _schema()]
TIMESTAMP_COLUMNS = ("served_at", "answered_at")


def journal_path(out: Path) -> Path:
    """The journal sits beside the Parquet output: ``answers.parquet`` -> ``answers.jsonl``."""
    return out.with_suffix(".jsonl")


def _read_journal(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    data = path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]
    if len(complete) != len(data):
        # The tail of a write that a kill interrupted; it was never acknowledged.
        with open(path, "r+b") as handle:
            handle.truncate(len(complete))
            os.fsync(handle.fileno())
    records = []
    for number, line in enumerate(complete.decode("utf-8").splitlines(), start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise JournalError(f"{path}: line {number} is not JSON ({error}); move the file "
                               f"away or repair the line") from error
        missing = [column for column in COLUMNS if column not in record]
        if missing:
            raise JournalError(f"{path}: line {number} lacks {missing}")
        records.append(record)
    return records


class AnswerStore:
    """The answers of every annotator: the journal, an in-memory copy, and the Parquet mirror."""

    def __init__(self, out: str | os.PathLike[str]) -> None:
        self.out = Path(out)
        self.journal = journal_path(self.out)
        if self.out.suffix != ".parquet":
            raise ValueError(f"--out {self.out}: give a file name ending in .parquet")
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.records = _read_journal(self.journal)
        self.write_parquet()

    def append(self, record: dict[str, Any]) -> None:
        """Make ``record`` durable (journal line, fsync), then refresh the Parquet file."""
        line = json.dumps({column: record[column] for column in COLUMNS},
                          allow_nan=False, sort_keys=True) + "\n"
        created = not self.journal.exists()
        with open(self.journal, "a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
        if created:  # the new directory entry must survive a crash too
            directory = os.open(self.journal.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        self.records.append(json.loads(line))
        self.write_parquet()

    def write_parquet(self) -> None:
        import pyarrow as pa

        columns: dict[str, list[Any]] = {column: [] for column in COLUMNS}
        for record in self.records:
            for column in COLUMNS:
                value = record[column]
                if column in TIMESTAMP_COLUMNS:
                    value = datetime.fromisoformat(value)
                columns[column].append(value)
        write_parquet(self.out, pa.table(columns, schema=_schema()))


def now_iso() -> str:
    """The current UTC time, as journal timestamps are written."""
    return datetime.now(UTC).isoformat(timespec="microseconds")
