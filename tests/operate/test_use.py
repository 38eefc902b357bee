"""A calibrated threshold in use: index search, duplicates, the FAQ answerer, the server and the command line."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from embedlab import EmbeddingModel, Encoder
from embedlab.cli import app
from embedlab.errors import IndexMismatchError, InputError
from embedlab.index import FaqAnswerer, Index
from embedlab.operate.thresholds import FILENAME, Space, Threshold, attach, calibrate_pairs

DOCS = [
    {"id": "cat", "text": "The cat sleeps on the warm windowsill."},
    {"id": "kitten", "text": "A kitten naps in the sun by the window."},
    {"id": "stock", "text": "Stock markets fell sharply after the announcement."},
    {"id": "bake", "text": "Preheat the oven before baking the bread."},
]
QUERY = "Where is the kitten napping?"


def at(value: float, space: object) -> Threshold:
    """A threshold of exactly ``value`` measured in ``space`` (two pairs: one at it, one below)."""
    pairs = ([value, value - 1], [1, 0])
    return calibrate_pairs(*pairs, "precision>=1", space=space, held_out=pairs, n_resamples=50)


@pytest.fixture
def index(tmp_path: Path, encoder: Encoder) -> Index:
    return Index.build(tmp_path / "index", DOCS, encoder)


def test_search_keeps_only_hits_at_or_above_the_calibrated_threshold(index: Index) -> None:
    with pytest.raises(InputError, match="has no calibrated threshold"):
        index.search(QUERY, k=4, min_score="calibrated")
    scores = [hit.score for hit in index.search(QUERY, k=4)]
    assert attach(at(scores[1], index), index) == index.path / FILENAME
    assert [hit.score for hit in index.search(QUERY, k=4, min_score="calibrated")] == scores[:2]
    attach(at(scores[0] + 0.01, index), index)  # the file changed: read again
    assert index.search(QUERY, k=4, min_score="calibrated") == []
    assert Index.open(index.path, index.encoder).calibrated_threshold().value == pytest.approx(scores[0] + 0.01)
    with pytest.raises(InputError, match="vector \\(cosine\\) scores; hybrid search"):
        index.search(QUERY, k=4, mode="hybrid", min_score="calibrated")
    with pytest.raises(InputError, match="min_score must be a number or 'calibrated'"):
        index.search(QUERY, k=4, min_score="auto")


def test_a_threshold_of_another_model_or_precision_is_refused(index: Index) -> None:
    other = Space("another-model", "b" * 64, "torch", "float32", 384)
    with pytest.raises(IndexMismatchError, match="model fingerprint bbbbbbbbbbbb -> "):
        attach(at(0.5, other), index)
    path = attach(at(0.5, index), index)
    data = json.loads(path.read_text())
    data["space"]["precision"] = "int8"  # measured on int8 vectors, used on this float32 index
    path.write_text(json.dumps(data))
    with pytest.raises(IndexMismatchError, match="precision int8 -> float32"):
        index.search(QUERY, k=4, min_score="calibrated")
    path.write_text("{broken")
    with pytest.raises(InputError, match="not a readable threshold"):
        index.search(QUERY, k=4, min_score="calibrated")


def test_near_duplicates_with_a_calibrated_threshold(index: Index) -> None:
    pairs = index.near_duplicates(0.0)
    top = pairs[0][2]
    attach(at(top, index), index)
    assert index.near_duplicates("calibrated") == index.near_duplicates(at(top, index)) == pairs[:1]
    with pytest.raises(IndexMismatchError, match="model fingerprint"):
        index.near_duplicates(at(top, Space("m", "c" * 64, "torch", "float32", 384)))


def test_faq_says_no_confident_match_below_the_threshold(tmp_path: Path, encoder: Encoder) -> None:
    entries = [{"question": "How do I reset my password?", "answer": "Use the sign-in page's link."},
               {"question": "Where can I download my invoices?", "answer": "Under Billing."}]  # fmt: skip
    faq = FaqAnswerer.build(tmp_path / "faq", entries, encoder)
    close = faq.answer("I forgot my password").confidence
    attach(at(close, faq.index), faq.index)
    calibrated = FaqAnswerer(faq.index, min_confidence="calibrated")
    assert calibrated.min_confidence == pytest.approx(close)
    assert calibrated.answer("I forgot my password").reply == "Use the sign-in page's link."
    unrelated = calibrated.answer("What is the capital of Peru?")
    assert unrelated.answer is None
    assert unrelated.reply.startswith("No confident match: the closest question")


def test_server_abstains_when_no_hit_passes_the_threshold(index: Index, model: EmbeddingModel) -> None:
    from embedlab.serve.app import ServeConfig, create_app
    from tests.serve.conftest import running

    scores = [hit.score for hit in index.search(QUERY, k=4)]
    attach(at(scores[1], index), index)
    config = ServeConfig(indexes={"docs": str(index.path)}, max_wait=0.02)
    body = {"index": "docs", "query": QUERY, "k": 4, "min_score": "calibrated"}
    with running(create_app(config, encoder=Encoder(model))) as url:
        passing = httpx.post(f"{url}/v1/search", json=body).json()
        plain = httpx.post(f"{url}/v1/search", json={**body, "min_score": None}).json()
        attach(at(scores[0] + 0.01, index), index)
        abstaining = httpx.post(f"{url}/v1/search", json=body).json()
        at(0.5, Space("m", "d" * 64, "torch", "float32", 384)).save(index.path / FILENAME)
        refused = httpx.post(f"{url}/v1/search", json=body)
    assert [hit["score"] for hit in passing["data"]] == pytest.approx(scores[:2], abs=1e-6)
    assert passing["abstained"] is False and plain["abstained"] is False and len(plain["data"]) == 4
    assert abstaining == {"object": "list", "data": [], "abstained": True}
    assert refused.status_code == 422 and "model fingerprint" in refused.json()["error"]["message"]


@pytest.mark.slow  # three commands, each loading the model
def test_cli_calibrates_attaches_shows_and_searches(tmp_path: Path, index: Index) -> None:
    runner = CliRunner()
    rows = [("A cat sleeps on the sofa.", "A kitten naps on the couch.", 1),
            ("The oven is hot.", "Bake the bread in a hot oven.", 1),
            ("Stocks fell today.", "Share prices dropped this afternoon.", 1),
            ("He plays the guitar.", "A man is playing a guitar.", 1),
            ("A cat sleeps on the sofa.", "Stocks fell today.", 0),
            ("The oven is hot.", "He plays the guitar.", 0),
            ("Stocks fell today.", "A kitten naps on the couch.", 0),
            ("He plays the guitar.", "Bake the bread in a hot oven.", 0)] * 2  # fmt: skip
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("text1,text2,label\n" + "".join(f'"{a}","{b}",{y}\n' for a, b, y in rows), encoding="utf-8")
    result = runner.invoke(app, ["threshold", "calibrate", "--pairs", str(pairs), "--objective", "f1",
                                 "-o", str(tmp_path / "t.json")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "held-out (8 pairs)" in result.output and (tmp_path / "t.png").stat().st_size > 0
    saved = Threshold.load(tmp_path / "t.json")
    assert saved.objective == "f1" and saved.n_pairs["fit"] == 8
    attached = runner.invoke(app, ["threshold", "calibrate", "--pairs", str(pairs), "--objective", "f1",
                                   "--index", str(index.path)])  # fmt: skip
    assert attached.exit_code == 0, attached.output
    assert Threshold.load(index.path / FILENAME).value == saved.value  # same pairs, same split, same model
    shown = runner.invoke(app, ["threshold", "show", str(index.path), "--json"])
    assert json.loads(shown.output)["space"]["fingerprint"] == index.settings["model"]["fingerprint"]
    searched = runner.invoke(app, ["index", "search", str(index.path), QUERY, "--min-score", "calibrated", "--json"])
    assert searched.exit_code == 0, searched.output
    assert all(hit["score"] >= saved.value for hit in json.loads(searched.output))
    bad = runner.invoke(app, ["threshold", "calibrate", "--pairs", str(pairs), "--objective", "accuracy"])
    assert bad.exit_code != 0
