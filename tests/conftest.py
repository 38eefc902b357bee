"""Shared fixtures: the bundled model loaded once per session, and the shared data folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Nothing in the tests may reach the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from embedlab import EmbeddingModel, Encoder, load_model

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def model() -> EmbeddingModel:
    """The verified bundled all-MiniLM-L6-v2, loaded once for the whole session."""
    return load_model(device="cpu")


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


@pytest.fixture(scope="session")
def tiny_model(model: EmbeddingModel, tmp_path_factory: pytest.TempPathFactory) -> EmbeddingModel:
    """A one-layer 32-dimensional transformer saved as a folder (a source model that exports in seconds)."""
    from tests.variants import tiny_transformer

    return tiny_transformer(model, tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def tiny_onnx(tiny_model: EmbeddingModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of ``tiny_model``'s real ONNX variant, its (passing) parity recorded."""
    from tests.variants import onnx_variant

    return onnx_variant(tiny_model, tmp_path_factory.mktemp("tiny-onnx") / "variant")


@pytest.fixture(scope="session")
def static_variant(model: EmbeddingModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of a static variant of the bundled model, its (failing: another space) parity recorded."""
    from tests.variants import static_variant as build

    return build(model, tmp_path_factory.mktemp("static") / "variant")
