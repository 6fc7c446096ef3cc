"""Reading text preference datasets in the format TRL's preference datasets use.

A dataset row holds one preference: a prompt and two responses, ``chosen`` over ``rejected``.
Two layouts are read (column names are configurable):

- explicit prompt: ``prompt``, ``chosen``, ``rejected`` hold the prompt and the two responses;
- implicit prompt (HH-RLHF): ``chosen`` and ``rejected`` each hold the whole conversation,
  ``"\\n\\nHuman: ...\\n\\nAssistant: ..."``; the prompt is everything up to and including the
  last ``"\\n\\nAssistant:"``, the response what follows. Both conversations must share it.

A cell may also be a conversation in TRL's message form (a list of ``{"role", "content"}``): it
is rendered in the HH-RLHF layout, so the last message is the response and the messages before
it the prompt.

Rows that cannot be used (an empty prompt or response, a prompt that differs between chosen and
rejected, two identical responses) are dropped and counted in ``TextDrops``; a missing column
is an error naming the config key to set. The data come from local Parquet/JSON(L) files or
the Hugging Face hub. Deduplication, the drop limit and writing shards are in
``rtpref.sources.text``.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from rtpref.data import DataError
from rtpref.hub import HubResourceUnavailable, hub_unavailable_reason
from rtpref.sources.raw import DropLog

ASSISTANT_TURN = "\n\nAssistant:"
ROLE_NAMES = {"user": "Human", "human": "Human", "assistant": "Assistant", "system": "System"}
LOCAL_BUILDERS = {".parquet": "parquet", ".jsonl": "json", ".json": "json"}


@dataclasses.dataclass(frozen=True)
class TextConfig:
    dataset: str = "Anthropic/hh-rlhf"
    revision: str = "main"
    data_dir: str | None = None
    split: str = "train"
    local_path: str | None = None
    format: str = "auto"
    prompt_column: str = "prompt"
    chosen_column: str = "chosen"
    rejected_column: str = "rejected"
    sample_size: int | None = None
    max_dropped_fraction: float = 0.1
    order_seed: int = 0


@dataclasses.dataclass
class TextDrops(DropLog):
    """Why rows were dropped, with the first few examples (file and row)."""

    empty: int = 0
    prompt_mismatch: int = 0
    no_assistant_turn: int = 0
    identical_responses: int = 0
    duplicates: int = 0

    @property
    def dropped(self) -> int:
        return (
            self.empty
            + self.prompt_mismatch
            + self.no_assistant_turn
            + self.identical_responses
            + self.duplicates
        )

    def drop(self, reason: str, origin: str, detail: str) -> None:
        setattr(self, reason, getattr(self, reason) + 1)
        self.note(f"{origin}: {detail}")

    def summary(self) -> str:
        return (
            f"{self.seen} rows read, {self.kept} kept; dropped {self.empty} with an empty "
            f"prompt or response, {self.prompt_mismatch} whose prompts differ between chosen "
            f"and rejected, {self.no_assistant_turn} without an Assistant turn, "
            f"{self.identical_responses} with identical responses, {self.duplicates} repeats"
        )


@dataclasses.dataclass(frozen=True)
class TextPair:
    prompt: str
    chosen: str
    rejected: str
    origin: str


def render_messages(messages: Sequence[Any], origin: str) -> str:
    """A TRL message list as an HH-RLHF style conversation string."""
    parts = []
    for message in messages:
        if not isinstance(message, dict) or "content" not in message:
            raise DataError(f"{origin}: a message is not a {{'role', 'content'}} mapping")
        role = ROLE_NAMES.get(str(message.get("role", "")).lower(), str(message.get("role")))
        parts.append(f"\n\n{role}: {message['content'] or ''}")
    return "".join(parts)


def as_text(value: Any, origin: str, column: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return render_messages(value, origin)
    raise DataError(f"{origin}: column {column!r} holds {type(value).__name__}, not text")


def split_conversation(conversation: str) -> tuple[str, str] | None:
    """(prompt up to the last Assistant turn, final response), or None without such a turn."""
    cut = conversation.rfind(ASSISTANT_TURN)
    if cut < 0:
        return None
    end = cut + len(ASSISTANT_TURN)
    return conversation[:end], conversation[end:].strip()


def _pairs_from_columns(
    columns: dict[str, list[Any]], config: TextConfig, implicit: bool, where: str, drops: TextDrops
) -> Iterator[TextPair]:
    chosen_values = columns[config.chosen_column]
    rejected_values = columns[config.rejected_column]
    prompts = columns.get(config.prompt_column)
    for row, (chosen_value, rejected_value) in enumerate(
        zip(chosen_values, rejected_values, strict=True)
    ):
        origin = f"{where}:{row}"
        drops.seen += 1
        chosen = as_text(chosen_value, origin, config.chosen_column)
        rejected = as_text(rejected_value, origin, config.rejected_column)
        if implicit or isinstance(chosen_value, list):
            chosen_parts = split_conversation(chosen)
            rejected_parts = split_conversation(rejected)
            if chosen_parts is None or rejected_parts is None:
                drops.drop("no_assistant_turn", origin, "no Assistant turn in chosen or rejected")
                continue
            if chosen_parts[0] != rejected_parts[0]:
                drops.drop("prompt_mismatch", origin, "chosen and rejected prompts differ")
                continue
            prompt, chosen, rejected = chosen_parts[0], chosen_parts[1], rejected_parts[1]
            if prompts is not None and not implicit:
                prompt = as_text(prompts[row], origin, config.prompt_column)
        else:
            prompt = as_text(prompts[row], origin, config.prompt_column)
        chosen, rejected = chosen.strip(), rejected.strip()
        if not prompt.strip() or not chosen or not rejected:
            drops.drop("empty", origin, "empty prompt, chosen or rejected")
            continue
        if chosen == rejected:
            drops.drop("identical_responses", origin, "chosen and rejected are identical")
            continue
        yield TextPair(prompt, chosen, rejected, origin)


def _check_columns(names: Sequence[str], config: TextConfig, where: str) -> bool:
    """Whether the layout is implicit; missing columns raise DataError naming the key to set."""
    if config.format not in ("auto", "explicit", "implicit"):
        raise DataError(f"text.format={config.format!r}: use auto, explicit or implicit")
    implicit = config.format == "implicit" or (
        config.format == "auto" and config.prompt_column not in names
    )
    needed = {"chosen": config.chosen_column, "rejected": config.rejected_column}
    if not implicit:
        needed["prompt"] = config.prompt_column
    missing = [
        f"{column!r} (text.columns.{key})" for key, column in needed.items() if column not in names
    ]
    if missing:
        raise DataError(
            f"{where}: missing column(s) {', '.join(missing)}; has {list(names)}. Set "
            "text.columns to the dataset's names (and text.format if the layout differs)"
        )
    return implicit


def local_builder(path: Path) -> str | None:
    """The datasets builder that reads ``path`` (compressed JSON too), or None."""
    name = path.name.removesuffix(".gz")
    for suffix, builder in LOCAL_BUILDERS.items():
        if name.endswith(suffix):
            return builder
    return None


def local_files(
    local_path: str | Path, split: str = "train", data_dir: str | None = None
) -> list[Path]:
    """Parquet/JSONL files at ``local_path`` (a file, or a directory searched recursively).

    A directory laid out like a hub repo may hold several splits (HH-RLHF:
    ``helpful-base/train.jsonl.gz``, ``helpful-base/test.jsonl.gz``, ...): then only files named
    ``{split}.*`` or ``{split}-*`` are read, and only under ``data_dir`` where that is set.
    """
    path = Path(local_path)
    if path.is_file():
        files = [path]
    elif path.is_dir():
        root = path / data_dir if data_dir else path
        files = sorted(file for file in root.rglob("*") if local_builder(file) is not None)
        of_split = [file for file in files if file.name.startswith((f"{split}.", f"{split}-"))]
        files = of_split or files
    else:
        raise FileNotFoundError(f"text.local_path {path} does not exist")
    unknown = [file for file in files if local_builder(file) is None]
    if unknown or not files:
        raise DataError(
            f"text.local_path {path}: expected *.parquet, *.jsonl or *.json(.gz) files, "
            f"found {[str(file) for file in unknown] or 'none'}"
        )
    return files


def _dataset_columns(dataset: Any) -> dict[str, list[Any]]:
    return {name: dataset[name] for name in dataset.column_names}


def read_pairs(config: TextConfig, drops: TextDrops) -> Iterator[TextPair]:
    """Usable pairs of the configured dataset in order, before dedup."""
    import datasets

    datasets.disable_progress_bars()  # they would go to the terminal, not the rule's log
    if config.local_path:
        for file in local_files(config.local_path, config.split, config.data_dir):
            # A throwaway cache: datasets would otherwise keep an Arrow copy of every file read.
            with tempfile.TemporaryDirectory() as cache:
                try:
                    dataset = datasets.load_dataset(
                        local_builder(file),
                        data_files=str(file),
                        split="train",
                        cache_dir=cache,
                        keep_in_memory=True,
                    )
                except Exception as error:  # noqa: BLE001 - datasets raises many kinds
                    raise DataError(f"{file}: not readable as a dataset ({error})") from error
                implicit = _check_columns(dataset.column_names, config, str(file))
                columns = _dataset_columns(dataset)
            yield from _pairs_from_columns(columns, config, implicit, str(file), drops)
        return
    where = f"{config.dataset}@{config.revision}" + (
        f"/{config.data_dir}" if config.data_dir else ""
    )
    reason = hub_unavailable_reason()
    if reason is not None:
        include = f" --include '{config.data_dir}/*'" if config.data_dir else ""
        raise HubResourceUnavailable(
            f"text dataset {where} loads from the Hugging Face hub and {reason}. Download it "
            f"on a machine with network (`hf download {config.dataset} --repo-type dataset"
            f"{include} --local-dir DIR`) and set text.local_path to DIR (or a file in it)"
        )
    dataset = datasets.load_dataset(
        config.dataset, data_dir=config.data_dir, revision=config.revision, split=config.split
    )
    implicit = _check_columns(dataset.column_names, config, where)
    yield from _pairs_from_columns(
        _dataset_columns(dataset), config, implicit, f"{where} split {config.split} row", drops
    )
