"""On real labelled pairs (ESCO titles, STS-B), a precision>=0.9 threshold holds 0.9 +- 0.03 on held-out pairs.

Smaller samples than ``bench/thresholds.py`` (which runs 4,000 ESCO titles, all of STS-B and five splits).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.thresholds import esco_pairs, stsb_pairs
from embedlab import Encoder
from embedlab.operate.thresholds import calibrate_pairs, pair_scores

pytestmark = [pytest.mark.slow, pytest.mark.shared]


@pytest.mark.parametrize("pairs", ["esco", "stsb"])
def test_held_out_precision_lands_on_the_objective(pairs: str, shared_data: Path, encoder: Encoder) -> None:
    texts1, texts2, labels = esco_pairs(shared_data, 2000) if pairs == "esco" else stsb_pairs(shared_data)
    threshold = calibrate_pairs(pair_scores(encoder, texts1, texts2), labels, "precision>=0.9", space=encoder)
    held = threshold.held_out["precision"]
    assert held["value"] == pytest.approx(0.9, abs=0.03), threshold.describe()
    assert threshold.fitted["precision"] >= 0.9
