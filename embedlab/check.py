"""Quality checks on a matrix of embeddings, returned as a structured report.

What is checked, and why it matters:

- no rows or no dimensions (error): an empty file is a failed export, not a clean one.
- NaN/Inf values (error): any similarity with such a row is meaningless.
- all-zero rows (warning): empty texts encoded with ``on_empty="zero"``, or a broken pipeline.
- norms (info, or error if unit vectors were expected and are not): dot product equals cosine only for
  unit vectors.
- dead dimensions (info; warning above 10%): dimensions with no variance carry no information
  (all-MiniLM-L6-v2 has 3 of 384).
- exact duplicate vectors (warning above 5%): different texts with one vector usually means they were
  truncated to the same prefix or the input repeats itself.
- mean cosine of random pairs (warning above 0.6, error above 0.9): a collapsed space where everything
  is similar to everything, as after a failed fine-tuning run.
- near-duplicates (info): the share of sampled vectors with a neighbour above 0.99 cosine.

Example:
    >>> report = check_embeddings(np.eye(3, dtype=np.float32))
    >>> report.ok, report.normalized, report.mean_cosine
    (True, True, 0.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from embedlab.errors import InputError

Level = Literal["error", "warning", "info"]

DUPLICATE_WARN = 0.05
DEAD_WARN = 0.1
COSINE_WARN = 0.6
COSINE_ERROR = 0.9
NEAR_DUPLICATE = 0.99
_NORM_TOLERANCE = 1e-3
_DEAD_VARIANCE = 1e-10


@dataclass(frozen=True)
class Finding:
    """One thing the check found: how serious, a stable code, and a sentence for people."""

    level: Level
    code: str
    message: str


@dataclass
class QualityReport:
    """Figures about a set of embeddings and the findings drawn from them."""

    count: int
    dimension: int
    nan_rows: int
    inf_rows: int
    zero_rows: int
    norm_min: float
    norm_mean: float
    norm_max: float
    normalized: bool
    dead_dimensions: int
    mean_variance: float
    duplicate_rows: int
    duplicate_rate: float
    duplicate_texts: int
    mean_cosine: float
    near_duplicate_rate: float
    sampled: int
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no finding is an error."""
        return not any(finding.level == "error" for finding in self.findings)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict, ``ok`` included."""
        return {**asdict(self), "ok": self.ok}


def check_embeddings(
    vectors: np.ndarray,
    *,
    texts: Sequence[str] | None = None,
    expect_normalized: bool | None = None,
    precision: str = "float32",
    sample: int = 2000,
    seed: int = 0,
) -> QualityReport:
    """Check a ``(n, dim)`` matrix of embeddings and report what looks wrong.

    Args:
        vectors: the embeddings; int8/uint8 are checked as numbers, binary/ubinary as packed sign bits.
        texts: the texts behind the rows, to tell duplicate texts from different texts sharing a vector.
        expect_normalized: make non-unit norms an error (``None``: only report them).
        precision: how ``vectors`` were stored (see :data:`embedlab.encode.PRECISIONS`).
        sample: at most this many rows enter the pairwise cosine figures.
        seed: for the sample.
    """
    matrix = _as_float(np.asarray(vectors), precision)
    if matrix.ndim != 2:
        raise InputError(f"Embeddings must be a 2-D (count, dimension) matrix, got shape {matrix.shape}.")
    if texts is not None and len(texts) != len(matrix):
        raise InputError(f"{len(texts)} texts for {len(matrix)} vectors.")
    count, dimension = matrix.shape
    if not count or not dimension:  # nothing to measure, and nothing a search could use
        empty = Finding("error", "empty", f"There are no embeddings to check: {count} rows of {dimension} dimensions.")
        return QualityReport(
            count, dimension, nan_rows=0, inf_rows=0, zero_rows=0, norm_min=0.0, norm_mean=0.0, norm_max=0.0,
            normalized=False, dead_dimensions=0, mean_variance=0.0, duplicate_rows=0, duplicate_rate=0.0,
            duplicate_texts=0, mean_cosine=0.0, near_duplicate_rate=0.0, sampled=0, findings=[empty],
        )  # fmt: skip
    findings: list[Finding] = []

    nan_rows = int(np.isnan(matrix).any(axis=1).sum())
    inf_rows = int(np.isinf(matrix).any(axis=1).sum())
    if nan_rows or inf_rows:
        findings.append(Finding("error", "non_finite", f"{nan_rows} rows hold NaN and {inf_rows} rows hold Inf."))
    finite = matrix[np.isfinite(matrix).all(axis=1)]
    norms = np.linalg.norm(finite, axis=1) if len(finite) else np.zeros(1)
    zero_rows = int((norms == 0).sum()) if len(finite) else 0
    if zero_rows:
        findings.append(Finding("warning", "zero_rows", f"{zero_rows} rows are all zero (empty texts?)."))
    nonzero = norms[norms > 0]
    normalized = bool(len(nonzero)) and bool(np.all(np.abs(nonzero - 1) < _NORM_TOLERANCE))
    if expect_normalized and not normalized:
        findings.append(Finding("error", "not_normalized", f"Norms range {norms.min():.4f}..{norms.max():.4f}, not 1."))

    variances = finite.var(axis=0) if len(finite) > 1 else np.zeros(dimension)
    dead = int((variances < _DEAD_VARIANCE).sum()) if len(finite) > 1 else 0
    if dead:
        level: Level = "warning" if dead > DEAD_WARN * dimension else "info"
        findings.append(Finding(level, "dead_dimensions", f"{dead} of {dimension} dimensions never vary."))

    duplicate_rows, duplicate_texts = _duplicates(matrix, texts)
    duplicate_rate = duplicate_rows / count if count else 0.0
    if duplicate_rate > DUPLICATE_WARN:
        detail = f"; {duplicate_texts} of them have a different text (truncated to one prefix?)" if texts else ""
        findings.append(
            Finding("warning", "duplicates", f"{duplicate_rows} rows ({duplicate_rate:.1%}) repeat a vector{detail}.")
        )

    mean_cosine, near_rate, sampled = _pairwise(finite, sample, seed)
    if mean_cosine > COSINE_ERROR:
        findings.append(
            Finding("error", "collapsed", f"Random pairs have mean cosine {mean_cosine:.3f}: the space has collapsed.")
        )
    elif mean_cosine > COSINE_WARN:
        findings.append(
            Finding(
                "warning",
                "anisotropic",
                f"Random pairs have mean cosine {mean_cosine:.3f}: similarities "
                "are compressed into a narrow band; thresholds need calibration.",
            )
        )
    if near_rate > 0:
        findings.append(
            Finding(
                "info",
                "near_duplicates",
                f"{near_rate:.1%} of sampled vectors have a neighbour above {NEAR_DUPLICATE} cosine.",
            )
        )
    return QualityReport(
        count=count,
        dimension=dimension,
        nan_rows=nan_rows,
        inf_rows=inf_rows,
        zero_rows=zero_rows,
        norm_min=float(norms.min()),
        norm_mean=float(norms.mean()),
        norm_max=float(norms.max()),
        normalized=normalized,
        dead_dimensions=dead,
        mean_variance=float(variances.mean()),
        duplicate_rows=duplicate_rows,
        duplicate_rate=duplicate_rate,
        duplicate_texts=duplicate_texts,
        mean_cosine=mean_cosine,
        near_duplicate_rate=near_rate,
        sampled=sampled,
        findings=findings,
    )


def check_file(path: str | Path, *, texts: str | Path | None = None, text_field: str | None = None) -> QualityReport:
    """Check an embeddings file written by ``embedlab encode``, as stored (its precision and model).

    Non-unit norms are an error when the file says its model normalises float vectors. ``texts`` (the file
    that was encoded) tells duplicate texts apart.
    """
    from embedlab.io import read_embeddings, read_texts

    data = read_embeddings(path)
    text_list = read_texts(texts, text_field=text_field).texts if texts else None
    precision = str(data.meta.get("precision", "float32"))
    return check_embeddings(
        data.vectors, texts=text_list, precision=precision, expect_normalized=_expects_unit(data.meta)
    )


def _expects_unit(meta: dict[str, object]) -> bool | None:
    model = meta.get("model")
    if meta.get("precision", "float32") in ("float32", "float16") and isinstance(model, dict):
        return bool(model.get("normalized")) or None
    return None


def _as_float(vectors: np.ndarray, precision: str) -> np.ndarray:
    if precision in ("binary", "ubinary"):
        bits = vectors.astype(np.int16) + 128 if precision == "binary" else vectors
        return np.unpackbits(bits.astype(np.uint8), axis=-1).astype(np.float32) * 2 - 1
    return vectors.astype(np.float32)


def _duplicates(matrix: np.ndarray, texts: Sequence[str] | None) -> tuple[int, int]:
    """Rows repeating an earlier row's vector, and how many of those have a text unlike that row's."""
    first_text: dict[bytes, str | None] = {}
    rows = texts_differ = 0
    for index, row in enumerate(np.ascontiguousarray(matrix)):
        key = row.tobytes()
        text = texts[index] if texts is not None else None
        if key in first_text:
            rows += 1
            texts_differ += int(texts is not None and first_text[key] != text)
        else:
            first_text[key] = text
    return rows, texts_differ


def _pairwise(finite: np.ndarray, sample: int, seed: int) -> tuple[float, float, int]:
    """Mean cosine of distinct sampled pairs and the share of sampled rows with a near-duplicate."""
    norms = np.linalg.norm(finite, axis=1)
    unit = finite[norms > 0] / norms[norms > 0, None]
    if len(unit) < 2:
        return 0.0, 0.0, len(unit)
    if len(unit) > sample:
        unit = unit[np.random.default_rng(seed).choice(len(unit), sample, replace=False)]
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, np.nan)
    mean = float(np.nanmean(similarity))
    near = float((np.nanmax(similarity, axis=1) > NEAR_DUPLICATE).mean())
    return round(mean, 6), near, len(unit)
