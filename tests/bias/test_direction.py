from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from embedlab import EmbeddingModel, Encoder, InputError
from embedlab.bias import BiasAudit, audit_model, bias_direction, debias_model, project
from embedlab.bias.direction import BiasSubspace, removal_matrix, subspace_from_pairs

PAIRS = [("woman", "man"), ("she", "he"), ("girl", "boy"), ("mother", "father"), ("her", "his")]


def test_planted_direction_is_recovered_and_removed() -> None:
    rng = np.random.default_rng(0)
    planted = rng.standard_normal(64)
    planted /= np.linalg.norm(planted)
    base = rng.standard_normal((20, 64))
    first = base + 0.8 * planted + 0.05 * rng.standard_normal((20, 64))
    second = base - 0.8 * planted + 0.05 * rng.standard_normal((20, 64))
    subspace = subspace_from_pairs(first, second)
    assert float(subspace.direction @ planted) > 0.95  # recovered, and oriented towards the first words
    assert subspace.explained_variance_ratio[0] > 0.5
    cleaned = (first / np.linalg.norm(first, axis=1, keepdims=True)) @ removal_matrix(subspace).T
    assert np.abs(cleaned @ subspace.direction).max() < 1e-6  # projection ~0 after the removal


def test_direction_of_the_bundled_model_orders_words(encoder: Encoder) -> None:
    subspace = bias_direction(encoder, PAIRS)
    she, he = project(encoder, subspace, ["queen", "king"])
    assert she > 0 > he
    with pytest.raises(InputError, match="at least two definitional pairs"):
        bias_direction(encoder, PAIRS[:1])


def test_debiased_model_reloads_with_plain_sentence_transformers(model: EmbeddingModel, tmp_path: Path) -> None:
    encoder = Encoder(model)
    subspace = bias_direction(encoder, PAIRS, components=2)
    debiased = debias_model(model, subspace, tmp_path / "debiased")
    words = ["nurse", "engineer", "queen", "king", "The weather is lovely today."]
    ours = Encoder(debiased).encode(words)
    plain = SentenceTransformer(str(tmp_path / "debiased"), device="cpu").encode(words)
    np.testing.assert_allclose(plain, ours, atol=1e-6)  # the same vectors, without embedlab
    assert np.abs(ours @ subspace.components.T).max() < 1e-5  # no component left in the subspace
    assert np.abs(project(encoder, subspace, words)).max() > 0.05  # the original still has it
    assert debiased.fingerprint != model.fingerprint
    assert [type(m).__name__ for m in debiased.st] == ["Transformer", "Pooling", "Dense", "Normalize"]
    assert not list(tmp_path.glob(".*saving"))  # the staging folder was renamed into place


def test_wrong_dimension_is_refused(model: EmbeddingModel, tmp_path: Path) -> None:
    subspace = BiasSubspace(np.ones((1, 8), np.float32) / np.sqrt(8), np.array([1.0]))
    with pytest.raises(InputError, match="dimension 8, the model 384"):
        debias_model(model, subspace, tmp_path / "x")


def test_empty_lists_are_errors_in_the_library_too(model: EmbeddingModel) -> None:
    with pytest.raises(InputError, match="list of words to project is empty"):
        audit_model(model, pairs=PAIRS, words=[])
    with pytest.raises(InputError, match="list of definitional pairs is empty"):
        audit_model(model, pairs=[], words=["nurse"])
    with pytest.raises(InputError, match="give the definitional pairs"):
        audit_model(model, words=["nurse"])
    with pytest.raises(InputError, match="Nothing to audit"):
        audit_model(model)
    assert BiasAudit(model={}).mean_abs_projection is None  # no words projected is not "no bias"


def test_debiasing_never_replaces_an_existing_folder(model: EmbeddingModel, tmp_path: Path) -> None:
    subspace = BiasSubspace(np.eye(384, dtype=np.float32)[:1], np.array([1.0]))
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(InputError, match="already exists"):
        debias_model(model, subspace, tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
