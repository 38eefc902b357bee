"""Compare an old and a new index on a benchmark and/or a query log: agreement, quality, thresholds.

Agreement, query by query on the top ``k`` of each index: overlap@k (shared documents over ``k``),
Jaccard@k, rank-biased overlap (:func:`rbo`, Webber et al. 2010, extrapolated; persistence ``p``) and
top-1 agreement, each averaged with a 95% bootstrap interval. Quality, on a benchmark: every metric of
:class:`~embedlab.evaluate.evaluators.RetrievalEvaluator` for both indexes through their search functions,
and the paired randomisation test of NDCG@10 (:func:`~embedlab.evaluate.stats.paired_test`). Thresholds:
when :mod:`embedlab.operate.thresholds` is there, the new index's threshold is recalibrated on the
benchmark and attached to it (``NEW/threshold.json``), the old one's shown beside it.

:func:`compare` returns a JSON-ready dict, saved as ``compare.json`` (what the promotion gate reads) with
``report.html``: the figures and the queries where the two indexes disagree most.

Example:
    >>> rbo(["a", "b", "c"], ["a", "b", "c"], p=0.9)
    1.0
    >>> rbo(["a", "b"], ["b", "a"], p=0.5)
    0.5
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embedlab.atomic import write_json
from embedlab.errors import EmbedlabError
from embedlab.evaluate.retrieval import Ranking
from embedlab.evaluate.stats import mean_ci, paired_test

if TYPE_CHECKING:
    from embedlab.evaluate.data import RetrievalBenchmark
    from embedlab.index import Index

KIND = "embedlab-migration-compare"
AGREEMENT = ("overlap", "jaccard", "rbo", "top1")
_WORST = 20


def rbo(first: Sequence[str], second: Sequence[str], *, p: float = 0.9) -> float:
    """Extrapolated rank-biased overlap of two rankings (1: the same order; 0: nothing shared).

    Evaluated to the depth of the longer list; the agreement at that depth is assumed to hold below it
    (Webber, Moffat and Zobel 2010, eq. 32). ``p`` is the persistence: 0.9 puts 86% of the weight on the
    first 10 ranks.
    """
    depth = max(len(first), len(second))
    if depth == 0:
        return 1.0
    seen_first: set[str] = set()
    seen_second: set[str] = set()
    shared, total = 0, 0.0
    for d in range(1, depth + 1):
        if d <= len(first):
            seen_first.add(first[d - 1])
            shared += first[d - 1] in seen_second
        if d <= len(second):
            seen_second.add(second[d - 1])
            shared += second[d - 1] in seen_first
        total += shared / d * p**d
    return float(shared / depth * p**depth + (1 - p) / p * total)


def agreement(first: Sequence[str], second: Sequence[str], *, k: int, p: float) -> dict[str, float]:
    """Overlap@k, Jaccard@k, RBO and top-1 agreement of two rankings' first ``k`` documents."""
    a, b = list(first[:k]), list(second[:k])
    shared = len(set(a) & set(b))
    union = len(set(a) | set(b))
    return {
        "overlap": shared / max(len(a), len(b), 1),
        "jaccard": shared / union if union else 1.0,
        "rbo": rbo(a, b, p=p),
        "top1": float(bool(a) and bool(b) and a[0] == b[0]),
    }


def compare(
    old: Index,
    new: Index,
    *,
    benchmark: RetrievalBenchmark | None = None,
    queries: Sequence[str] = (),
    k: int = 10,
    p: float = 0.9,
    objective: str | None = "f1",
) -> dict[str, Any]:
    """Compare ``old`` and ``new`` on ``benchmark`` (quality, agreement, thresholds) and ``queries`` (agreement).

    ``objective``: the threshold objective to recalibrate the new index's threshold for (``None``: skip).

    Raises:
        InputError: neither a benchmark nor queries.
    """
    from embedlab.errors import InputError

    if benchmark is None and not queries:
        raise InputError("Compare on something: give a benchmark, a query log, or both.")
    result: dict[str, Any] = {
        "kind": KIND, "created": datetime.now(UTC).isoformat(timespec="seconds"), "k": k, "rbo_p": p,
        "old": _describe(old), "new": _describe(new), "agreement": {}, "disagreements": [],
    }  # fmt: skip
    rows: list[dict[str, Any]] = []
    if benchmark is not None:
        quality, old_rankings, new_rankings = _quality(old, new, benchmark, k)
        result["retrieval"] = quality
        texts = [benchmark.queries[qid] for qid in old_rankings]
        result["agreement"]["benchmark"], found = _agreement(texts, list(old_rankings.values()),
                                                            list(new_rankings.values()), k, p)  # fmt: skip
        for row, qid in zip(found, old_rankings, strict=True):
            row.update(
                qid=qid,
                relevant=sorted(d for d, g in benchmark.qrels.get(qid, {}).items() if g > 0),
                ndcg_old=quality["per_query"]["old"].get(qid),
                ndcg_new=quality["per_query"]["new"].get(qid),
            )
        rows += found
        result["thresholds"] = _thresholds(old, new, benchmark, objective)
    if queries:
        texts = list(dict.fromkeys(queries))
        old_hits, new_hits = (_rankings(index, texts, k) for index in (old, new))
        result["agreement"]["log"], found = _agreement(texts, old_hits, new_hits, k, p)
        rows += found
    result["disagreements"] = sorted(rows, key=lambda row: (row["rbo"], row["overlap"]))[:_WORST]
    return result


