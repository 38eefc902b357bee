"""Parity of a variant with its source model: its vectors must agree closely to be used in its place.

On a held sample of queries and documents (never the calibration texts) both models encode everything;
the record keeps the cosine between the two vectors of each text (mean and minimum) and the top-10
agreement: how many of a query's 10 nearest documents stay the same. *Cross* agreement ranks the
source's document vectors with the variant's query vectors, which is what encoding queries for an index
built by the source does; *own* agreement ranks the variant's vectors against each other, which is what
an index rebuilt with the variant gives. A variant passes when the mean cosine and the cross agreement
reach :data:`MIN_COSINE` and :data:`MIN_TOP10`; only then may it stand in for its source
(:meth:`embedlab.optimize.variants.VariantInfo.compatible_with`). A variant of another dimension (a
static model) never passes: its space is its own.

Example:
    >>> rng = np.random.default_rng(0)
    >>> q, d = rng.normal(size=(5, 8)), rng.normal(size=(30, 8))
    >>> parity_from_vectors(q, d, q, d).passed
    True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from embedlab.errors import InputError

#: Mean cosine between a text's source and variant vectors that a compatible variant reaches.
MIN_COSINE = 0.99
#: Share of the source's top-10 documents that a compatible variant's queries find (cross agreement).
MIN_TOP10 = 0.9
TOP = 10


@dataclass(frozen=True)
class ParityRecord:
    """Agreement of a variant's vectors with its source's on a held sample."""

    queries: int
    documents: int
    sample_hash: str
    cosine_mean: float | None
    cosine_min: float | None
    top10_cross: float | None
    top10_own: float
    min_cosine: float = MIN_COSINE
    min_top10: float = MIN_TOP10

    @property
    def passed(self) -> bool:
        """Mean cosine and cross top-10 agreement both at or above their thresholds."""
        if self.cosine_mean is None or self.top10_cross is None:
            return False
        return self.cosine_mean >= self.min_cosine and self.top10_cross >= self.min_top10

    def summary(self) -> str:
        """The figures in one line, with the thresholds they were held to."""
        if self.cosine_mean is None:
            return f"another vector space (other dimension); own top-10 agreement {self.top10_own:.3f}"
        return (
            f"mean cosine {self.cosine_mean:.4f} (min {self.cosine_min:.4f}; needs >= {self.min_cosine}), "
            f"top-10 agreement {self.top10_cross:.3f} (needs >= {self.min_top10}) on {self.queries} queries "
            f"x {self.documents} documents"
        )

    def to_dict(self) -> dict[str, object]:
        """JSON-ready, with ``passed``."""
        return {**asdict(self), "passed": self.passed}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> ParityRecord:
        """The inverse of :meth:`to_dict`."""
        return cls(**{key: value for key, value in data.items() if key in cls.__dataclass_fields__})  # type: ignore[arg-type]


def parity_from_vectors(
    source_queries: np.ndarray,
    source_docs: np.ndarray,
    variant_queries: np.ndarray,
    variant_docs: np.ndarray,
    *,
    sample_hash: str = "",
) -> ParityRecord:
    """Compare a variant's vectors with its source's on the same queries and documents (rows in the same order)."""
    if len(source_queries) != len(variant_queries) or len(source_docs) != len(variant_docs):
        raise InputError("Parity needs the same queries and documents encoded by both models.")
    if len(source_queries) == 0 or len(source_docs) == 0:
        raise InputError("Parity needs at least one query and one document.")
    sq, sd, vq, vd = (_unit(m) for m in (source_queries, source_docs, variant_queries, variant_docs))
    reference = _top(sq @ sd.T)
    own = _agreement(reference, _top(vq @ vd.T))
    if sq.shape[1] != vq.shape[1]:
        return ParityRecord(len(sq), len(sd), sample_hash, None, None, None, own)
    cosines = np.concatenate([np.sum(sq * vq, axis=1), np.sum(sd * vd, axis=1)])
    cross = _agreement(reference, _top(vq @ sd.T))
    return ParityRecord(len(sq), len(sd), sample_hash, float(cosines.mean()), float(cosines.min()), cross, own)


def measure_parity(
    source: Callable[[list[str]], np.ndarray],
    variant: Callable[[list[str]], np.ndarray],
    queries: Sequence[str],
    documents: Sequence[str],
) -> ParityRecord:
    """Encode the held sample with both models (``encode(texts) -> vectors``) and compare."""
    from embedlab.registry import data_hash

    queries, documents = list(queries), list(documents)
    sample_hash = data_hash([[text] for text in (*queries, *documents)])
    return parity_from_vectors(
        source(queries), source(documents), variant(queries), variant(documents), sample_hash=sample_hash
    )


def _unit(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float64)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


def _top(scores: np.ndarray) -> list[set[int]]:
    k = min(TOP, scores.shape[1])
    order = np.argsort(-scores, axis=1, kind="stable")  # ties: the earlier document
    return [set(row[:k].tolist()) for row in order]


def _agreement(reference: list[set[int]], other: list[set[int]]) -> float:
    return float(np.mean([len(a & b) / len(a) for a, b in zip(reference, other, strict=True)]))
