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