def save(result: dict[str, Any], out: str | Path) -> Path:
    """Write ``compare.json`` and ``report.html`` into the folder ``out``; return the JSON's path."""
    from embedlab.operate.compare_report import render

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.html").write_text(render(result), encoding="utf-8")
    return write_json(folder / "compare.json", result)


def _describe(index: Index) -> dict[str, Any]:
    model = index.settings["model"]
    return {"path": str(Path(index.path).resolve()), "documents": len(index),
            "model": {key: model.get(key) for key in ("name", "fingerprint", "dimension", "path")}}  # fmt: skip


def _rankings(index: Index, texts: list[str], k: int) -> list[Ranking]:
    return index.search_fn()(texts, k)


def _quality(
    old: Index, new: Index, benchmark: RetrievalBenchmark, k: int
) -> tuple[dict[str, Any], dict[str, Ranking], dict[str, Ranking]]:
    from embedlab.evaluate.evaluators import RetrievalEvaluator

    evaluator = RetrievalEvaluator(benchmark, name="benchmark", k=max(100, k))
    before, after = evaluator.search(old.search_fn()), evaluator.search(new.search_fn())
    test = paired_test(before.values("ndcg@10"), after.values("ndcg@10"))
    quality = {
        "benchmark": benchmark.name,
        "queries": len(before.per_query),
        "old": {metric: estimate.to_dict() for metric, estimate in before.ci.items()},
        "new": {metric: estimate.to_dict() for metric, estimate in after.ci.items()},
        "ndcg@10_test": test.to_dict(),
        "per_query": {
            "old": {q: v["ndcg@10"] for q, v in before.per_query.items()},
            "new": {q: v["ndcg@10"] for q, v in after.per_query.items()},
        },
    }
    judged = list(before.per_query)
    return quality, {q: before.rankings[q] for q in judged}, {q: after.rankings[q] for q in judged}


def _agreement(
    texts: list[str], old: list[Ranking], new: list[Ranking], k: int, p: float
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Averages (with intervals) and the per-query rows of the agreement between two lists of rankings."""
    rows = []
    for text, first, second in zip(texts, old, new, strict=True):
        values = agreement([d for d, _ in first], [d for d, _ in second], k=k, p=p)
        rows.append({"query": text, **values, "old": [[d, round(s, 4)] for d, s in first[:k]],
                     "new": [[d, round(s, 4)] for d, s in second[:k]]})  # fmt: skip
    summary = {name: mean_ci(np.array([row[name] for row in rows])).to_dict() for name in AGREEMENT}
    return {"queries": len(rows), **summary}, rows


def _thresholds(old: Index, new: Index, benchmark: RetrievalBenchmark, objective: str | None) -> dict[str, Any]:
    """The new index's threshold recalibrated on ``benchmark`` (and attached), and the old one's, if any."""
    if objective is None:
        return {"status": "skipped"}
    try:
        from embedlab.operate import thresholds
    except ImportError:
        return {"status": "unavailable", "reason": "embedlab.operate.thresholds is not part of this embedlab"}
    found: dict[str, Any] = {"objective": objective}
    try:
        found["old"] = thresholds.index_threshold(old).to_dict()
    except EmbedlabError as exc:
        found["old"] = {"error": str(exc)}
    try:
        calibrated = thresholds.calibrate_from_benchmark(new, benchmark, objective)
        found["path"] = str(thresholds.attach(calibrated, new))
        found["new"] = calibrated.to_dict()
        found["status"] = "calibrated"
    except EmbedlabError as exc:
        found.update(status="failed", reason=str(exc))
    return found
