"""Shared fixtures: an encoder over the session's model (``model``, in the root conftest.py), the shared data."""

from __future__ import annotations

from pathlib import Path

import pytest

from embedlab import EmbeddingModel, Encoder

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def encoder(model: EmbeddingModel) -> Encoder:
    """A fresh encoder over the session's model, without a cache."""
    return Encoder(model, show_progress=False)


@pytest.fixture
def shared_data() -> Path:
    """../shared/data, or a skip with the reason when this clone has none (CI always has it)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"needs the shared datasets at {SHARED_DATA} (present in CI, absent in a bare clone)")
    return SHARED_DATA
