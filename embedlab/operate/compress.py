"""Plan an index's compression on the user's own benchmark, and apply the pick in place.

For each setting (precision x dimensions x rescore multiplier, :class:`Setting`) :func:`plan` builds the
search structure the index would hold (:class:`~embedlab.index.hnsw.AnnIndex`, from the index's own
float32 vectors in LanceDB: nothing is re-encoded) and measures the RAM of the structure and of its
vectors alone, the disk of its saved files, the p50/p99 latency of one query at a time, recall@10 against
exact float32 search, and NDCG@10 with its 95% interval through the search-function contract
(:func:`embedlab.evaluate.evaluate`). The pick is the setting with the least RAM whose NDCG@10 keeps
``target`` of exact float32 search's (ties: the fewest candidates re-scored). :func:`apply` converts an
index to a setting: ``index.json`` is switched atomically, and the structure is rebuilt from LanceDB's
vectors (a crash in between leaves a saved structure of the old precision, which the next open rebuilds).

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
from embedlab.evaluate.retrieval import Ranking, SearchFn, evaluate
from embedlab.evaluate.stats import Estimate
from embedlab.index import Index, compact
from embedlab.index.compact import PRECISIONS
from embedlab.index.hnsw import BATCH, AnnIndex
from embedlab.index.settings import update_settings

RESCORES = (0, 1, 4, 10)
METRICS = ("ndcg@10", "recall@10")


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
    texts = list(dict.fromkeys(benchmark.queries.values()))
    queries = dict(zip(texts, index.encoder.encode(texts), strict=True))
    owners = np.asarray(doc_ids, object)
    exact_fn = _search_fn(queries, owners, lambda query, depth: _exact(vectors, query, depth), [])
    exact = evaluate(exact_fn, benchmark, k=k, metrics=METRICS)
    truth = {text: {doc for doc, _ in ranking[:10]} for text, ranking in zip(texts, exact_fn(texts, 10), strict=True)}
    chosen_settings = list(settings) if settings is not None else grid(dimension)
    for setting in chosen_settings:
        compact.check(setting.precision, setting.dims, index.settings["model"])
    measures = []
    ef = index.ef_search
    for (precision, dims), group in _by_structure(chosen_settings).items():
        graph = AnnIndex(dimension, precision=precision, dims=dims)
        for start in range(0, len(vectors), BATCH):
            graph.add(np.arange(start, min(start + BATCH, len(vectors))), vectors[start : start + BATCH])
        disk = _disk(graph)
        for setting in group:
            times: list[float] = []
            search_fn = _search_fn(queries, owners, partial(_graph_search, graph, ef, setting.rescore), times)
            result = evaluate(search_fn, benchmark, k=k, metrics=METRICS)
            found = search_fn(texts, 10)
            recall = float(np.mean([len(truth[t] & {d for d, _ in r}) / max(len(truth[t]), 1)
                                    for t, r in zip(texts, found, strict=True)]))  # fmt: skip
            measures.append(Measure(
                setting, graph.memory(), int(compact.vector_bytes(precision, graph.dims) * graph.size), disk,
                float(np.percentile(times, 50)), float(np.percentile(times, 99)), recall, result.ci["ndcg@10"],
                result.mean["ndcg@10"] / max(exact.mean["ndcg@10"], 1e-12),
            ))  # fmt: skip
    keeping = [m for m in measures if m.retained >= target]
    chosen = min(keeping, key=lambda m: (m.memory_bytes, m.setting.rescore)) if keeping else None
    return Plan(measures, exact.ci["ndcg@10"], target, chosen, len(vectors), len(benchmark.queries))


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


def _search_fn(queries: dict[str, np.ndarray], owners: np.ndarray, search: Any, times: list[float]) -> SearchFn:
    """A search function over chunk rows: ``search(vector, depth)`` gives positions, collapsed to documents.

    The depth widens (4x) until ``k`` documents are found, as the index's search does; each query's time
    goes to ``times``.
    """

    def run(texts: Sequence[str], k: int) -> list[Ranking]:
        rankings = []
        for text in texts:
            started = time.perf_counter()
            depth = k
            while True:
                positions = search(queries[text], depth)
                docs = list(dict.fromkeys(owners[positions].tolist()))
                if len(docs) >= k or len(positions) < depth or depth >= len(owners):
                    break
                depth *= 4
            times.append(1000 * (time.perf_counter() - started))
            rankings.append([(doc, float(k - rank)) for rank, doc in enumerate(docs[:k])])
        return rankings

    return run


def _graph_search(graph: AnnIndex, ef: int, rescore: int, query: np.ndarray, depth: int) -> np.ndarray:
    """The ``depth`` best positions of ``graph`` for ``query``."""
    return graph.search(query, depth, max(ef, depth), None, rescore)[1]


def _exact(vectors: np.ndarray, query: np.ndarray, depth: int) -> np.ndarray:
    """The ``depth`` best rows by exact float32 cosine."""
    scores = vectors @ compact.truncate(query.reshape(1, -1), len(query))[0]
    depth = min(depth, len(scores))
    top = np.argpartition(-scores, depth - 1)[:depth]
    return top[np.argsort(-scores[top], kind="stable")]


def _disk(graph: AnnIndex) -> int:
    """Bytes of the structure's saved files."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "structure.faiss"
        graph.write(path)
        return sum(file.stat().st_size for file in Path(folder).iterdir())
