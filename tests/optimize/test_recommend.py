"""Recommending a model: the Pareto front, the choice under requirements, the rule table, and real measurements."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from embedlab import EmbeddingModel, load_model
from embedlab.errors import InputError
from embedlab.evaluate import load_beir
from embedlab.evaluate.stats import Estimate
from embedlab.optimize.recommend import (
    Candidate,
    Requirements,
    measure_candidates,
    pareto_front,
    recommend,
    rule_recommendation,
)
from tests.providers.fake import FakeProvider, serving


def candidate(name: str, ndcg: tuple[float, float, float], docs_per_s: float, p50: float, dims: int,
              price: float | None = 0.0) -> Candidate:  # fmt: skip
    return Candidate(name, name * 8, dims, Estimate(*ndcg), docs_per_s, p50, price, local=price == 0.0)


SMALL = candidate("small", (0.70, 0.65, 0.75), 50.0, 20.0, 384)
LARGE = candidate("large", (0.72, 0.68, 0.76), 10.0, 100.0, 768)
WORSE = candidate("worse", (0.60, 0.55, 0.65), 40.0, 25.0, 384)  # beaten by SMALL on every axis
REMOTE = candidate("remote", (0.74, 0.70, 0.78), 80.0, 150.0, 1536, price=0.02)


def test_the_pareto_front_leaves_out_what_another_model_beats_everywhere() -> None:
    assert pareto_front([SMALL, LARGE, WORSE, REMOTE]) == ["small", "large", "remote"]
    assert pareto_front([SMALL, SMALL]) == ["small", "small"]  # equal is not beaten


def test_the_fastest_model_tied_with_the_best_is_recommended() -> None:
    chosen = recommend([SMALL, LARGE, WORSE], Requirements())
    assert chosen.chosen == "small" and chosen.source == "benchmark"
    assert "reaches the best (large 0.7200)" in chosen.reason and "5.0x the documents/s" in chosen.reason
    narrow = candidate("narrow", (0.70, 0.69, 0.71), 50.0, 20.0, 384)
    assert recommend([narrow, LARGE]).chosen == "large"  # its interval stops below 0.72: worse, not tied
    assert "the highest NDCG@10" in recommend([narrow, LARGE]).reason


def test_requirements_filter_and_say_why_nothing_qualifies() -> None:
    assert recommend([SMALL, LARGE, REMOTE], Requirements(local_only=True, max_dims=512)).chosen == "small"
    assert recommend([SMALL, REMOTE], Requirements(max_latency_ms=200)).chosen == "remote"  # tied, and faster
    nothing = recommend([SMALL, LARGE], Requirements(max_latency_ms=10))
    assert nothing.chosen is None
    assert nothing.reason == ("no candidate meets the requirements (small: query latency 20.0 ms > 10; "
                              "large: query latency 100.0 ms > 10)")  # fmt: skip
    unknown = candidate("endpoint", (0.8, 0.7, 0.9), 1.0, 1.0, 8, price=None)
    assert Requirements(max_usd_per_million=1).misses(unknown) == ["cost unknown $/M tokens > 1"]


def test_without_a_benchmark_the_rule_table_answers_and_says_it_is_a_rule() -> None:
    rule = rule_recommendation("search", budget="free", private=True)
    assert (rule.chosen, rule.source) == ("all-mpnet-base-v2", "rules") and "not measured" in rule.reason
    assert rule_recommendation("search", budget="high", private=False).chosen == "text-embedding-3-small"
    assert rule_recommendation("clustering", latency="realtime").chosen == "all-MiniLM-L6-v2"
    assert "approximate index" in rule_recommendation("qa", size=2_000_000).reason
    with pytest.raises(InputError, match="use_case must be one of"):
        rule_recommendation("multimodal")


@pytest.fixture
def bench(tmp_path: Path) -> Path:
    docs = {"d1": "A nurse cares for patients in a hospital.", "d2": "A chef cooks meals in a restaurant kitchen.",
            "d3": "A pilot flies commercial airplanes.", "d4": "A plumber repairs pipes and taps."}  # fmt: skip
    queries = {"q1": ("who looks after sick people", "d1"), "q2": ("cooking food for guests", "d2"),
               "q3": ("flying a plane", "d3"), "q4": ("fixing a leaking tap", "d4")}  # fmt: skip
    (tmp_path / "qrels").mkdir()
    (tmp_path / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": k, "title": "", "text": v}) + "\n" for k, v in docs.items())
    )
    (tmp_path / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n"
                                                    for q, (t, _) in queries.items()))  # fmt: skip
    qrels = "".join(f"{q}\t{d}\t1\n" for q, (_, d) in queries.items())
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + qrels)
    return tmp_path


@pytest.mark.slow  # times two models (under a minute alone, minutes on a loaded machine)
def test_candidates_are_measured_on_the_benchmark(model: EmbeddingModel, bench: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("EMBEDLAB_ENDPOINT_API_KEY", "k" * 20)
    with serving(FakeProvider(dim=8)) as fake:  # random vectors: a remote model that knows nothing
        remote = load_model(f"openai:random@{fake.url}/v1#8")
        measured = measure_candidates([model, remote], load_beir(bench), speed_docs=4, speed_queries=4)
    local, far = measured
    assert local.ndcg.value == 1.0 and (local.local, local.usd_per_million_tokens, local.dimension) == (True, 0.0, 384)
    assert far.ndcg.value < 1.0 and (far.local, far.usd_per_million_tokens, far.dimension) == (False, None, 8)
    assert local.docs_per_s > 0 and local.query_p50_ms > 0 and local.gb_per_million == pytest.approx(1.536)
    assert recommend(measured, Requirements(local_only=True)).chosen == local.name
