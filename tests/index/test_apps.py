from __future__ import annotations

import json
from pathlib import Path

import lancedb
import numpy as np
import pytest
import torch
from lancedb.embeddings import get_registry
from lancedb.pydantic import LanceModel, Vector
from sentence_transformers import CrossEncoder
from typer.testing import CliRunner

from embedlab import EmbeddingModel, Encoder, InputError
from embedlab.cli import app
from embedlab.errors import IndexMismatchError
from embedlab.index import FaqAnswerer, Index
from embedlab.models import bundled_model_dir

FAQ = [
    {"question": "How do I reset my password?", "answer": "Use 'Forgot password' on sign-in.", "category": "account"},
    {"question": "How can I delete my account?", "answer": "Settings > Account > Delete.", "category": "account"},
    {"question": "Which payment methods do you accept?", "answer": "Cards and bank transfer.", "category": "billing"},
    {"question": "How do I get a refund?", "answer": "Write to billing within 30 days.", "category": "billing"},
]  # fmt: skip


def test_faq_answers_with_confidence_category_and_refusal(tmp_path: Path, encoder: Encoder) -> None:
    faq = FaqAnswerer.build(tmp_path / "faq", FAQ, encoder, min_confidence=0.5)
    answer = faq.answer("I forgot my password, what now?")
    assert answer.answer == FAQ[0]["answer"] and answer.category == "account"
    assert answer.confidence > 0.5 and len(answer.alternatives) == 3
    assert answer.alternatives[0]["confidence"] <= answer.confidence
    billing = faq.answer("I forgot my password, what now?", category="billing")
    assert billing.category == "billing"
    unsure = faq.answer("What is the capital of Mongolia?")
    assert unsure.answer is None and unsure.confidence < 0.5 and unsure.alternatives  # no guess, but options
    with pytest.raises(InputError, match="need both a question and an answer"):
        FaqAnswerer.build(tmp_path / "bad", [{"question": "q"}], encoder)


def test_similar_documents_and_planted_near_duplicates(tmp_path: Path, encoder: Encoder) -> None:
    index = Index.create(tmp_path / "i", encoder)
    docs = [
        {"id": "a", "text": "The quarterly report shows revenue grew by ten percent."},
        {"id": "a-copy", "text": "The quarterly report shows that revenue grew by ten percent."},
        {"id": "b", "text": "Our cat likes to sleep in the sun."},
        {"id": "b-copy", "text": "Our cat likes to sleep in the sun!"},
        {"id": "c", "text": "Trains to Paris are delayed because of the strike."},
        {"id": "d", "text": "Revenue figures for the quarter were better than expected."},
    ]
    index.add(docs)
    similar = index.similar("a", k=2)
    assert [hit.doc_id for hit in similar] == ["a-copy", "d"] and all(hit.doc_id != "a" for hit in similar)
    pairs = index.near_duplicates(threshold=0.95)
    assert {(a, b) for a, b, _ in pairs} == {("a", "a-copy"), ("b", "b-copy")}
    assert pairs == sorted(pairs, key=lambda pair: -pair[2])
    blocked = index.near_duplicates(threshold=0.95, block=2)  # blocks do not change the answer
    assert [(a, b) for a, b, _ in blocked] == [(a, b) for a, b, _ in pairs]
    assert [s for _, _, s in blocked] == pytest.approx([s for _, _, s in pairs], abs=1e-5)
    everything = index.near_duplicates(threshold=-1.0)  # every pair once, no document with itself
    assert len(everything) == 6 * 5 // 2 and all(a != b for a, b, _ in everything)
    with pytest.raises(InputError, match="No document 'zzz'"):
        index.similar("zzz")


