"""Agreement measures against hand-computed values."""

from __future__ import annotations

import pytest

from embedlab.operate.compare import agreement, rbo


def test_rbo_hand_values() -> None:
    assert rbo(["a", "b", "c"], ["a", "b", "c"]) == pytest.approx(1.0)
    # swapped pair, p = 0.5: X1 = 0, X2 = 2 -> 2/2 * 0.25 + (0.5 / 0.5) * (0 + 2/2 * 0.25) = 0.5
    assert rbo(["a", "b"], ["b", "a"], p=0.5) == pytest.approx(0.5)
    assert rbo(["a", "b"], ["c", "d"], p=0.9) == 0.0
    # ["a", "b", "c"] vs ["a", "c", "d"], p = 0.5: X = 1, 1, 2 -> 2/3 * 1/8 + 1 * (1/2 + 1/2 * 1/4 + 2/3 * 1/8)
    assert rbo(["a", "b", "c"], ["a", "c", "d"], p=0.5) == pytest.approx(2 / 24 + 0.5 + 0.125 + 2 / 24)
    assert rbo([], []) == 1.0


def test_overlap_jaccard_top1() -> None:
    found = agreement(["a", "b", "c", "x"], ["b", "a", "d"], k=3, p=0.9)
    assert found["overlap"] == pytest.approx(2 / 3)  # {a, b} shared of 3
    assert found["jaccard"] == pytest.approx(2 / 4)  # {a, b} of {a, b, c, d}
    assert found["top1"] == 0.0
    assert agreement(["a"], ["a", "b"], k=1, p=0.9)["top1"] == 1.0
