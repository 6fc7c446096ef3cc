"""``rtpref annotate``: the click command that loads items, plans pairs and runs the server."""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from .server import Annotation

HELP = """Collect choices and response times from a person in a web browser.

Shows one pair of items at a time (images with captions, texts with their prompt, or 2-D
shapes); the person clicks the one they prefer or presses the left/right arrow key. The time
from the moment both items are drawn to the choice is measured in the browser. Answers are
appended to OUT (Parquet, the format of `source: recorded`) as they come; stop with Ctrl-C and
run the same command again to continue: an annotator id picks up its unanswered pairs.

Which pairs: --pairs FILE (columns item_1, item_2), or --random N (default: 100 distinct pairs),
or --active N with --model DIR and --features FILE (the N pairs the model is least sure about).

\b
Example:
  rtpref annotate --items items.parquet --out answers.parquet --random 200
  then open the printed address in a browser.
"""


def _listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise click.ClickException(f"cannot listen on {host}:{port}: {error.strerror}; "
                                   f"choose another --port") from error
    # Listening before the address is printed: a browser that connects at once waits in the
    # backlog until the server accepts, instead of being refused.
    sock.listen(128)
    return sock


@click.command(help=HELP)
@click.option("--items", "items_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Parquet items table: item_id and image+caption, prompt+text, or points.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Parquet file the answers go to (a journal OUT.jsonl sits beside it).")
@click.option("--pairs", "pairs_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Ask these pairs: Parquet with item_1 and item_2.")
@click.option("--random", "random_count", type=click.IntRange(min=1),
              help="Ask N distinct pairs drawn at random from the items (the default: "
                   "N = 100, or every pair if there are fewer).")
@click.option("--active", "active_count", type=click.IntRange(min=1),
              help="Ask the N pairs whose preference the --model is least sure about.")
@click.option("--model", "model_dir", type=click.Path(exists=True, path_type=Path),
              help="Saved reward model (rtpref.RewardModel) for --active.")
@click.option("--features", "features_path",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="For --active: Parquet with item_id and the model's features in column x "
                   "(as `rtpref embed` writes them).")
@click.option("--seed", default=0, show_default=True, type=int,
              help="Seeds the random pairs, each annotator's order and left/right placement.")
@click.option("--break-seconds", default=60.0, show_default=True,
              type=click.FloatRange(min=0, min_open=True),
              help="An answer more than this long after the previous one is flagged after_break.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. The default lets only this machine connect; "
                   "0.0.0.0 opens the page to anyone who can reach this machine.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0: any free port; the address is printed).")
def annotate(items_path: Path, out: Path, pairs_path: Path | None, random_count: int | None,
             active_count: int | None, model_dir: Path | None, features_path: Path | None,
             seed: int, break_seconds: float, host: str, port: int) -> None:
    annotation = prepare(items_path, out, pairs_path, random_count, active_count, model_dir,
                         features_path, seed, break_seconds)

    import uvicorn

    from .server import create_app

    sock = _listening_socket(host, port)
    shown_host = f"[{host}]" if ":" in host else host
    click.echo(f"rtpref annotate: {len(annotation.plan)} pairs of {len(annotation.items)} "
               f"{annotation.items.kind} items, {len(annotation.store.records)} answers so far "
               f"in {out}")
    click.echo(f"rtpref annotate: open http://{shown_host}:{sock.getsockname()[1]}/ "
               f"(Ctrl-C to stop)")
    sys.stdout.flush()
    local = host in ("127.0.0.1", "localhost")
    app = create_app(annotation, ("127.0.0.1", "localhost") if local else ("*",))
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


def prepare(items_path: Path, out: Path, pairs_path: Path | None = None,
            random_count: int | None = None, active_count: int | None = None,
            model_dir: Path | None = None, features_path: Path | None = None, seed: int = 0,
            break_seconds: float = 60.0) -> Annotation:
    """Check the options, load the items, plan the pairs and open the answers file."""
    from .items import ItemsError, load_items
    from .pairs import (
        load_features,
        load_reward_model,
        most_uncertain_pairs,
        pairs_from_file,
        random_pairs,
    )
    from .server import Annotation
    from .storage import AnswerStore, JournalError

    chosen = [name for name, value in (("--pairs", pairs_path), ("--random", random_count),
                                       ("--active", active_count)) if value is not None]
    if len(chosen) > 1:
        raise click.UsageError(f"give one of --pairs, --random, --active (got {chosen})")
    if (active_count is None) != (model_dir is None) or (model_dir is None) != (
            features_path is None):
        raise click.UsageError("--active, --model and --features go together")
    if out.suffix != ".parquet":
        raise click.UsageError(f"--out {out}: give a file name ending in .parquet")
    try:
        items = load_items(items_path)
        if pairs_path is not None:
            plan = pairs_from_file(pairs_path, items.ids)
        elif active_count is not None:
            features = load_features(features_path, items.ids)
            plan = most_uncertain_pairs(items.ids, features, load_reward_model(model_dir),
                                        active_count, seed)
        else:
            all_pairs = len(items) * (len(items) - 1) // 2
            plan = random_pairs(items.ids, random_count or min(100, all_pairs), seed)
        return Annotation(items, plan, AnswerStore(out), seed, break_seconds)
    except (ItemsError, JournalError, ValueError) as error:
        raise click.ClickException(str(error)) from error
