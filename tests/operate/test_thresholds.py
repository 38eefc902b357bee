"""The threshold core against hand-computed curves, and the artefact's save, load and refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from embedlab import Encoder
from embedlab.errors import IndexMismatchError, InputError
from embedlab.operate.thresholds import Objective, Space, Threshold, calibrate_pairs, fit_threshold, parse_objective

SPACE = Space("minilm", "a" * 64, "torch", "float32", 384)
# Curve of these pairs (a pair passes at score >= t): t=0.3 P 2/4 R 1; t=0.8 P 2/3 R 1; t=0.9 P 1 R 1/2.
SCORES, LABELS = [0.9, 0.8, 0.8, 0.3], [1, 1, 0, 0]


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("f1", Objective("f", 1.0)), ("fbeta:0.5", Objective("f", 0.5)), ("precision >= 0.9", Objective("precision", 0.9)),
     ("recall>=1", Objective("recall", 1.0))],
)  # fmt: skip
def test_objectives_parse(text: str, parsed: Objective) -> None:
    assert parse_objective(text) == parsed
    assert parse_objective(str(parsed)) == parsed


@pytest.mark.parametrize("text", ["f2x", "fbeta:0", "precision>=1.5", "precision>0.9", "accuracy>=0.9", ""])
def test_a_bad_objective_names_the_accepted_forms(text: str) -> None:
    with pytest.raises(InputError, match=r"f1, fbeta:B \(B > 0\), precision>=P or recall>=R"):
        parse_objective(text)


@pytest.mark.parametrize(
    ("objective", "value", "precision", "recall", "f"),
    [
        ("f1", 0.8, 2 / 3, 1.0, 0.8),  # F1: 2/3 at 0.3, 0.8 at 0.8, 2/3 at 0.9
        ("fbeta:0.5", 0.9, 1.0, 0.5, 1.25 * 0.5 / (0.25 + 0.5)),  # F0.5: 0.714 at 0.8, 0.833 at 0.9
        ("precision>=0.9", 0.9, 1.0, 0.5, 2 / 3),  # 0.8 would split the tie (and give P 1, R 1): not a candidate
        ("precision>=0.6", 0.8, 2 / 3, 1.0, 0.8),  # the lowest threshold with P >= 0.6: the highest recall
        ("recall>=1", 0.8, 2 / 3, 1.0, 0.8),  # the highest threshold keeping R 1
    ],
)
def test_hand_computed_thresholds(objective: str, value: float, precision: float, recall: float, f: float) -> None:
    fit = fit_threshold(SCORES, LABELS, objective)
    assert (fit.value, fit.precision, fit.recall) == pytest.approx((value, precision, recall))
    assert fit.f == pytest.approx(f)


def test_equal_scores_pass_or_fail_together() -> None:
    fit = fit_threshold([0.5, 0.5, 0.5, 0.5, 0.1], [1, 0, 1, 0, 0], "f1")
    assert (fit.value, fit.precision, fit.recall) == pytest.approx((0.5, 0.5, 1.0))
    with pytest.raises(InputError, match=r"No threshold reaches precision>=0.9 .* best precision is 0.5000"):
        fit_threshold([0.5, 0.5, 0.5, 0.5, 0.1], [1, 0, 1, 0, 0], "precision>=0.9")


@pytest.mark.parametrize(
    ("scores", "labels", "message"),
    [([0.1, 0.2], [1, 1], "positive and negative pairs"), ([0.1, 0.2], [1, 2], "Labels must be 0 or 1"),
     ([0.1], [1, 0], "1 scores but 2 labels"), ([np.nan, 0.2], [1, 0], "finite")],
)  # fmt: skip
def test_bad_pairs_are_refused(scores: list[float], labels: list[int], message: str) -> None:
    with pytest.raises(InputError, match=message):
        fit_threshold(scores, labels, "f1")


def test_fit_on_one_split_report_on_the_other() -> None:
    # held-out: 0.85 (pos) and 0.8 (neg) pass 0.8, 0.5 (pos) and 0.2 (neg) do not: P 1/2, R 1/2, F 1/2
    threshold = calibrate_pairs(SCORES, LABELS, "f1", space=SPACE, held_out=([0.85, 0.8, 0.5, 0.2], [1, 0, 1, 0]))
    assert threshold.value == 0.8
    assert threshold.fitted == pytest.approx({"precision": 2 / 3, "recall": 1.0, "f": 0.8})
    assert {name: held["value"] for name, held in threshold.held_out.items()} == pytest.approx(
        {"precision": 0.5, "recall": 0.5, "f": 0.5}
    )
    assert all(held["low"] <= held["value"] <= held["high"] for held in threshold.held_out.values())
    assert threshold.n_pairs == {"fit": 4, "fit_positives": 2, "held_out": 4, "held_out_positives": 2}
    assert threshold.space == SPACE


def test_groups_stay_on_one_side_of_the_split() -> None:
    rng = np.random.default_rng(1)
    labels = np.tile([1, 0], 100)
    scores = rng.normal(labels, 1.0)
    threshold = calibrate_pairs(scores, labels, "f1", space=SPACE, groups=np.repeat(np.arange(100), 2), seed=3)
    assert threshold.n_pairs["fit"] == threshold.n_pairs["held_out"] == 100
    assert threshold.n_pairs["fit_positives"] == threshold.n_pairs["held_out_positives"] == 50  # each group: 1 + 1


def test_saved_and_loaded_unchanged(tmp_path: Path) -> None:
    threshold = calibrate_pairs(SCORES, LABELS, "precision>=0.9", space=SPACE, held_out=(SCORES, LABELS))
    assert Threshold.load(threshold.save(tmp_path / "t.json")) == threshold


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json", "not a readable threshold"), ("[1, 2]", "not an embedlab threshold"),
     ('{"format": "embedlab-index/1"}', "not an embedlab threshold"),
     ('{"format": "embedlab-threshold/1", "value": 0.5}', "malformed embedlab threshold"),
     (b"\xff\xfe", "not a readable threshold")],
)  # fmt: skip
def test_a_corrupt_or_foreign_file_is_refused(tmp_path: Path, content: str | bytes, message: str) -> None:
    path = tmp_path / "threshold.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(InputError, match=message):
        Threshold.load(path)


def test_a_truncated_artefact_is_refused(tmp_path: Path) -> None:
    saved = calibrate_pairs(SCORES, LABELS, "f1", space=SPACE, held_out=(SCORES, LABELS)).save(tmp_path / "t.json")
    data = json.loads(saved.read_text())
    del data["held_out"]["recall"]
    saved.write_text(json.dumps(data))
    with pytest.raises(InputError, match="malformed"):
        Threshold.load(saved)
    with pytest.raises(InputError, match="No threshold at"):
        Threshold.load(tmp_path / "missing.json")


@pytest.mark.parametrize(
    ("other", "named"),
    [(Space("minilm", "b" * 64, "torch", "float32", 384), "model fingerprint aaaaaaaaaaaa -> bbbbbbbbbbbb"),
     (Space("minilm", "a" * 64, "torch", "int8", 384), "precision float32 -> int8"),
     (Space("minilm", "a" * 64, "torch", "float32", 128), "dims 384 -> 128"),
     (Space("minilm", "a" * 64, "onnx", "float32", 384), "backend torch -> onnx")],
)  # fmt: skip
def test_another_space_is_refused_naming_what_changed(other: Space, named: str) -> None:
    threshold = calibrate_pairs(SCORES, LABELS, "f1", space=SPACE, held_out=(SCORES, LABELS))
    assert threshold.check(SPACE) is threshold
    with pytest.raises(IndexMismatchError, match=named) as refused:
        threshold.check(other)
    assert "recalibrate" in str(refused.value)
    assert str(other) in str(refused.value)


def test_benchmark_pairs_are_each_querys_hits_labelled_by_qrels() -> None:
    from embedlab.evaluate import RetrievalBenchmark
    from embedlab.operate.thresholds import benchmark_pairs, calibrate_from_benchmark

    hits = {"q1": [("d1", 0.9), ("d2", 0.7)], "q2": [("d3", 0.8), ("d1", 0.4)], "q3": [("d2", 0.6), ("d3", 0.5)],
            "q4": [("d1", 0.85), ("d3", 0.3)]}  # fmt: skip
    bench = RetrievalBenchmark(
        corpus={"d1": "a", "d2": "b", "d3": "c"}, queries={q: q for q in hits},
        qrels={"q1": {"d1": 1}, "q2": {"d3": 2, "d1": 0}, "q3": {"d3": 1}, "q4": {"d1": 1}},
    )  # fmt: skip

    def search(queries: list[str], k: int) -> list[list[tuple[str, float]]]:
        return [hits[query][:k] for query in queries]

    scores, labels, groups = benchmark_pairs(search, bench, k=2)
    assert scores.tolist() == [0.9, 0.7, 0.8, 0.4, 0.6, 0.5, 0.85, 0.3]
    assert labels.tolist() == [1, 0, 1, 0, 0, 1, 1, 0]  # grade 0 is not relevant
    assert groups == ["q1", "q1", "q2", "q2", "q3", "q3", "q4", "q4"]
    with pytest.raises(InputError, match="pass space="):
        calibrate_from_benchmark(search, bench, "f1")
    threshold = calibrate_from_benchmark(search, bench, "f1", space=SPACE, k=2, seed=0)
    assert threshold.n_pairs["fit"] == threshold.n_pairs["held_out"] == 4  # two queries, their hits together
    assert "top 2 hits of 4 queries" in threshold.source


def test_calibrate_from_pairs_scores_by_cosine_with_the_model(encoder: Encoder) -> None:
    from embedlab.operate.thresholds import calibrate_from_pairs, pair_scores

    first = ["A cat sleeps.", "The oven is hot.", "Stocks fell.", "He plays guitar."] * 2
    second = ["A kitten naps.", "Bake in a hot oven.", "A cat sleeps.", "The oven is hot."] * 2
    labels = [1, 1, 0, 0] * 2
    scores = pair_scores(encoder, first, second)
    vectors = encoder.encode(first[:1] + second[:1])
    assert scores[0] == pytest.approx(float(vectors[0] @ vectors[1]), abs=1e-5)
    threshold = calibrate_from_pairs(encoder, first, second, labels, "f1", seed=1)
    assert threshold.space == Space.of(encoder) and threshold.space.dims == 384
    assert threshold.n_pairs["fit"] + threshold.n_pairs["held_out"] == 8
    with pytest.raises(InputError, match="8 first texts, 8 second texts and 7 labels"):
        calibrate_from_pairs(encoder, first, second, labels[:7], "f1")
