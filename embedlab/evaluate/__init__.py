"""Evaluation on your own data: retrieval metrics from any search function, BM25, STS."""

from embedlab.evaluate.bm25 import BM25Search
from embedlab.evaluate.data import BenchmarkWarning, PairSet, RetrievalBenchmark, load_beir, load_pairs, read_qrels
from embedlab.evaluate.retrieval import (
    DEFAULT_METRICS,
    ExactSearch,
    RetrievalResult,
    SearchFn,
    evaluate,
    retrieval_metrics,
)
from embedlab.evaluate.sts import sts_correlation

__all__ = [
    "DEFAULT_METRICS",
    "BM25Search",
    "BenchmarkWarning",
    "ExactSearch",
    "PairSet",
    "RetrievalBenchmark",
    "RetrievalResult",
    "SearchFn",
    "evaluate",
    "load_beir",
    "load_pairs",
    "read_qrels",
    "retrieval_metrics",
    "sts_correlation",
]
