"""The index tests' fixtures: each storage precision of the search structure, a cross-encoder."""

from __future__ import annotations

import pytest
import torch
from sentence_transformers import CrossEncoder

from embedlab.index.compact import PRECISIONS
from embedlab.models import bundled_model_dir

FAST_PRECISIONS = ("float32", "binary")  # binary stands for the compressed forms in the fast suite


@pytest.fixture(params=[pytest.param(p, marks=() if p in FAST_PRECISIONS else pytest.mark.slow) for p in PRECISIONS])
def precision(request: pytest.FixtureRequest) -> str:
    """Each precision an index's search structure can hold (float16 and int8 in the slow suite only).

    A test that takes it runs once per precision; the ``index`` fixtures build their index at it.
    """
    return str(request.param)


@pytest.fixture(scope="session")
def cross_encoder() -> CrossEncoder:
    """A cross-encoder over the bundled model with an untrained head (its scores are arbitrary, but fixed)."""
    torch.manual_seed(0)
    return CrossEncoder(str(bundled_model_dir()), num_labels=1, device="cpu")
