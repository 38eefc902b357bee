"""Evaluation on your own data: retrieval metrics from any search function, BM25, STS, and evaluators.

The evaluators (:class:`Evaluator` and the task evaluators) subclass sentence-transformers' evaluator, so
importing them imports sentence-transformers; they are loaded on first use, and the rest of this package
(search functions, metrics, data) stays light.
"""

from typing import TYPE_CHECKING, Any

from embedlab.evaluate.bm25 import BM25Search
from embedlab.evaluate.data import BenchmarkWarning, PairSet, RetrievalBenchmark, load_beir, load_pairs, read_qrels
from embedlab.evaluate.results import Scores, TaskResult
from embedlab.evaluate.retrieval import (
    DEFAULT_METRICS,
    ExactSearch,
    RetrievalResult,
    SearchFn,
    evaluate,
    retrieval_metrics,
    top_k,
)
from embedlab.evaluate.sts import sts_correlation

if TYPE_CHECKING:
    from embedlab.evaluate.evaluator import Evaluator
    from embedlab.evaluate.evaluators import (
        ClassificationEvaluator,
        ClusteringEvaluator,
        RetrievalEvaluator,
        STSEvaluator,
    )

_LAZY = {
    "Evaluator": "embedlab.evaluate.evaluator",
    "RetrievalEvaluator": "embedlab.evaluate.evaluators",
    "STSEvaluator": "embedlab.evaluate.evaluators",
    "ClusteringEvaluator": "embedlab.evaluate.evaluators",
    "ClassificationEvaluator": "embedlab.evaluate.evaluators",
}

__all__ = [
    "DEFAULT_METRICS",
    "BM25Search",
    "BenchmarkWarning",
    "ClassificationEvaluator",
    "ClusteringEvaluator",
    "Evaluator",
    "ExactSearch",
    "PairSet",
    "RetrievalBenchmark",
    "RetrievalEvaluator",
    "RetrievalResult",
    "STSEvaluator",
    "Scores",
    "SearchFn",
    "TaskResult",
    "evaluate",
    "load_beir",
    "load_pairs",
    "read_qrels",
    "retrieval_metrics",
    "sts_correlation",
    "top_k",
]


def __getattr__(name: str) -> Any:
    """Import the evaluators (and with them sentence-transformers) only when one is asked for."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
