"""Holm's correction of a run's query tests: hand-computed adjusted p-values, which alarms survive, old histories."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embedlab.errors import InputError
from embedlab.operate.monitor import DRIFT_FAMILY, History, MonitorRun, Signal, correct, holm
from embedlab.operate.monitor.report import render_report


def test_holm_against_hand_computed_values() -> None:
    # sorted: 0.005 * 4 = 0.02, 0.01 * 3 = 0.03, 0.03 * 2 = 0.06, 0.04 * 1 = 0.04 -> max(0.06, 0.04) = 0.06
    adjusted = holm([0.01, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert (adjusted < 0.05).tolist() == [True, False, False, True]  # every raw p < 0.05; two survive
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])  # 0.5 * 2 = 1.0; 0.6 raised to it; capped at 1
    assert holm([0.02, 0.02, 0.9]) == pytest.approx([0.06, 0.06, 0.9])  # ties: 0.02 * 3, 0.02 * 2 -> 0.06
    assert holm([0.03]) == pytest.approx([0.03])  # a family of one: the test itself
    assert holm([]).shape == (0,)
    for bad in ([1.5], [-0.1], [float("nan")], [[0.1, 0.2]]):
        with pytest.raises(InputError, match="p-values in"):
            holm(bad)


def test_holm_matches_the_step_down_procedure() -> None:
    """Adjusted p < alpha rejects what Holm's step-down rejects: the i-th smallest against alpha / (m - i)."""
    rng = np.random.default_rng(0)
    for _ in range(200):
        p = rng.uniform(0, 0.1, size=int(rng.integers(1, 8)))
        rejected = np.zeros(len(p), bool)
        for step, i in enumerate(np.argsort(p)):
            if p[i] >= 0.05 / (len(p) - step):
                break
            rejected[i] = True
        assert ((holm(p) < 0.05) == rejected).all(), p


def signal(name: str, p: float | None, alarm: bool | None = None) -> Signal:
    """A signal as its test returns it: alarm when ``p < 0.05`` unless said otherwise."""
    return Signal(name, 0.5, p, (p is not None and p < 0.05) if alarm is None else alarm)


def query_tests(p_values: list[float]) -> list[Signal]:
    return [signal(name, p) for name, p in zip(DRIFT_FAMILY, p_values, strict=True)]


def test_a_raw_alarm_that_no_longer_alarms_and_one_that_still_does() -> None:
    others = [signal("probe_mismatch", None, False), signal("canary_ndcg@10", 0.03, True)]
    before = [*others, *query_tests([0.03, 0.2, 0.5, 0.6, 0.9])]
    assert MonitorRun(before).alarm and before[2].alarm  # uncorrected: 0.03 < 0.05
    after = correct(before, alpha=0.05)
    by_name = {s.name: s for s in after}
    assert by_name["top1_score_ks"].p_value == 0.03  # the raw p-value is kept
    assert by_name["top1_score_ks"].adjusted_p == pytest.approx(0.15) and not by_name["top1_score_ks"].alarm
    assert [s.adjusted_p for s in after[2:]] == pytest.approx([0.15, 0.8, 1.0, 1.0, 1.0])  # 0.2*4, then capped
    assert after[:2] == others  # outside the family: untouched (the canary still alarms on its own p-value)
    assert not MonitorRun(after[2:]).alarm

    still = correct(query_tests([0.004, 0.2, 0.5, 0.6, 0.9]), alpha=0.05)
    assert still[0].adjusted_p == pytest.approx(0.02) and still[0].alarm and MonitorRun(still).alarm
    assert not correct(query_tests([0.004, 0.2, 0.5, 0.6, 0.9]), alpha=0.01)[0].alarm  # 0.02 >= 0.01


def test_a_smaller_family_when_tests_are_skipped() -> None:
    # no threshold: no empty_rate, four tests; 0.012 * 4 = 0.048 < 0.05 alarms (it would not among five)
    found = correct(query_tests([0.012, 0.3, 0.5, 0.6, 0.9])[:2] + query_tests([0.012] * 5)[3:], alpha=0.05)
    assert [s.name for s in found] == ["top1_score_ks", "topk_score_ks", "query_mmd", "query_classifier_auc"]
    assert found[0].adjusted_p == pytest.approx(0.048) and found[0].alarm
    assert correct([], alpha=0.05) == []


def test_runs_recorded_before_the_correction_still_load_and_render(tmp_path: Path) -> None:
    history = History(tmp_path / "monitor")
    old = [{"name": "query_mmd", "value": 0.25, "p_value": 0.03, "alarm": True, "detail": {}},
           {"name": "probe_mismatch", "value": 0.0, "p_value": None, "alarm": False, "detail": {}}]  # fmt: skip
    history.append_run(True, old, {"notes": ["an old run"], "drifted": [], "queries": 30})
    new = correct(query_tests([0.03, 0.2, 0.5, 0.6, 0.9]), alpha=0.05)
    correction = {"method": "holm", "alpha": 0.05, "family": list(DRIFT_FAMILY)}
    history.append_run(False, [s.to_dict() for s in new], {"notes": [], "drifted": [], "correction": correction})
    first, second = history.runs()
    assert first.signals == old and first.alarm  # read back as written: no adjusted p-value, the old verdict
    assert second.signals[0]["p_value"] == 0.03 and second.signals[0]["adjusted_p"] == pytest.approx(0.15)
    page = render_report([first], [], "old")
    assert "<td>0.0300</td><td></td><td><span class='worse'>ALARM" in page  # no adjusted p: a blank cell
    assert "Holm" not in page
    page = render_report([first, second], [], "both")
    assert "<td>0.0300</td><td>0.1500</td><td><span class='same'>ok" in page
    assert "Holm over the 5 query tests" in page
