"""Bias directions (Bolukbasi et al. 2016), projections on them, and removing them from a model.

From definitional pairs such as ("woman", "man"), ("she", "he"): each pair's vectors are centred on their
mean and the principal components of all centred vectors span the bias subspace; the first is the bias
direction, oriented from the second word of the pairs towards the first. :func:`project` places any
text on it (cosine with the direction). :func:`debias_model` removes the subspace with a linear
projection ``I - U U^T`` stored as a standard sentence-transformers ``Dense`` module (identity
activation, no bias) before ``Normalize``, so the debiased model loads with plain
``SentenceTransformer(path)`` and needs nothing from embedlab.

Example:
    >>> # not run: illustrative; an audit uses word lists, and the values depend on the model
    >>> direction = bias_direction(Encoder(), [("woman", "man"), ("she", "he")])  # doctest: +SKIP
    >>> project(Encoder(), direction, ["nurse", "engineer"])  # doctest: +SKIP
    array([ 0.21, -0.08])
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embedlab.atomic import replace_folder
from embedlab.bias.association import is_text_list
from embedlab.encode import Encoder
from embedlab.errors import InputError
from embedlab.io import read_text_file, read_texts
from embedlab.models import EmbeddingModel, describe


@dataclass(frozen=True)
class BiasSubspace:
    """Orthonormal rows spanning a bias subspace, the first one oriented, and the variance each explains."""

    components: np.ndarray
    explained_variance_ratio: np.ndarray

    @property
    def direction(self) -> np.ndarray:
        """The first component: the bias direction."""
        return self.components[0]


def load_pairs_file(path: str | Path) -> list[tuple[str, str]]:
    """Definitional pairs from a JSON list of two-word lists (the debiaswe format)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a readable JSON list of pairs ({exc}).") from exc
    if not isinstance(data, list) or not all(isinstance(p, list) and len(p) == 2 and is_text_list(p) for p in data):
        raise InputError(f"{path}: expected a JSON list of [word, word] pairs of non-empty strings.")
    if not data:
        raise InputError(f"{path}: the list of pairs is empty; a bias direction needs at least two pairs.")
    return [(first, second) for first, second in data]


def load_words_file(path: str | Path) -> list[str]:
    """Words to project, from a JSON list or a text file with a word a line.

    The JSON list holds words, or lists whose first item is the word (debiaswe's professions); ``_``
    becomes a space.

    Raises:
        InputError: not readable, not such a list, or no words at all.
    """
    path = Path(path)
    if path.suffix.lower() != ".json":
        words = read_texts(path).texts
    else:
        try:
            data = json.loads(read_text_file(path))
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{path}: not valid JSON ({exc.msg}); give a JSON list or a .txt with a word a line."
            ) from exc
        items = (
            [item[0] if isinstance(item, list) and item else item for item in data] if isinstance(data, list) else []
        )
        if not isinstance(data, list) or not is_text_list(items):
            raise InputError(f"{path}: expected a JSON list of words (or of [word, ...] lists).")
        words = [item.replace("_", " ") for item in items]
    if not words:
        raise InputError(f"{path}: no words to project.")
    return words


def bias_direction(encoder: Encoder, pairs: Sequence[tuple[str, str]], *, components: int = 1) -> BiasSubspace:
    """The bias subspace of ``encoder``'s model from definitional pairs."""
    if len(pairs) < 2:
        raise InputError(f"Need at least two definitional pairs, got {len(pairs)}.")
    first = encoder.encode([p[0] for p in pairs])
    second = encoder.encode([p[1] for p in pairs])
    return subspace_from_pairs(first, second, components=components)


def subspace_from_pairs(first: np.ndarray, second: np.ndarray, *, components: int = 1) -> BiasSubspace:
    """The core of :func:`bias_direction` on vectors: PCA of pair-centred unit vectors."""
    first, second = _unit(first), _unit(second)
    centre = (first + second) / 2
    centred = np.concatenate([first - centre, second - centre])
    _, singular, rows = np.linalg.svd(centred, full_matrices=False)
    if not 1 <= components <= len(rows):
        raise InputError(f"components must be between 1 and {len(rows)}, got {components}.")
    basis = rows[:components].copy()
    if float(np.mean((first - second) @ basis[0])) < 0:  # point towards the first word of the pairs
        basis[0] = -basis[0]
    variance = singular**2 / np.sum(singular**2)
    return BiasSubspace(components=basis.astype(np.float32), explained_variance_ratio=variance[:components])


def project(encoder: Encoder, subspace: BiasSubspace, texts: Sequence[str]) -> np.ndarray:
    """Cosine of each text's vector with the bias direction (positive: towards the pairs' first words)."""
    return _unit(encoder.encode(list(texts))) @ subspace.direction


def removal_matrix(subspace: BiasSubspace) -> np.ndarray:
    """``I - U^T U``: the linear map that removes the subspace."""
    basis = subspace.components.astype(np.float64)
    return np.eye(basis.shape[1]) - basis.T @ basis


def debias_model(model: EmbeddingModel, subspace: BiasSubspace, out: str | Path) -> EmbeddingModel:
    """Save a copy of ``model`` whose vectors have no component in ``subspace``; return it loaded.

    The copy is written to a temporary folder and renamed into place, so ``out`` never holds half a
    model; the original model's folder is not touched, and an existing ``out`` is refused (never replaced).
    """
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Dense, Normalize

    modules = list(model.st)
    if modules and type(modules[-1]).__name__ == "Normalize":
        modules = modules[:-1]
    dim = model.info.dimension
    if subspace.components.shape[1] != dim:
        raise InputError(f"The subspace has dimension {subspace.components.shape[1]}, the model {dim}.")
    weight = torch.tensor(removal_matrix(subspace), dtype=torch.float32)
    dense = Dense(dim, dim, bias=False, activation_function=torch.nn.Identity(), init_weight=weight)
    debiased = SentenceTransformer(modules=[*modules, dense, Normalize()], device=str(model.st.device))
    debiased.max_seq_length = model.st.max_seq_length
    target = Path(out)
    if target.exists():
        raise InputError(f"{target} already exists; choose a new folder for the debiased model.")
    with replace_folder(target) as staging:
        debiased.save(str(staging))
    return EmbeddingModel(
        debiased, describe(debiased, name=f"{model.info.name} (debiased)", source="local", path=target)
    )


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)
