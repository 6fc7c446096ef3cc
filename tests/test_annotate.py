"""The annotation server without a browser: pair plans, validation, storage, resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from annotate_helpers import SCRIPT_CAPTION, write_image_items, write_pairs
from click.testing import CliRunner
from starlette.testclient import TestClient

from rtpref.annotate.command import prepare
from rtpref.annotate.items import ItemsError, load_items
from rtpref.annotate.pairs import most_uncertain_pairs, pairs_from_file, random_pairs
from rtpref.annotate.server import Annotation, create_app
from rtpref.annotate.storage import AnswerStore, JournalError, journal_path
from rtpref.cli import main


def make_client(tmp_path: Path, plan=None, break_seconds: float = 60.0) -> TestClient:
    if not (tmp_path / "items.parquet").exists():
        write_image_items(tmp_path / "items.parquet")
    items = load_items(tmp_path / "items.parquet")
    plan = plan or random_pairs(items.ids, 5, seed=0)
    annotation = Annotation(items, plan, AnswerStore(tmp_path / "answers.parquet"), 0,
                            break_seconds)
    return TestClient(create_app(annotation))


def start(client: TestClient, annotator: str = "alice") -> str:
    response = client.post("/api/session", json={"annotator": annotator})
    assert response.status_code == 200, response.text
    return response.json()["session"]


def answer(client: TestClient, session: str, token: str, side: str = "left",
           **overrides) -> object:
    body = {"session": session, "token": token, "side": side, "response_time_ms": 512.5,
            "page_hidden": False, "input": "click", **overrides}
    return client.post("/api/answer", json=body)


def answer_next(client: TestClient, session: str, count: int = 1) -> None:
    """Answer the next ``count`` pairs (left side)."""
    for _ in range(count):
        token = client.post("/api/next", json={"session": session}).json()["token"]
        assert answer(client, session, token).status_code == 200


def read_answers(tmp_path: Path) -> list[dict]:
    return pq.read_table(tmp_path / "answers.parquet").to_pylist()


def test_choice_follows_the_chosen_side_and_the_placement(tmp_path):
    write_image_items(tmp_path / "items.parquet")
    items = load_items(tmp_path / "items.parquet")
    client = make_client(tmp_path, plan=random_pairs(items.ids, 15, seed=0))
    session = start(client)
    captions = dict(zip(items.ids, items.captions, strict=True))
    seen = []
    for number, side in enumerate(["left", "right", "right"] * 5):
        pair = client.post("/api/next", json={"session": session}).json()
        assert not pair["done"] and pair["answered"] == number
        seen.append((pair[side]["caption"], side))
        assert answer(client, session, pair["token"], side).status_code == 200
    assert client.post("/api/next", json={"session": session}).json()["done"]
    rows = read_answers(tmp_path)
    assert len(rows) == 15
    for row, (chosen_caption, side) in zip(rows, seen, strict=True):
        chosen_item = row["item_1"] if row["choice"] == 1 else row["item_2"]
        assert captions[chosen_item] == chosen_caption
        assert row["chosen_side"] == side
        assert row["item_1_on_left"] == ((side == "left") == (row["choice"] == 1))
        assert row["response_time"] == 0.5125 and row["user_id"] == "alice"
        assert not row["flagged"]
    assert {row["item_1_on_left"] for row in rows} == {True, False}  # placement varies


BAD_ANSWERS = {
    "missing field": {"side": None},
    "side up": {"side": "up"},
    "time as text": {"response_time_ms": "512"},
    "negative time": {"response_time_ms": -1.0},
    "zero time": {"response_time_ms": 0.0},
    "extra field": {"path": "../../etc/passwd"},
    "hidden as string": {"page_hidden": "false"},
    "unknown input": {"input": "voice"},
    "token too long": {"token": "x" * 500},
}


@pytest.mark.parametrize("change", BAD_ANSWERS.values(), ids=BAD_ANSWERS.keys())
def test_malformed_answers_are_refused_and_nothing_is_written(tmp_path, change):
    client = make_client(tmp_path)
    session = start(client)
    pair = client.post("/api/next", json={"session": session}).json()
    body = {"session": session, "token": pair["token"], "side": "left",
            "response_time_ms": 512.5, "page_hidden": False, "input": "click", **change}
    body = {key: value for key, value in body.items() if value is not None}
    response = client.post("/api/answer", json=body)
    assert 400 <= response.status_code < 500, response.text
    assert not journal_path(tmp_path / "answers.parquet").exists()
    assert read_answers(tmp_path) == []


JSON = {"content-type": "application/json"}


@pytest.mark.parametrize("request_", [
    {"content": b"{not json", "headers": JSON},
    {"content": b"NaN", "headers": JSON},
    {"content": b'{"session": "x"}', "headers": {"content-type": "text/plain"}},
    {"content": b'{"a": "' + b"x" * 10_000 + b'"}', "headers": JSON},
], ids=["not json", "nan", "wrong content type", "too large"])
def test_malformed_bodies_are_refused(tmp_path, request_):
    client = make_client(tmp_path)
    start(client)
    for path in ("/api/session", "/api/next", "/api/answer"):
        response = client.post(path, **request_)
        assert 400 <= response.status_code < 500, (path, response.text)
    assert not journal_path(tmp_path / "answers.parquet").exists()


def test_nan_response_time_is_refused(tmp_path):
    client = make_client(tmp_path)
    session = start(client)
    token = client.post("/api/next", json={"session": session}).json()["token"]
    body = (f'{{"session": "{session}", "token": "{token}", "side": "left", '
            f'"response_time_ms": NaN, "page_hidden": false, "input": "key"}}')
    response = client.post("/api/answer", content=body, headers=JSON)
    assert response.status_code == 422
    assert read_answers(tmp_path) == []


@pytest.mark.parametrize("annotator", ["../../etc", "a/b", "", "x" * 65, "<script>", " bob"])
def test_annotator_ids_that_could_be_paths_or_markup_are_refused(tmp_path, annotator):
    client = make_client(tmp_path)
    response = client.post("/api/session", json={"annotator": annotator})
    assert response.status_code == 422


def test_a_pair_is_accepted_once_across_tabs(tmp_path):
    client = make_client(tmp_path)
    first_tab, second_tab = start(client), start(client)
    shown_first = client.post("/api/next", json={"session": first_tab}).json()
    shown_second = client.post("/api/next", json={"session": second_tab}).json()
    assert shown_first["left"] == shown_second["left"]  # the same pair, the same placement
    assert answer(client, first_tab, shown_first["token"]).status_code == 200
    assert answer(client, second_tab, shown_second["token"], "right").status_code == 409
    assert answer(client, first_tab, shown_first["token"]).status_code == 404  # token used up
    rows = read_answers(tmp_path)
    assert len(rows) == 1 and rows[0]["chosen_side"] == "left"
    following = client.post("/api/next", json={"session": second_tab}).json()
    assert following["answered"] == 1 and following["token"] != shown_second["token"]


def test_a_token_is_bound_to_its_annotator(tmp_path):
    client = make_client(tmp_path)
    alice, bob = start(client, "alice"), start(client, "bob")
    token = client.post("/api/next", json={"session": alice}).json()["token"]
    assert answer(client, bob, token).status_code == 404
    assert answer(client, "no-such-session", token).status_code == 404
    assert read_answers(tmp_path) == []


def test_resume_continues_with_unanswered_pairs_and_flags_the_break(tmp_path):
    client = make_client(tmp_path)
    session = start(client)
    answer_next(client, session, 2)
    on_screen = client.post("/api/next", json={"session": session}).json()
    # A new server on the same output: what a restart after a kill sees.
    client = make_client(tmp_path)
    resumed = start(client)
    shown = client.post("/api/next", json={"session": resumed}).json()
    assert shown["answered"] == 2
    assert (shown["left"], shown["right"]) == (on_screen["left"], on_screen["right"])
    assert answer(client, resumed, shown["token"], page_hidden=True).status_code == 200
    rows = read_answers(tmp_path)
    assert len(rows) == 3 and len({row["pair_index"] for row in rows}) == 3
    assert [row["after_break"] for row in rows] == [False, False, True]
    assert [row["flagged"] for row in rows] == [False, False, True]
    assert rows[2]["page_hidden"]


def test_a_long_pause_flags_the_next_answer(tmp_path):
    client = make_client(tmp_path, break_seconds=1e-6)
    session = start(client)
    answer_next(client, session, 2)
    assert [row["after_break"] for row in read_answers(tmp_path)] == [False, True]


def test_a_torn_journal_line_is_dropped_and_complete_lines_kept(tmp_path):
    client = make_client(tmp_path)
    answer_next(client, start(client))
    journal = journal_path(tmp_path / "answers.parquet")
    complete = journal.read_text()
    journal.write_text(complete + complete[: len(complete) // 2])  # killed mid-write
    store = AnswerStore(tmp_path / "answers.parquet")
    assert len(store.records) == 1 and journal.read_text() == complete
    assert len(read_answers(tmp_path)) == 1


def test_a_corrupt_journal_line_stops_with_its_number(tmp_path):
    journal = journal_path(tmp_path / "answers.parquet")
    journal.write_text("{not json}\n")
    with pytest.raises(JournalError, match=r"answers.jsonl: line 1 is not JSON"):
        AnswerStore(tmp_path / "answers.parquet")


def test_answers_from_another_plan_are_refused(tmp_path):
    client = make_client(tmp_path)
    answer_next(client, start(client))
    items = load_items(tmp_path / "items.parquet")
    with pytest.raises(ValueError, match="is not pair .* of this plan"):
        Annotation(items, random_pairs(items.ids, 5, seed=1),
                   AnswerStore(tmp_path / "answers.parquet"), 1, 60.0)


def test_captions_travel_as_data_and_the_page_forbids_inline_script(tmp_path):
    client = make_client(tmp_path, plan=[("item0", "item1")])
    page = client.get("/")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "<script>" not in page.text.replace('<script src="/static/annotate.js" defer>', "")
    session = start(client)
    pair = client.post("/api/next", json={"session": session}).json()
    assert SCRIPT_CAPTION in {pair["left"]["caption"], pair["right"]["caption"]}
    script = client.get("/static/annotate.js").text
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script


def test_images_are_served_by_index_only(tmp_path):
    client = make_client(tmp_path)
    assert client.get("/api/image/0").headers["content-type"] == "image/png"
    for path in ("/api/image/99", "/api/image/-1", "/api/image/..%2f..%2fetc%2fpasswd",
                 "/static/..%2f..%2fserver.py"):
        assert client.get(path).status_code == 404, path


def test_items_tables_are_checked(tmp_path):
    pq.write_table(pa.table({"item_id": ["a", "a"], "prompt": ["p", "p"], "text": ["x", "y"]}),
                   tmp_path / "dup.parquet")
    with pytest.raises(ItemsError, match=r"dup.parquet: column 'item_id', row 1: 'a' repeats"):
        load_items(tmp_path / "dup.parquet")
    pq.write_table(pa.table({"item_id": ["a"], "image": [b"<svg onload=alert(1)>"]}),
                   tmp_path / "svg.parquet")
    with pytest.raises(ItemsError, match=r"column 'image', row 0: not PNG or JPEG"):
        load_items(tmp_path / "svg.parquet")
    pq.write_table(pa.table({"item_id": ["a"], "points": [[[0.0, float("nan")], [1.0, 1.0]]]}),
                   tmp_path / "nan.parquet")
    with pytest.raises(ItemsError, match=r"column 'points', row 0: expected \[x, y\]"):
        load_items(tmp_path / "nan.parquet")
    write_pairs(tmp_path / "pairs.parquet", [("item1", "item2"), ("item1", "nope")])
    with pytest.raises(ItemsError, match=r"column 'item_2', row 1: 'nope' is not an item_id"):
        pairs_from_file(tmp_path / "pairs.parquet", ["item1", "item2"])


def test_text_and_shape_items_are_served(tmp_path):
    pq.write_table(pa.table({"item_id": ["a", "b"], "prompt": ["Q?", "Q?"],
                             "text": ["one", "two"]}), tmp_path / "texts.parquet")
    texts = load_items(tmp_path / "texts.parquet")
    assert texts.kind == "text" and texts.payload(1) == {"kind": "text", "prompt": "Q?",
                                                         "text": "two"}
    pq.write_table(pa.table({"item_id": ["a", "b"],
                             "points": [[[0.0, 0.0], [1.0, 2.0]], [[0.0, 1.0], [2.0, 0.0]]]}),
                   tmp_path / "shapes.parquet")
    shapes = load_items(tmp_path / "shapes.parquet")
    assert shapes.kind == "shape" and shapes.payload(0)["points"] == [(0.0, 0.0), (1.0, 2.0)]


def test_random_pairs_are_distinct_and_seeded():
    ids = [f"i{index}" for index in range(8)]
    pairs = random_pairs(ids, 28, seed=3)
    assert len({frozenset(pair) for pair in pairs}) == 28
    assert random_pairs(ids, 10, seed=3) == random_pairs(ids, 10, seed=3)
    assert random_pairs(ids, 10, seed=3) != random_pairs(ids, 10, seed=4)
    with pytest.raises(ItemsError, match="8 items make 28 distinct pairs"):
        random_pairs(ids, 29, seed=0)


class LinearModel:
    """A stand-in reward model: r(x) = x . weights."""

    def __init__(self, weights: np.ndarray) -> None:
        self.weights = weights

    def predict_diff(self, x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
        return (x1 - x2) @ self.weights


def test_active_selection_asks_the_pairs_the_model_is_least_sure_about():
    rng = np.random.default_rng(0)
    ids = [f"i{index}" for index in range(30)]
    features = rng.normal(size=(30, 3)).astype(np.float32)
    model = LinearModel(np.array([1.0, -0.5, 2.0], dtype=np.float32))
    chosen = most_uncertain_pairs(ids, features, model, 10, seed=0)
    reward = dict(zip(ids, features @ model.weights, strict=True))
    chosen_gaps = sorted(abs(reward[a] - reward[b]) for a, b in chosen)
    all_gaps = sorted(abs(reward[a] - reward[b]) for i, a in enumerate(ids) for b in ids[i + 1:])
    assert np.allclose(chosen_gaps, all_gaps[:10])
    assert chosen == most_uncertain_pairs(ids, features, model, 10, seed=0)


def test_the_command_refuses_bad_input_with_a_message(tmp_path):
    write_image_items(tmp_path / "items.parquet")
    runner = CliRunner()
    result = runner.invoke(main, ["annotate", "--items", str(tmp_path / "items.parquet"),
                                  "--out", str(tmp_path / "a.parquet"), "--random", "999"])
    assert result.exit_code == 1 and "6 items make 15 distinct pairs" in result.output
    result = runner.invoke(main, ["annotate", "--items", str(tmp_path / "items.parquet"),
                                  "--out", str(tmp_path / "a.parquet"), "--random", "3",
                                  "--pairs", str(tmp_path / "items.parquet")])
    assert result.exit_code == 2 and "give one of" in result.output
    result = runner.invoke(main, ["annotate", "--items", str(tmp_path / "items.parquet"),
                                  "--out", str(tmp_path / "a.txt")])
    assert result.exit_code == 2 and "ending in .parquet" in result.output


def test_active_pairs_come_from_the_saved_reward_model(tmp_path, monkeypatch):
    import rtpref

    write_image_items(tmp_path / "items.parquet")
    items = load_items(tmp_path / "items.parquet")
    features = np.arange(len(items) * 2, dtype=np.float32).reshape(len(items), 2) ** 2
    pq.write_table(pa.table({"item_id": items.ids, "x": features.tolist()}),
                   tmp_path / "features.parquet")
    (tmp_path / "model").mkdir()
    loaded = []

    class FakeRewardModel:
        @classmethod
        def from_pretrained(cls, directory):
            loaded.append(Path(directory))
            return LinearModel(np.array([1.0, 0.0], dtype=np.float32))

    monkeypatch.setattr(rtpref, "RewardModel", FakeRewardModel, raising=False)
    annotation = prepare(tmp_path / "items.parquet", tmp_path / "answers.parquet",
                         active_count=3, model_dir=tmp_path / "model",
                         features_path=tmp_path / "features.parquet")
    assert loaded == [tmp_path / "model"]
    expected = most_uncertain_pairs(items.ids, features, LinearModel(np.array([1.0, 0.0])), 3, 0)
    assert annotation.plan == expected


def test_a_foreign_host_name_is_refused_when_local(tmp_path):
    write_image_items(tmp_path / "items.parquet")
    items = load_items(tmp_path / "items.parquet")
    annotation = Annotation(items, random_pairs(items.ids, 3, seed=0),
                            AnswerStore(tmp_path / "answers.parquet"), 0, 60.0)
    app = create_app(annotation, ("127.0.0.1", "localhost"))
    assert TestClient(app, base_url="http://127.0.0.1:8765").get("/").status_code == 200
    rebound = TestClient(app, base_url="http://attacker.example:8765")
    assert rebound.post("/api/session", json={"annotator": "eve"}).status_code == 400
