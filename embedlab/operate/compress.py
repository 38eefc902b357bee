"""Plan an index's compression on the user's own benchmark, and apply the pick in place.

For each setting (precision x dimensions x rescore multiplier, :class:`Setting`) :func:`plan` builds the
search structure the index would hold (:class:`~embedlab.index.hnsw.AnnIndex`, from the index's own
float32 vectors in LanceDB: nothing is re-encoded) and measures the RAM of the structure and of its
vectors alone, the disk of its saved files, the p50/p99 latency of one query at a time, recall@10 against
exact float32 search, and NDCG@10 with its 95% interval as :func:`embedlab.evaluate.evaluate` scores a
search function (its :func:`~embedlab.evaluate.retrieval.retrieval_metrics`, each query's ranking scored
once: settings mostly agree). The queries are encoded once and each setting searches them in one batch
(:meth:`~embedlab.index.hnsw.AnnIndex.search_many`), as the index's search does one at a time. The pick
is the setting with the least RAM whose NDCG@10 keeps ``target`` of exact float32 search's (ties: the
fewest candidates re-scored). :func:`apply` converts an index to a setting: ``index.json`` is switched
atomically, and the structure is rebuilt from LanceDB's vectors (a crash in between leaves a saved
structure of the old precision, which the next open rebuilds).

Example:
    >>> report = plan(Index.open("my-index"), load_beir("my-bench"), target=0.99)  # doctest: +SKIP
    >>> apply("my-index", report.chosen.setting)  # doctest: +SKIP
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from embedlab.errors import InputError
from embedlab.evaluate import RetrievalBenchmark
from embedlab.evaluate.retrieval import retrieval_metrics, top_k
from embedlab.evaluate.stats import Estimate, mean_ci
from embedlab.index import Index, compact
from embedlab.index.compact import PRECISIONS
from embedlab.index.hnsw import BATCH, AnnIndex
from embedlab.index.settings import update_settings

RESCORES = (0, 1, 4, 10)
TIMED_QUERIES = 1000  # queries whose latency is timed, one at a time, for each setting (a fixed sample)
_EXACT_SCORES = 1 << 25  # query x row scores held at a time by the exact search (128 MiB)


@dataclass(frozen=True)
class Setting:
    """One way to hold the search vectors: ``precision``, ``dims`` (``None``: all) and ``rescore`` multiplier."""

    precision: str
    dims: int | None
    rescore: int

    @property
    def label(self) -> str:
        """A short name: ``binary/384 x4``."""
        return f"{self.precision}/{self.dims or 'all'} x{self.rescore}"


@dataclass(frozen=True)
class Measure:
    """What one setting costs and keeps."""

    setting: Setting
    memory_bytes: int  # the search structure in RAM: codes and graph links
    vector_bytes: int  # the codes (or vectors) alone
    disk_bytes: int  # the structure's saved files (with a compressed one's full float32 copy)
    p50_ms: float
    p99_ms: float
    recall: float  # recall@10 against exact float32 search
    ndcg: Estimate
    retained: float  # NDCG@10 over exact float32 search's

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {**asdict(self), "setting": {**asdict(self.setting), "label": self.setting.label}}


@dataclass(frozen=True)
class Plan:
    """Every setting's measure, exact float32 search's NDCG@10, the target and the pick (``None``: none keeps it)."""

    measures: list[Measure]
    exact: Estimate
    target: float
    chosen: Measure | None
    rows: int
    queries: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "exact_ndcg@10": asdict(self.exact),
            "target": self.target,
            "rows": self.rows,
            "queries": self.queries,
            "chosen": self.chosen.to_dict() if self.chosen else None,
            "measures": [measure.to_dict() for measure in self.measures],
        }


def grid(
    dimension: int, precisions: Sequence[str] = PRECISIONS, dims: Sequence[int | None] = (None,),
    rescores: Sequence[int] = RESCORES,
) -> list[Setting]:  # fmt: skip
    """Every setting of ``precisions x dims x rescores``; full float32 is exact, so it has one (``rescore`` 0)."""
    settings = []
    for precision in precisions:
        for size in dims:
            size = None if size == dimension else size
            exact = precision == "float32" and size is None
            settings += [Setting(precision, size, rescore) for rescore in ((0,) if exact else rescores)]
    return settings


def plan(
    index: Index, benchmark: RetrievalBenchmark, *, target: float = 0.99, settings: Sequence[Setting] | None = None,
    k: int = 10,
) -> Plan:  # fmt: skip
    """Measure each setting on ``benchmark`` (whose corpus is the index's documents) and pick one.

    The queries are encoded once; each setting searches them all in one batch (its rankings scored once,
    NDCG@10 and recall@10 from the same rankings), and its latency is timed one query at a time on up to
    :data:`TIMED_QUERIES` of them.

    Raises:
        InputError: the index is empty, holds none of the benchmark's judged documents, or a setting is invalid.
    """
    if not 0 < target <= 1:
        raise InputError(f"target must be a share of exact search's NDCG@10 in (0, 1], got {target}.")
    doc_ids, vectors = index.chunk_vectors()
    judged = {doc for relevant in benchmark.qrels.values() for doc in relevant}
    if not judged & set(doc_ids):
        raise InputError(f"{index.path} holds none of the benchmark's judged documents: build it from its corpus.")
    vectors = compact.truncate(vectors, vectors.shape[1])  # unit rows, as the structure holds them
    dimension = vectors.shape[1]
    chosen_settings = list(settings) if settings is not None else grid(dimension)
    for setting in chosen_settings:
        compact.check(setting.precision, setting.dims, index.settings["model"])
    texts = list(dict.fromkeys(benchmark.queries.values()))
    queries = compact.truncate(index.encoder.encode(texts, task="query"), dimension)
    owners = np.asarray(doc_ids, object)
    depth = max(k, 10)  # recall@10 needs 10
    scored = _Scores(benchmark, texts, k)
    exact_rankings = _rankings(partial(_exact, vectors), queries, owners, depth)
    exact = scored(exact_rankings)
    truth = [set(ranking[:10]) for ranking in exact_rankings]
    timed = queries[np.random.default_rng(0).permutation(len(queries))[:TIMED_QUERIES]]
    measures = []
    ef = index.ef_search
    for (precision, dims), group in _by_structure(chosen_settings).items():
        graph = AnnIndex(dimension, precision=precision, dims=dims)
        for start in range(0, len(vectors), BATCH):
            graph.add(np.arange(start, min(start + BATCH, len(vectors))), vectors[start : start + BATCH])
        disk = _disk(graph)
        for setting in group:
            rankings = _rankings(partial(_graph_search, graph, ef, setting.rescore), queries, owners, depth)
            ndcg = scored(rankings)
            recall = float(np.mean([len(expected & set(ranking[:10])) / max(len(expected), 1)
                                    for expected, ranking in zip(truth, rankings, strict=True)]))  # fmt: skip
            times = _latencies(graph, ef, setting.rescore, timed, k)
            measures.append(Measure(
                setting, graph.memory(), int(compact.vector_bytes(precision, graph.dims) * graph.size), disk,
                float(np.percentile(times, 50)), float(np.percentile(times, 99)), recall, ndcg,
                ndcg.value / max(exact.value, 1e-12),
            ))  # fmt: skip
    keeping = [m for m in measures if m.retained >= target]
    chosen = min(keeping, key=lambda m: (m.memory_bytes, m.setting.rescore)) if keeping else None
    return Plan(measures, exact, target, chosen, len(vectors), len(benchmark.queries))


def apply(path: str | Path, setting: Setting) -> Index:
    """Convert the index at ``path`` to ``setting`` in place, from its stored vectors (nothing re-encoded).

    ``index.json`` switches at once (atomic write under the writers' lock); the new structure is built from
    LanceDB and saved before this returns. Processes that have the index open keep their settings until
    they reopen it.
    """
    index = Index.open(path)
    precision, dims = compact.check(setting.precision, setting.dims, index.settings["model"])
    changes = {"precision": precision, "dims": dims, "rescore": setting.rescore, "calibration": None}
    update_settings(Path(path), index.settings, changes)
    converted = Index.open(path, index.encoder)
    if converted.ann is not False and len(converted):
        converted.sync_ann()
    return converted


def plot(report: Plan, path: Path) -> Path:
    """A PNG of each setting's RAM against the NDCG@10 it keeps, the target as a line, the pick circled."""
    from embedlab.plots import pyplot

    plt = pyplot()
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for precision in dict.fromkeys(m.setting.precision for m in report.measures):
        shown = [m for m in report.measures if m.setting.precision == precision]
        axes.scatter([m.memory_bytes / 2**20 for m in shown], [m.retained for m in shown], label=precision)
    for measure in report.measures:
        axes.annotate(f"{measure.setting.dims or 'all'} x{measure.setting.rescore}",
                      (measure.memory_bytes / 2**20, measure.retained), fontsize=7)  # fmt: skip
    axes.axhline(report.target, color="grey", linestyle="--", label=f"target {report.target:.1%}")
    if report.chosen:
        axes.scatter([report.chosen.memory_bytes / 2**20], [report.chosen.retained], s=200, facecolors="none",
                     edgecolors="black", label=f"chosen: {report.chosen.setting.label}")  # fmt: skip
    axes.set_xscale("log")
    axes.set_xlabel("search structure RAM (MiB, log)")
    axes.set_ylabel("NDCG@10 kept (of exact float32)")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _by_structure(settings: Sequence[Setting]) -> dict[tuple[str, int | None], list[Setting]]:
    """Settings grouped by the structure they search (one build serves every rescore multiplier)."""
    groups: dict[tuple[str, int | None], list[Setting]] = {}
    for setting in settings:
        groups.setdefault((setting.precision, setting.dims), []).append(setting)
    return groups


class _Scores:
    """NDCG@10 of rankings (documents best first, one per query text) with its interval, as ``evaluate`` gives.

    A query's NDCG depends on its ranking alone, and settings mostly agree, so each (query, ranking) pair
    is scored once (ranx's cost is per query scored, over 2 ms each on a busy machine).
    """

    def __init__(self, benchmark: RetrievalBenchmark, texts: list[str], k: int) -> None:
        self.queries = [qid for qid, judged in benchmark.qrels.items() if any(grade > 0 for grade in judged.values())]
        if not self.queries:
            raise InputError("No judged queries to evaluate.")
        self.benchmark, self.row, self.k = benchmark, {text: row for row, text in enumerate(texts)}, k
        self.metric = "ndcg@10"
        self._values: dict[tuple[str, tuple[str, ...]], float] = {}

    def __call__(self, rankings: list[tuple[str, ...]]) -> Estimate:
        """NDCG@10 of ``rankings`` (one per text, cut at k) over the judged queries, with its 95% interval."""
        mine = {qid: rankings[self.row[self.benchmark.queries[qid]]][: self.k] for qid in self.queries}
        fresh = {qid: ranking for qid, ranking in mine.items() if (qid, ranking) not in self._values}
        if fresh:
            run = {
                qid: [(doc, float(self.k - rank)) for rank, doc in enumerate(ranking)] for qid, ranking in fresh.items()
            }
            scored = retrieval_metrics({qid: self.benchmark.qrels[qid] for qid in fresh}, run, [self.metric])
            self._values.update(((qid, fresh[qid]), values[self.metric]) for qid, values in scored.per_query.items())
        return mean_ci([self._values[qid, ranking] for qid, ranking in mine.items()])


def _rankings(search: Any, queries: np.ndarray, owners: np.ndarray, k: int) -> list[tuple[str, ...]]:
    """The first ``k`` documents of each query: ``search(queries, depth)`` gives positions (``-1``: none).

    A query whose positions cover fewer than ``k`` documents is searched again 4x deeper, as the index's
    search widens.
    """
    rankings: list[tuple[str, ...]] = [()] * len(queries)
    pending, depth = np.arange(len(queries)), k
    while len(pending):
        wider = []
        for query, row in zip(pending.tolist(), search(queries[pending], depth), strict=True):
            found = row[row >= 0]
            docs = tuple(dict.fromkeys(owners[found].tolist()))
            if len(docs) >= k or len(found) < depth or depth >= len(owners):
                rankings[query] = docs[:k]
            else:
                wider.append(query)
        pending, depth = np.asarray(wider, np.int64), depth * 4
    return rankings


def _graph_search(graph: AnnIndex, ef: int, rescore: int, queries: np.ndarray, depth: int) -> np.ndarray:
    """The ``depth`` best positions of ``graph`` for each query, in one batch."""
    return graph.search_many(queries, depth, max(ef, depth), rescore)[1]


def _exact(vectors: np.ndarray, queries: np.ndarray, depth: int) -> np.ndarray:
    """The ``depth`` best rows for each query by exact float32 cosine (equal scores: the lower row first)."""
    rows = max(1, _EXACT_SCORES // max(len(vectors), 1))  # queries scored at a time
    return np.vstack(
        [top_k(queries[start : start + rows] @ vectors.T, depth) for start in range(0, len(queries), rows)]
    )


def _latencies(graph: AnnIndex, ef: int, rescore: int, queries: np.ndarray, k: int) -> list[float]:
    """Milliseconds of each query's search of ``graph``, one query at a time."""
    times = []
    for query in queries:
        started = time.perf_counter()
        graph.search(query, k, max(ef, k), None, rescore)
        times.append(1000 * (time.perf_counter() - started))
    return times


def _disk(graph: AnnIndex) -> int:
    """Bytes of the structure's saved files."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "structure.faiss"
        graph.write(path)
        return sum(file.stat().st_size for file in Path(folder).iterdir())
