"""Each monitoring signal on exact small cases: no alarm on identical samples, an alarm on separated ones."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from embedlab.errors import InputError
from embedlab.operate.monitor import History, QueryRecord, classifier_test, mmd_test, probe_check, rate_shift
from embedlab.operate.monitor.baseline import read_canary, read_threshold
from embedlab.operate.monitor.drift import permutation_p, score_shift


def test_permutation_p_value_counts_ties_and_the_observed_value() -> None:
    assert permutation_p(0.5, np.array([0.1, 0.2, 0.6])) == 0.5  # (1 + 1) / (1 + 3)
    assert permutation_p(1.0, np.zeros(99)) == 0.01  # never 0: the smallest is 1 / (1 + permutations)
    assert permutation_p(0.0, np.zeros(9)) == 1.0  # a tie counts against drift


def test_mmd_identical_samples_never_alarm_and_separated_clusters_do() -> None:
    points = np.random.default_rng(0).normal(size=(40, 3))
    same = mmd_test(points, points.copy(), permutations=199)
    assert same.value == pytest.approx(0.0, abs=1e-12)
    assert same.p_value == 1.0 and not same.alarm  # every permutation ties with 0
    apart = mmd_test(points, points + 10.0, permutations=199)
    assert apart.p_value == pytest.approx(1 / 200) and apart.alarm  # no permutation reaches the observed split


def test_classifier_auc_is_one_for_separated_clusters_and_p_at_its_floor() -> None:
    rng = np.random.default_rng(1)
    reference, current = rng.normal(size=(40, 5)), rng.normal(size=(40, 5)) + 6.0
    signal = classifier_test(reference, current, permutations=99)
    assert signal.value == 1.0
    assert signal.p_value == pytest.approx(1 / 100) and signal.alarm
    same = classifier_test(reference, reference.copy(), permutations=99)
    assert not same.alarm


def test_the_permutation_tests_are_uniform_under_no_drift() -> None:
    """Under the null hypothesis a permutation p-value falls at or below alpha at most about alpha of the time."""
    rng = np.random.default_rng(2)
    mmd, auc = [], []
    for trial in range(60):
        pool = rng.normal(size=(40, 4))
        mmd.append(mmd_test(pool[:20], pool[20:], permutations=99, seed=trial).p_value)
        auc.append(classifier_test(pool[:20], pool[20:], permutations=99, seed=trial).p_value)
    for p_values in (np.array(mmd), np.array(auc)):
        assert np.mean(p_values <= 0.05) <= 0.12  # 60 trials: 0.05 plus two standard errors and a bit
        assert 0.35 < np.mean(p_values) < 0.65  # uniform: mean 1/2


def test_score_shift_and_rate_shift() -> None:
    scores = np.linspace(0.3, 0.8, 50)
    assert score_shift(scores, scores).p_value == 1.0
    shifted = score_shift(scores, scores - 0.4)
    assert shifted.value == pytest.approx(0.8, abs=0.02) and shifted.alarm  # KS: 80% of the mass moved past
    assert rate_shift((0, 50), (0, 50)).p_value == 1.0
    more = rate_shift((1, 100), (20, 100))
    assert more.value == 0.2 and more.alarm
    assert not rate_shift((20, 100), (1, 100)).alarm  # fewer empty results is not an alarm
    with pytest.raises(InputError, match="within their totals"):
        rate_shift((5, 2), (0, 1))


def test_probes_survive_float_noise_and_catch_quantisation_and_another_space() -> None:
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(8, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    noise = vectors + rng.normal(scale=1e-6, size=vectors.shape).astype(np.float32)  # another batch shape / CPU
    assert not probe_check(vectors, noise).alarm
    int8 = np.round(vectors * 127) / 127  # what an int8 model's rounding does to its outputs, and more
    assert probe_check(vectors, int8 + rng.normal(scale=0.02, size=vectors.shape)).alarm
    other = probe_check(vectors, np.zeros((8, 32), np.float32))
    assert other.alarm and other.detail["current_shape"] == [8, 32]


def test_history_appends_and_reads_runs_and_queries(tmp_path: Path) -> None:
    history = History(tmp_path / "monitor")
    assert history.latest() is None
    history.log_queries([QueryRecord(time=1.0, query="a", top_score=0.5), QueryRecord(time=2.0, query="b", empty=True)])
    history.log_queries([QueryRecord(time=3.0, query="c", source="log")])
    first = history.append_run(False, [{"name": "x", "value": 1.0}])
    second = History(tmp_path / "monitor").append_run(True, [{"name": "x", "value": 2.0}], {"notes": ["n"]})
    assert [run.id for run in history.runs()] == [first, second]
    latest = history.latest()
    assert latest is not None and latest.alarm and latest.signals == [{"name": "x", "value": 2.0}]
    assert latest.extra == {"notes": ["n"]}
    assert [r.query for r in history.queries(since=1.0)] == ["b", "c"]
    assert [r.query for r in history.queries(source="server")] == ["a", "b"]
    assert history.queries(limit=1)[0].query == "c"
    assert history.queries()[1].empty and history.queries()[0].top_score == 0.5
    mode = __import__("sqlite3").connect(history.path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_threshold_file_is_read_defensively(tmp_path: Path) -> None:
    assert read_threshold(tmp_path) is None
    (tmp_path / "threshold.json").write_text('{"value": 0.42, "kind": "anything"}')
    assert read_threshold(tmp_path) == 0.42
    assert read_threshold(tmp_path, 0.3) == 0.3  # given wins
    for broken in ("not json", "[1, 2]", '{"value": "high"}', '{"value": true}'):
        (tmp_path / "threshold.json").write_text(broken)
        assert read_threshold(tmp_path) is None


def test_canary_file(tmp_path: Path) -> None:
    path = tmp_path / "canary.jsonl"
    rows = [{"query": "q1", "doc_id": "a"}, {"query": "q2", "doc_id": ["b", "c"]}, {"query": "q1", "doc_id": "d"}]
    path.write_text("\n".join(json.dumps(row) for row in rows))
    canary = read_canary(path)
    assert list(canary.queries.values()) == ["q1", "q2"]
    assert canary.qrels == {"c0": {"a": 1, "d": 1}, "c1": {"b": 1, "c": 1}}
    path.write_text(json.dumps({"query": "q1"}))
    with pytest.raises(InputError, match=r"canary.jsonl:1: .*doc_id"):
        read_canary(path)
