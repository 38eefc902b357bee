"""``monitor init``: what a monitored index looked like when it was known to be good.

A baseline is saved in ``INDEX/monitor/``: ``baseline.json`` (canary queries, their judgements and
per-query metrics; the top-1/top-k scores of the reference queries; the empty-result count at the
calibrated threshold; the corpus snapshot's count and ids hash; the model's fingerprint and runtime) and
``baseline.npz`` (the reference query vectors, the probe vectors, the corpus centroid and ids).
Canary quality goes through the evaluator contract (:class:`~embedlab.evaluate.evaluators.RetrievalEvaluator`
over the index's search function), so it is the figure ``embedlab eval`` would give.

Example:
    >>> # not run: needs a built index and a canary file of {"query", "doc_id"} rows
    >>> baseline = init_monitor("my-index", canary=read_canary("canary.jsonl"))  # doctest: +SKIP
    >>> baseline.canary_mean["ndcg@10"]  # doctest: +SKIP
    0.71
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedlab.atomic import write_file, write_json
from embedlab.errors import InputError
from embedlab.evaluate.data import RetrievalBenchmark
from embedlab.index import Index
from embedlab.io import read_records, read_texts
from embedlab.operate.monitor.probes import PROBES

FOLDER = "monitor"
THRESHOLD_FILE = "threshold.json"
CANARY_METRICS = ("ndcg@10", "mrr@10", "recall@10", "recall@100")
REFERENCE_SIZE = 500
TOP_K = 10


@dataclass
class Snapshot:
    """The index's documents at one time: count, a hash of the sorted ids, the ids, the centroid."""

    count: int
    ids_hash: str
    ids: list[str]
    centroid: np.ndarray


@dataclass
class Baseline:
    """What ``monitor init`` recorded (see the module's docstring)."""

    created: float
    model: dict[str, Any]
    canary: RetrievalBenchmark
    canary_per_query: dict[str, dict[str, float]]
    canary_mean: dict[str, float]
    reference_queries: list[str]
    reference_vectors: np.ndarray
    top_scores: np.ndarray  # reference queries x TOP_K, best first (nan where fewer hits)
    threshold: float | None
    probes: np.ndarray
    corpus: Snapshot

    def save(self, folder: Path) -> None:
        """Write ``baseline.json`` and ``baseline.npz`` into ``folder`` (each atomically)."""
        folder.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, Any] = {"reference_vectors": self.reference_vectors, "top_scores": self.top_scores,
                                  "probes": self.probes, "centroid": self.corpus.centroid}  # fmt: skip
        write_file(folder / "baseline.npz", lambda tmp: np.savez(tmp, **arrays))
        write_json(folder / "baseline.json", {
            "created": self.created, "model": self.model, "threshold": self.threshold,
            "canary": {"name": self.canary.name, "queries": self.canary.queries, "qrels": self.canary.qrels,
                       "per_query": self.canary_per_query, "mean": self.canary_mean},
            "reference_queries": self.reference_queries,
            "corpus": {"count": self.corpus.count, "ids_hash": self.corpus.ids_hash, "ids": self.corpus.ids},
        })  # fmt: skip

    @classmethod
    def load(cls, folder: Path) -> Baseline:
        """Read a saved baseline.

        Raises:
            InputError: there is none (run ``embedlab monitor init`` first) or it is unreadable.
        """
        try:
            data = json.loads((folder / "baseline.json").read_text(encoding="utf-8"))
            with np.load(folder / "baseline.npz") as arrays:
                vectors = {name: arrays[name] for name in arrays.files}
        except FileNotFoundError:
            raise InputError(f"No monitor baseline in {folder}; run 'embedlab monitor init' first.") from None
        except (OSError, ValueError, KeyError) as exc:
            message = f"The monitor baseline in {folder} is unreadable ({exc}); run 'monitor init' again."
            raise InputError(message) from None
        canary = data["canary"]
        corpus = data["corpus"]
        return cls(
            created=data["created"], model=data["model"], threshold=data["threshold"],
            canary=RetrievalBenchmark({}, canary["queries"], canary["qrels"], name=canary["name"]),
            canary_per_query=canary["per_query"], canary_mean=canary["mean"],
            reference_queries=data["reference_queries"], reference_vectors=vectors["reference_vectors"],
            top_scores=vectors["top_scores"], probes=vectors["probes"],
            corpus=Snapshot(corpus["count"], corpus["ids_hash"], corpus["ids"], vectors["centroid"]),
        )  # fmt: skip


