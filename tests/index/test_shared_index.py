"""The index through the evaluation suite on SciFact: vector, BM25 and hybrid NDCG@10 (shared data)."""

from __future__ import annotations

from pathlib import Path

import pytest

from embedlab import EmbeddingModel, Encoder
from embedlab.evaluate import evaluate, load_beir
from embedlab.index import Index

pytestmark = [pytest.mark.slow, pytest.mark.shared]


def test_scifact_modes_from_the_index(shared_data: Path, model: EmbeddingModel, tmp_path: Path) -> None:
    bench = load_beir(shared_data / "scifact_beir", split="test")
    index = Index.create(tmp_path / "scifact", Encoder(model, cache=True), chunk=False)  # as the reference run
    index.add({"id": doc_id, "text": text} for doc_id, text in bench.corpus.items())
    scores = {mode: evaluate(index.search_fn(mode), bench).mean["ndcg@10"] for mode in ("vector", "bm25", "hybrid")}
    print(scores)
    assert scores["vector"] == pytest.approx(0.6451, abs=0.005)  # the same figure as exact search
    assert scores["bm25"] > 0.6  # LanceDB's own BM25 (English stemming, stop words)
    assert scores["hybrid"] > max(scores["vector"], scores["bm25"]) - 0.02
