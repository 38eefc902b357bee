from __future__ import annotations

import numpy as np
import pytest

from embedlab import InputError, check_embeddings
from embedlab.encode import quantize


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def test_orthonormal_vectors_are_clean() -> None:
    report = check_embeddings(np.eye(4, dtype=np.float32))
    assert report.ok and report.normalized
    assert report.mean_cosine == 0.0  # every distinct pair is orthogonal
    assert (report.duplicate_rows, report.zero_rows, report.dead_dimensions) == (0, 0, 0)
    assert report.findings == []


def test_nan_and_inf_rows_are_errors() -> None:
    vectors = np.eye(4, dtype=np.float32)
    vectors[1, 0] = np.nan
    vectors[2, 3] = np.inf
    report = check_embeddings(vectors)
    assert (report.nan_rows, report.inf_rows) == (1, 1)
    assert not report.ok
    assert report.findings[0].code == "non_finite"


def test_zero_rows_dead_dimensions_and_norms() -> None:
    vectors = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0], [6.0, 8.0, 0.0]], dtype=np.float32)
    report = check_embeddings(vectors, expect_normalized=True)
    assert report.zero_rows == 1
    assert (report.norm_min, report.norm_max) == (0.0, 10.0)
    assert report.dead_dimensions == 1  # the third column never varies
    codes = {finding.code: finding.level for finding in report.findings}
    assert codes["not_normalized"] == "error"
    assert codes["dead_dimensions"] == "warning"  # 1 of 3 dimensions: above 10%


def test_duplicate_vectors_with_different_texts() -> None:
    vectors = _unit(np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 1]], dtype=np.float32))
    report = check_embeddings(vectors, texts=["a", "b", "c", "a", "e"])
    assert report.duplicate_rows == 2
    assert report.duplicate_rate == pytest.approx(0.4)
    assert report.duplicate_texts == 1  # row 1 ("b") shares row 0's vector; row 3 is the same text "a"
    assert "truncated" in next(f.message for f in report.findings if f.code == "duplicates")


def test_collapsed_and_anisotropic_spaces() -> None:
    rng = np.random.default_rng(0)
    collapsed = _unit(np.ones((200, 32)) + 0.01 * rng.standard_normal((200, 32)))
    report = check_embeddings(collapsed)
    assert report.mean_cosine > 0.99
    assert not report.ok and report.findings[-1].code in {"collapsed", "near_duplicates"}
    assert any(f.code == "collapsed" for f in report.findings)
    narrow = _unit(np.ones((200, 32)) + 0.6 * rng.standard_normal((200, 32)))
    assert any(f.code == "anisotropic" for f in check_embeddings(narrow).findings)
    spread = _unit(rng.standard_normal((200, 32)))
    assert abs(check_embeddings(spread).mean_cosine) < 0.05


def test_binary_vectors_are_unpacked() -> None:
    rng = np.random.default_rng(1)
    floats = rng.standard_normal((50, 64)).astype(np.float32)
    for precision in ("binary", "ubinary"):
        report = check_embeddings(quantize(floats, precision), precision=precision)  # type: ignore[arg-type]
        assert report.dimension == 64
        assert report.norm_min == pytest.approx(8.0)  # 64 entries of +-1


def test_wrong_shapes_are_refused() -> None:
    with pytest.raises(InputError, match="2-D"):
        check_embeddings(np.zeros(5))
    with pytest.raises(InputError, match="2 texts for 3 vectors"):
        check_embeddings(np.eye(3), texts=["a", "b"])


@pytest.mark.parametrize("shape", [(0, 384), (5, 0), (0, 0)])
def test_no_rows_or_no_dimensions_is_an_error_not_a_clean_report(shape: tuple[int, int]) -> None:
    # An empty file used to be reported "ok" with no findings.
    report = check_embeddings(np.zeros(shape, dtype=np.float32))
    assert not report.ok
    assert [(f.level, f.code) for f in report.findings] == [("error", "empty")]
    assert (report.count, report.dimension) == shape
    assert report.to_dict()["ok"] is False