def read_canary(path: str | Path) -> RetrievalBenchmark:
    """Canary queries from a .jsonl/.csv/.parquet file: rows with ``query`` and ``doc_id`` (an id or a list).

    Raises:
        InputError: a row without them, or no row.
    """
    rows = read_records(path)
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    for number, row in enumerate(rows):
        query, docs = row.get("query"), row.get("doc_id")
        docs = [docs] if isinstance(docs, str | int) else docs
        if not isinstance(query, str) or not query.strip() or not isinstance(docs, list) or not docs:
            raise InputError(f"{rows.where(number)}: a canary row needs 'query' (text) and 'doc_id' (an id or a list).")
        qid = queries.setdefault(query, f"c{len(queries)}")
        qrels.setdefault(qid, {}).update({str(doc): 1 for doc in docs})
    if not queries:
        raise InputError(f"{path} holds no canary query.")
    return RetrievalBenchmark({}, {qid: text for text, qid in queries.items()}, qrels, name=Path(path).stem)


def read_queries(path: str | Path, *, field: str = "query") -> list[str]:
    """Query texts from a log: a .txt (one a line) or records with ``field`` (default ``query``)."""
    suffix = Path(path).suffix.lower()
    return read_texts(path).texts if suffix == ".txt" else read_texts(path, text_field=field).texts


def read_threshold(index_folder: Path, given: float | None = None) -> float | None:
    """The score under which a search counts as empty: ``given``, else ``INDEX/threshold.json``'s ``value``.

    The threshold file is written by calibration (``embedlab.operate.thresholds``); a missing or unreadable
    file, or one without a number under ``value``, means no threshold (the empty rate is then not tested).
    """
    if given is not None:
        return float(given)
    try:
        value = json.loads((index_folder / THRESHOLD_FILE).read_text(encoding="utf-8")).get("value")
    except (OSError, ValueError, AttributeError):
        return None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def snapshot(index: Index) -> Snapshot:
    """The index's documents now: count, ids hash, ids, centroid of the document vectors."""
    ids, vectors = index._rows.document_vectors(None)  # the rows' own reader: one vector per document
    centroid = vectors.mean(axis=0) if len(ids) else np.zeros(index.settings["model"]["dimension"], np.float32)
    digest = hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()
    return Snapshot(len(ids), digest, ids, centroid.astype(np.float32))


def top_scores(index: Index, vectors: np.ndarray, k: int = TOP_K) -> np.ndarray:
    """Each query vector's ``k`` best vector scores against the index, best first (``nan`` past the hits)."""
    scores = np.full((len(vectors), k), np.nan)
    if len(vectors):
        for row, hits in enumerate(index.search_vectors(vectors, k)):
            scores[row, : len(hits)] = [hit.score for hit in hits]
    return scores


def canary_result(index: Index, canary: RetrievalBenchmark) -> Any:
    """The canary queries scored through the evaluator contract over the index's vector search."""
    from embedlab.evaluate.evaluators import RetrievalEvaluator

    evaluator = RetrievalEvaluator(canary, name="canary", metrics=CANARY_METRICS, k=100)
    return evaluator.search(index.search_fn("vector"))


def model_record(index: Index) -> dict[str, Any]:
    """The fingerprint and runtime (backend, quantisation, variant) of what encodes the index's queries."""
    from embedlab.optimize.variants import runtime

    info = index.encoder.info
    return {"name": info.name, "fingerprint": info.fingerprint, "dimension": info.dimension, **runtime(info)}


def init_monitor(
    index: Index | str | Path,
    *,
    canary: RetrievalBenchmark,
    queries: Sequence[str] | None = None,
    min_score: float | None = None,
    reference_size: int = REFERENCE_SIZE,
    seed: int = 0,
) -> Baseline:
    """Record and save the baseline of ``index`` (see the module's docstring); ``queries`` default to the canary's.

    Raises:
        InputError: the index is empty, or no canary query is judged.
    """
    index = index if isinstance(index, Index) else Index.open(index)
    if len(index) == 0:
        raise InputError(f"{index.path} is empty: build the index before monitoring it.")
    result = canary_result(index, canary)
    pool = list(dict.fromkeys(queries if queries is not None else canary.queries.values()))
    if len(pool) < 4:
        raise InputError(f"A reference sample needs at least 4 distinct queries, got {len(pool)}.")
    chosen = sorted(np.random.default_rng(seed).choice(len(pool), min(reference_size, len(pool)), replace=False))
    reference = [pool[i] for i in chosen]
    vectors = index.encoder.encode(reference, task="query")
    baseline = Baseline(
        created=time.time(), model=model_record(index), canary=canary, canary_per_query=result.per_query,
        canary_mean=result.mean, reference_queries=reference, reference_vectors=vectors,
        top_scores=top_scores(index, vectors), threshold=read_threshold(index.path, min_score),
        probes=index.encoder.encode(list(PROBES)), corpus=snapshot(index),
    )  # fmt: skip
    baseline.save(index.path / FOLDER)
    return baseline
