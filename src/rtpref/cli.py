"""The ``rtpref`` command: use a trained reward model outside the workflow (``score``,
``embed``) and collect choices with response times (``annotate``).

Exit codes: 0 success, 2 bad input (a missing or malformed file, a model that does not fit the
data; also click's usage errors), 1 anything else.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from rtpref.annotate.command import annotate

BAD_INPUT = 2
FAILURE = 1
# The column of user ids `rtpref score` uses by default with a personalized model.
USER_COLUMN = "user_id"


def _reported(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn errors into one line on stderr and the documented exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from rtpref.data import DataError
        from rtpref.reward_model import ModelFileError

        try:
            return command(*args, **kwargs)
        except (DataError, ModelFileError, FileNotFoundError, ValueError) as error:
            click.echo(f"rtpref: error: {error}", err=True)
            sys.exit(BAD_INPUT)
        except click.exceptions.Exit:
            raise
        except Exception as error:  # noqa: BLE001 - one line, not a traceback wall
            click.echo(f"rtpref: failed: {type(error).__name__}: {error}", err=True)
            sys.exit(FAILURE)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="rtpref")
def main() -> None:
    """Use reward models trained by the rtpref workflow.

    Every training run saves its model in
    results/NAME/runs/ALGORITHM/nSIZE/seedSEED/model/ (config.json + model.safetensors, and
    users.safetensors for a *_personalized run: score its pairs per user with --user-column).

    \b
    Score pairs of precomputed features:
      rtpref score --model results/demo/runs/orthogonal/n4000/seed0/model \\
                   --pairs results/demo/chunks/test --out scored.parquet
    Score raw images with captions: embed them first, then score pairs that name them:
      rtpref embed --model MODEL_DIR --items items.parquet --out item_features.parquet
      rtpref score --model MODEL_DIR --pairs pairs.parquet --items item_features.parquet \\
                   --out scored.parquet

    Exit codes: 0 success, 2 bad input, 1 other failure.
    """


def _path_option(flag: str, name: str, help: str, required: bool = True):
    return click.option(flag, name, required=required, type=click.Path(path_type=Path), help=help)


def _parquet_files(path: Path) -> list[Path]:
    files = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
    if not files:
        raise FileNotFoundError(f"{path}: no *.parquet files in this directory")
    for file in files:
        if not file.is_file():
            raise FileNotFoundError(f"{file}: no such file")
    return files


@main.command()
@click.option(
    "--model",
    "model_path",
    required=True,
    help="Saved model: a run's model/ directory (or a Hugging Face repo id).",
)
@_path_option(
    "--pairs",
    "pairs_path",
    "Parquet file, or directory of Parquet files, of pairs: columns x1, x2 (lists of "
    "floats of the model's feature width) or item_1, item_2 (item ids, with --items).",
)
@_path_option(
    "--items",
    "items_path",
    "Item features from `rtpref embed` (item_id, x), for pairs with item_1, item_2.",
    required=False,
)
@_path_option(
    "--out", "out_path", "Output Parquet file: the input rows plus predicted_diff and prob_first."
)
@click.option(
    "--user-column",
    "user_column",
    default=None,
    metavar="NAME",
    help="Column of integer user ids: a personalized model (one saved by a *_personalized run) "
    "scores each pair with its user's reward g0(x) + <E_u, h(x)>, and with the population "
    f"reward g0 where the user is not in the model. Default: {USER_COLUMN!r} if the pairs "
    "have that column and the model has users, else none. A model without users ignores "
    "it; pass '' to score every pair with g0.",
)
@_reported
def score(
    model_path: str,
    pairs_path: Path,
    items_path: Path | None,
    out_path: Path,
    user_column: str | None,
) -> None:
    """Score pairs with a trained reward model.

    Adds two columns to every row: predicted_diff = g(x1) - g(x2), the predicted reward
    difference, and prob_first = sigmoid(2 a predicted_diff), the probability that the first
    item is preferred under the drift-diffusion model with the model's barrier a.
    With a personalized model and user ids (see --user-column), g is each pair's user's
    reward. The output is written atomically (complete or not at all).
    """
    import numpy as np
    import pyarrow as pa
    from tqdm import tqdm

    from rtpref.data import read_parquet
    from rtpref.io import write_parquet
    from rtpref.reward_model import RewardModel
    from rtpref.sources import recorded

    model = RewardModel.from_pretrained(model_path)
    if user_column and not model.has_users:
        click.echo(
            f"rtpref: note: {model_path} has no users; --user-column {user_column} is "
            "ignored and every pair is scored with its one reward g",
            err=True,
        )
    lookup = None
    tables = []
    user_pairs = 0
    for file in tqdm(_parquet_files(pairs_path), desc="scoring", unit="file"):
        table = read_parquet(file)
        names = table.column_names
        if all(name in names for name in recorded.FEATURE_PAIR):
            first, second = recorded.pair_features(file, table)
        elif all(name in names for name in recorded.ITEM_PAIR):
            if items_path is None:
                raise click.BadParameter(
                    f"{file} names items (item_1, item_2); pass their features with --items",
                    param_hint="--items",
                )
            if lookup is None:
                lookup, item_matrix = recorded.item_feature_lookup(items_path)
            first, second = recorded.referenced_features(
                file, table, lookup, item_matrix, items_path
            )
        else:
            raise recorded.DataError(f"{file}: needs columns x1, x2 or item_1, item_2; has {names}")
        if first.shape[1] != model.in_dim:
            raise recorded.DataError(
                f"{file}: features have width {first.shape[1]} but the model {model_path} "
                f"takes width {model.in_dim}; use features from the model's embedder "
                "(`rtpref embed --model ...`)"
            )
        user_id = None
        column = _user_column(user_column, names, model.has_users)
        if column is not None:
            user_id = _user_ids(file, table, column)
            user_pairs += int(np.count_nonzero(model.users.rows(user_id)))
        diff = model.predict_diff(first, second, user_id=user_id)
        tables.append(
            table.append_column("predicted_diff", pa.array(diff, pa.float64())).append_column(
                "prob_first", pa.array(model.prob_first(diff), pa.float64())
            )
        )
    result = pa.concat_tables(tables, promote_options="default")
    write_parquet(out_path, result)
    click.echo(
        f"scored {result.num_rows} pair(s) -> {out_path} "
        f"(mean prob_first {float(np.mean(result.column('prob_first'))):.4f})",
        err=True,
    )
    if model.has_users:
        click.echo(
            f"{user_pairs} pair(s) scored with their user's reward; the others with g0 "
            "(no user id, or a user not in the model)",
            err=True,
        )


def _user_column(option: str | None, names: list[str], has_users: bool) -> str | None:
    """The column of user ids to score a file with (see ``score --user-column``)."""
    if not has_users or option == "":
        return None
    if option is None:
        return USER_COLUMN if USER_COLUMN in names else None
    return option


def _user_ids(file: Path, table: Any, column: str) -> Any:
    """The integer user id of every row of ``table``; a missing column or user is an error."""
    import numpy as np
    import pyarrow as pa

    from rtpref.data import DataError
    from rtpref.sources.recorded import ROW_NOTE

    if column not in table.column_names:
        raise DataError(f"{file}: no column {column!r} (--user-column); has {table.column_names}")
    values = table.column(column)
    if not pa.types.is_integer(values.type):
        raise DataError(f"{file}: column {column!r} has type {values.type}; expected integer ids")
    nulls = np.asarray(values.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    if nulls.any():
        raise DataError(
            f"{file}: column {column!r}, row {int(np.flatnonzero(nulls)[0])} ({ROW_NOTE}): "
            f"missing user id ({int(nulls.sum())} row(s) in all); give every pair its user, "
            "or pass --user-column '' to score every pair with g0"
        )
    return values.to_numpy().astype(np.int64)


@main.command()
@click.option(
    "--model",
    "model_path",
    required=True,
    help="Saved model whose config names the embedder its features came from.",
)
@_path_option(
    "--items",
    "items_path",
    "Parquet file of raw items: item_id (string), and image (encoded image bytes) with "
    "caption, or prompt with text for a model trained on text.",
)
@_path_option("--out", "out_path", "Output Parquet file of item features: item_id, x.")
@_path_option(
    "--embedder",
    "embedder_dir",
    "Directory holding the embedder files, if they moved since training "
    "(checked against the identity recorded in the model).",
    required=False,
)
@click.option("--batch-items", default=64, show_default=True, help="Items per forward pass.")
@_reported
def embed(
    model_path: str, items_path: Path, out_path: Path, embedder_dir: Path | None, batch_items: int
) -> None:
    """Turn raw items (images with captions, or texts with their prompt) into features.

    Uses the embedder recorded in the model's config (the same image-text model or sentence
    encoder the training features came from) and refuses one whose identity (weights) or
    feature width differs from the model's, naming both. x = [image features; caption
    features], or [e(prompt); e(text)] for text.
    """
    from rtpref.io import write_parquet
    from rtpref.provenance import load_recorded_embedder
    from rtpref.reward_model import RewardModel
    from rtpref.sources import recorded

    model = RewardModel.from_pretrained(model_path)
    embedder = load_recorded_embedder(model, model_path, embedder_dir)
    if model.config["provenance"]["embedder"]["kind"] == "sentence_transformers":
        table = recorded.embed_text_items(items_path, embedder)
    else:
        table = recorded.embed_items(items_path, embedder, batch_items, progress=True)
    write_parquet(out_path, table)
    click.echo(f"embedded {table.num_rows} item(s) -> {out_path}", err=True)


main.add_command(annotate)

if __name__ == "__main__":  # pragma: no cover
    main()