def test_cross_encoder_reranks_the_candidates(tmp_path: Path, encoder: Encoder) -> None:
    torch.manual_seed(0)
    cross = CrossEncoder(str(bundled_model_dir()), num_labels=1, device="cpu")  # an untrained head is enough here
    cross.save(str(tmp_path / "ce"))
    index = Index.create(tmp_path / "i", encoder)
    index.add([{"id": str(i), "text": f"Document number {i} about topic {i % 3}."} for i in range(12)])
    plain = index.search("topic 1", k=12)
    ce = str(tmp_path / "ce")
    reranked = index.search("topic 1", k=5, rerank=ce, rerank_top=12, rerank_fusion="replace")
    expected = cross.predict([("topic 1", hit.text) for hit in plain])
    order = [plain[i].doc_id for i in np.argsort(-expected, kind="stable")[:5]]
    assert [hit.doc_id for hit in reranked] == order
    assert all("rerank" in hit.components and "vector" in hit.components for hit in reranked)
    assert reranked[0].score == pytest.approx(float(expected.max()), abs=1e-5)
    # the default fuses ranks: 1 / (60 + vector rank) + 1 / (60 + cross-encoder rank), ties in vector order
    ce_rank = np.empty(12, int)
    ce_rank[np.argsort(-expected, kind="stable")] = np.arange(1, 13)
    fused = [1 / (60 + i + 1) + 1 / (60 + ce_rank[i]) for i in range(12)]
    fused_order = sorted(range(12), key=lambda i: -fused[i])
    default = index.search("topic 1", k=12, rerank=ce, rerank_top=12)
    assert [hit.doc_id for hit in default] == [plain[i].doc_id for i in fused_order]
    assert [hit.score for hit in default] == pytest.approx([fused[i] for i in fused_order])
    assert [hit.components["rerank"] for hit in default] == pytest.approx([expected[i] for i in fused_order], abs=1e-5)
    # k beyond rerank_top: the first 4 are reordered by the cross-encoder, the rest keep the vector order
    deep = index.search("topic 1", k=10, rerank=ce, rerank_top=4, rerank_fusion="replace")
    head = [plain[i].doc_id for i in np.argsort(-expected[:4], kind="stable")]
    assert [hit.doc_id for hit in deep] == head + [hit.doc_id for hit in plain[4:10]]
    assert ["rerank" in hit.components for hit in deep] == [True] * 4 + [False] * 6
    assert index.search("topic 1", k=10, rerank=ce, rerank_top=4, min_score=-1e9)[4:] == []
    # min_score applies to the cross-encoder's score, whatever the fusion
    cut = float(np.sort(expected)[-3])
    assert {hit.doc_id for hit in index.search("topic 1", k=12, rerank=ce, rerank_top=12, min_score=cut)} == {
        plain[i].doc_id for i in np.argsort(-expected, kind="stable")[:3]
    }
    with pytest.raises(InputError, match="rerank_fusion must be rrf or replace"):
        index.search("topic 1", rerank=ce, rerank_fusion="max")
    # the CLI passes the same options through
    args = ["index", "search", str(tmp_path / "i"), "topic 1", "-k", "5", "--rerank", ce, "--rerank-top", "12"]
    for fusion, expected_hits in (("rrf", default[:5]), ("replace", reranked)):
        result = CliRunner().invoke(app, [*args, "--rerank-fusion", fusion, "--json"])
        assert result.exit_code == 0, result.output
        assert [hit["doc_id"] for hit in json.loads(result.output)] == [hit.doc_id for hit in expected_hits]


def test_lancedb_embedding_function_round_trip(tmp_path: Path, model: EmbeddingModel) -> None:
    embedder = get_registry().get("embedlab").create()
    assert embedder.fingerprint == model.fingerprint

    class Doc(LanceModel):
        text: str = embedder.SourceField()
        vector: Vector(embedder.ndims()) = embedder.VectorField()  # type: ignore[valid-type]

    table = lancedb.connect(str(tmp_path / "db")).create_table("docs", schema=Doc)
    table.add([{"text": "The cat sleeps on the windowsill."}, {"text": "Stock markets fell sharply."}])
    assert table.search("kitten napping").limit(1).to_list()[0]["text"].startswith("The cat")
    reopened = lancedb.connect(str(tmp_path / "db")).open_table("docs")  # the embedder comes back from config
    assert reopened.search("shares dropped").limit(1).to_list()[0]["text"].startswith("Stock")
    stored = np.array(reopened.to_arrow().column("vector").to_pylist()[0])
    np.testing.assert_allclose(stored, Encoder(model).encode("The cat sleeps on the windowsill."), atol=1e-6)
    with pytest.raises(IndexMismatchError, match="fingerprint"):
        get_registry().get("embedlab").create(fingerprint="0" * 64).ndims()
