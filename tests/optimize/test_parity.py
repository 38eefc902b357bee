import numpy as np
import pytest

from embedlab.errors import InputError, VariantError
from embedlab.optimize import ParityRecord, VariantInfo, parity_from_vectors

SOURCE = "a" * 64


def _docs_and_query(n=11):
    docs = np.eye(n)  # document i points along axis i
    query = np.arange(n, 0, -1, dtype=float)  # scores n, n - 1, ..., 1: top 10 = documents 0..9
    return query[None, :], docs


def test_identical_vectors_agree_fully():
    query, docs = _docs_and_query()
    record = parity_from_vectors(query, docs, query, docs)
    assert record.cosine_mean == pytest.approx(1.0) and record.top10_cross == 1.0 and record.passed


def test_one_swapped_neighbour_costs_a_tenth_of_top10_agreement():
    query, docs = _docs_and_query()
    swapped = query.copy()
    swapped[0, [9, 10]] = [1, 2]  # document 10 now beats document 9
    record = parity_from_vectors(query, docs, swapped, docs)
    assert record.top10_cross == pytest.approx(0.9) and record.top10_own == pytest.approx(0.9)
    # cosine of the query pair: (sum of k^2 for k = 3..11 + 2 + 2) / 506 = 505 / 506; the 11 documents: 1
    assert record.cosine_min == pytest.approx(505 / 506)
    assert record.cosine_mean == pytest.approx((11 + 505 / 506) / 12)
    assert record.passed  # 0.9 agreement is the threshold itself


def test_a_variant_that_moves_queries_fails_and_is_refused_with_its_figures():
    query, docs = _docs_and_query(20)
    rotated = np.roll(query, 10, axis=1)  # documents 10..19 now score highest
    record = parity_from_vectors(query, docs, rotated, docs)
    assert not record.passed and record.top10_cross == 0.0
    info = VariantInfo("onnx-int8", "onnx", "src", SOURCE, parity=record.to_dict())
    assert not info.compatible_with(SOURCE)
    with pytest.raises(VariantError, match=r"failed its parity.*mean cosine 0\.\d+.*top-10 agreement 0\.\d+"):
        info.check_compatible(SOURCE, what="index 'docs'")


def test_only_the_source_of_a_passing_variant_is_compatible():
    query, docs = _docs_and_query()
    info = VariantInfo("onnx", "onnx", "src", SOURCE, parity=parity_from_vectors(query, docs, query, docs).to_dict())
    assert info.compatible_with(SOURCE)
    info.check_compatible(SOURCE)
    assert not info.compatible_with("b" * 64)
    with pytest.raises(VariantError, match="another space"):
        info.check_compatible("b" * 64)


def test_another_dimension_is_another_space():
    query, docs = _docs_and_query()
    record = parity_from_vectors(query, docs, query[:, :5], docs[:, :5])
    assert record.cosine_mean is None and record.top10_cross is None and not record.passed
    assert "another vector space" in record.summary()
    assert ParityRecord.from_dict(record.to_dict()) == record


def test_parity_needs_the_same_texts_from_both_models():
    query, docs = _docs_and_query()
    with pytest.raises(InputError, match="same queries"):
        parity_from_vectors(query, docs, query, docs[:5])
