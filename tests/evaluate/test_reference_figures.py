"""The harness reproduces the reference figures of shared/data/README.md (and MTEB's, where published).

Slow (SciFact's 5,183 abstracts take ~3 minutes to encode on 2 cores), so the vectors go through the
persistent cache (EMBEDLAB_CACHE_DIR or ~/.cache/embedlab): a second run on the same machine is quick.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from embedlab import EmbeddingModel, Encoder
from embedlab.evaluate import BM25Search, ExactSearch, evaluate, load_beir, load_pairs, sts_correlation
from embedlab.evaluate.suite import run_evaluation

from .browser import CHROMIUM, MISSING, distinct_colours, screenshot

pytestmark = [pytest.mark.slow, pytest.mark.shared]

# name: (model NDCG@10, MRR@10, Recall@100), (BM25 NDCG@10, MRR@10, Recall@100)
REFERENCE = {
    "scifact_beir": ((0.6451, 0.6047, 0.9250), (0.6863, 0.6492, 0.9127)),
    "esco_jobtitles": ((0.7272, 0.6864, 0.9493), (0.6005, 0.5570, 0.8638)),
}
METRICS = ("ndcg@10", "mrr@10", "recall@100")


@pytest.fixture(scope="module")
def cached_encoder(model: EmbeddingModel) -> Encoder:
    return Encoder(model, cache=True)


def test_stsb_test_spearman(shared_data: Path, cached_encoder: Encoder) -> None:
    pairs = load_pairs(shared_data / "stsbenchmark" / "sts-test.csv")
    assert len(pairs.scores) == 1379
    assert sts_correlation(cached_encoder, pairs)["spearman"].value == pytest.approx(0.8203, abs=0.005)  # MTEB


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_retrieval_reference_figures(shared_data: Path, cached_encoder: Encoder, name: str) -> None:
    bench = load_beir(shared_data / name, split="test")
    expected_model, expected_bm25 = REFERENCE[name]
    model_scores = evaluate(ExactSearch(cached_encoder, bench.corpus), bench).mean
    assert [model_scores[m] for m in METRICS] == pytest.approx(expected_model, abs=0.005)
    bm25_scores = evaluate(BM25Search(bench.corpus), bench).mean
    assert [bm25_scores[m] for m in METRICS] == pytest.approx(expected_bm25, abs=0.01)


@pytest.mark.skipif(CHROMIUM is None, reason=MISSING)
def test_scifact_report_bundled_model_vs_bm25_renders(shared_data: Path, model: EmbeddingModel, tmp_path: Path) -> None:
    bench = load_beir(shared_data / "scifact_beir", split="test")
    report = run_evaluation([model], benchmark=bench, bm25=True, cache=True)  # vectors cached above
    bm25 = next(c for c in report.comparisons if c.system == "BM25" and c.metric == "ndcg@10")
    assert bm25.test.difference.value == pytest.approx(0.6863 - 0.6451, abs=0.01)
    paths = report.save(tmp_path)
    assert len(json.loads(paths["results"].read_text())["systems"][1]["retrieval"]["per_query"]) == 300
    pixels = screenshot(paths["report"], tmp_path)
    assert distinct_colours(pixels[:1200]) > 200
