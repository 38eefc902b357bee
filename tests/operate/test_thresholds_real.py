"""On real labelled pairs (ESCO job titles), a precision>=0.9 threshold holds 0.9 +- 0.03 on held-out pairs.

A smaller sample than ``bench/thresholds.py`` (4,000 ESCO titles and all 8,628 STS-B pairs, five splits:
encoding those takes minutes on 2 cores, STS-B being the larger); the figures of both are in its output.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.thresholds import esco_pairs
from embedlab import Encoder
from embedlab.operate.thresholds import calibrate_pairs, pair_scores

pytestmark = [pytest.mark.slow, pytest.mark.shared]


def test_held_out_precision_lands_on_the_objective(shared_data: Path, encoder: Encoder) -> None:
    texts1, texts2, labels = esco_pairs(shared_data, 1000)  # 1,000 titles: 1,000 matches, 1,000 hard non-matches
    threshold = calibrate_pairs(pair_scores(encoder, texts1, texts2), labels, "precision>=0.9", space=encoder)
    assert threshold.fitted["precision"] >= 0.9
    assert threshold.held_out["precision"]["value"] == pytest.approx(0.9, abs=0.03), threshold.describe()
    assert threshold.n_pairs == {"fit": 1000, "fit_positives": 500, "held_out": 1000, "held_out_positives": 500}
