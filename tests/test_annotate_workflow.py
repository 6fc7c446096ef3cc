"""Answers collected through the annotation server train a reward model through the DAG.

The server is driven through its HTTP API (the browser test covers the page itself); the
answers file it writes is given to ``source: recorded`` as is, with the items table it showed
embedded by a tiny open_clip model saved locally (the demo CLIP, in open_clip's local-dir
layout).
"""

from __future__ import annotations

import polars as pl
import pyarrow.parquet as pq
import pytest
from annotate_helpers import write_image_items
from image_helpers import tiny_demo_model
from starlette.testclient import TestClient

from rtpref.annotate.items import load_items
from rtpref.annotate.pairs import random_pairs
from rtpref.annotate.server import Annotation, create_app
from rtpref.annotate.storage import AnswerStore
from rtpref.models.demo_clip import (
    DEMO_CONFIG_NAME,
    DEMO_WEIGHTS_NAME,
    DemoModelConfig,
    save_demo_clip,
)
from rtpref.reward_model import RewardModel

pytestmark = pytest.mark.workflow

PAIRS = 40


def annotate(root, items_path, answers_path) -> None:
    """One annotator answers every planned pair, preferring the item on the left of even
    pairs and the right of odd ones, with times between 0.4 and 1.2 s."""
    items = load_items(items_path)
    plan = random_pairs(items.ids, PAIRS, seed=0)
    client = TestClient(create_app(Annotation(items, plan, AnswerStore(answers_path), 0, 60.0)))
    session = client.post("/api/session", json={"annotator": "alice"}).json()["session"]
    for number in range(PAIRS):
        token = client.post("/api/next", json={"session": session}).json()["token"]
        body = {
            "session": session,
            "token": token,
            "side": "left" if number % 2 == 0 else "right",
            "response_time_ms": 400.0 + 20.0 * number,
            "page_hidden": False,
            "input": "click",
        }
        assert client.post("/api/answer", json=body).status_code == 200


def test_annotated_answers_train_a_reward_model_through_the_dag(workflow, tiny_config) -> None:
    root = workflow.root
    write_image_items(root / "items.parquet", count=12)
    annotate(root, root / "items.parquet", root / "answers.parquet")
    assert pq.read_metadata(root / "answers.parquet").num_rows == PAIRS
    embedder = root / "embedder"
    embedder.mkdir()
    save_demo_clip(
        DemoModelConfig(**tiny_demo_model()),
        embedder / DEMO_CONFIG_NAME,
        embedder / DEMO_WEIGHTS_NAME,
    )
    config = {
        **tiny_config,
        "name": "annotated",
        "source": "recorded",
        "sizes": [20],
        "seeds": [0],
        "test_size": 10,
        "algorithms": ["log_loss", "orthogonal"],
        "recorded": {
            "pairs": ["answers.parquet"],
            "items": "items.parquet",
            "embedder": {"model": f"local-dir:{embedder}", "pretrained": None},
        },
        "evaluation": {"best_of": []},
    }
    del config["synthetic"], config["figures"]
    workflow.run("--cores", "2", "--configfile", str(workflow.write_config(config)))
    results = root / "results" / "annotated"
    summary = pl.read_parquet(results / "summary.parquet")
    assert summary.height == 2 and summary["accuracy"].is_finite().all()
    assert summary["mse"].is_null().all()  # no true rewards for recorded answers
    model = RewardModel.from_pretrained(results / "runs/orthogonal/n20/seed0/model")
    assert model.in_dim == 2 * DemoModelConfig(**tiny_demo_model()).embed_dim
