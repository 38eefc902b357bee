"""Which model to use: measured on the user's benchmark, with the guidance's rule table as the fallback.

:func:`measure_candidates` scores each model on a BEIR benchmark (NDCG@10 with its 95% interval, by the
same :class:`~embedlab.evaluate.evaluators.RetrievalEvaluator` as ``embedlab eval``) and times it on this
machine (documents per second, median query latency: :func:`~embedlab.optimize.measure.measure_speed`);
memory per million vectors follows from the dimension (float32), cost per million tokens from the provider's
list price (0 for a local model). :func:`pareto_front` marks the models no other beats on every axis, and
:func:`recommend` picks among those meeting the requirements: the fastest model whose NDCG@10 interval
reaches the best one's (statistically tied with the best), saying why. Without a benchmark,
:func:`rule_recommendation` applies the guidance's table and says that it is a rule, not a measurement.

Example:
    >>> candidates = measure_candidates([None, "all-mpnet-base-v2"], load_beir("my-bench"))  # doctest: +SKIP
    >>> recommend(candidates, Requirements(max_latency_ms=20)).reason  # doctest: +SKIP
    'all-MiniLM-L6-v2: NDCG@10 0.64 within the best interval (all-mpnet-base-v2 0.66), 5.1x the documents/s'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from embedlab.errors import InputError

if TYPE_CHECKING:
    from embedlab.evaluate.data import RetrievalBenchmark
    from embedlab.evaluate.stats import Estimate
    from embedlab.models import EmbeddingModel


@dataclass(frozen=True)
class Candidate:
    """One model as measured: quality with its interval, speed here, memory and cost at scale."""

    name: str
    fingerprint: str
    dimension: int
    ndcg: Estimate
    docs_per_s: float
    query_p50_ms: float
    usd_per_million_tokens: float | None  # 0 for a local model; None when a remote price is unknown
    local: bool
    pareto: bool = False

    @property
    def gb_per_million(self) -> float:
        """Memory of a million float32 vectors, in GB."""
        return self.dimension * 4 * 1e6 / 1e9

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self) | {"ndcg": self.ndcg.to_dict(), "gb_per_million": self.gb_per_million}


@dataclass(frozen=True)
class Requirements:
    """What a recommended model must meet (``None``: no limit)."""

    max_latency_ms: float | None = None
    max_dims: int | None = None
    local_only: bool = False
    max_usd_per_million: float | None = None

    def misses(self, candidate: Candidate) -> list[str]:
        """Why ``candidate`` does not meet these requirements (empty: it does)."""
        found = []
        if self.max_latency_ms is not None and candidate.query_p50_ms > self.max_latency_ms:
            found.append(f"query latency {candidate.query_p50_ms:.1f} ms > {self.max_latency_ms:g}")
        if self.max_dims is not None and candidate.dimension > self.max_dims:
            found.append(f"{candidate.dimension} dimensions > {self.max_dims}")
        if self.local_only and not candidate.local:
            found.append("not local")
        cost = candidate.usd_per_million_tokens
        if self.max_usd_per_million is not None and (cost is None or cost > self.max_usd_per_million):
            found.append(f"cost {cost if cost is not None else 'unknown'} $/M tokens > {self.max_usd_per_million:g}")
        return found


@dataclass(frozen=True)
class Recommendation:
    """The chosen model (``None`` when none qualifies), the reason, and whether it was measured or a rule."""

    chosen: str | None
    reason: str
    source: Literal["benchmark", "rules"]
    candidates: tuple[Candidate, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"chosen": self.chosen, "reason": self.reason, "source": self.source,
                "candidates": [candidate.to_dict() for candidate in self.candidates]}  # fmt: skip


def measure_candidates(
    specs: Sequence[str | EmbeddingModel | None],
    benchmark: RetrievalBenchmark,
    *,
    speed_docs: int = 200,
    speed_queries: int = 50,
    seed: int = 0,
) -> list[Candidate]:
    """Score and time each model on ``benchmark``; the Pareto front is marked.

    Speed uses ``speed_docs`` corpus documents and ``speed_queries`` queries (seeded samples), so that a
    large benchmark does not take the speed measurement's time too.
    """
    from embedlab.encode import Encoder
    from embedlab.evaluate.evaluators import RetrievalEvaluator
    from embedlab.models import EmbeddingModel, load_model
    from embedlab.optimize.measure import measure_speed, sample
    from embedlab.providers import RemoteEmbedding

    if not specs:
        raise InputError("Give at least one model to measure.")
    evaluator = RetrievalEvaluator(benchmark)
    docs, queries = list(benchmark.corpus.values()), list(benchmark.queries.values())
    docs = [docs[i] for i in sample(docs, speed_docs, seed)]
    queries = [queries[i] for i in sample(queries, speed_queries, seed)]
    measured = []
    for spec in specs:
        model = spec if isinstance(spec, EmbeddingModel) else load_model(spec)
        quality = evaluator.measure(Encoder(model, show_progress=False)).ci[evaluator.primary]
        speed = measure_speed(model, docs, queries, repeats=1)
        first = model.st[0]
        local = not isinstance(first, RemoteEmbedding)
        price = first.spec.price_per_million if isinstance(first, RemoteEmbedding) else 0.0
        measured.append(Candidate(model.info.name, model.info.fingerprint, model.info.dimension, quality,
                                  speed.docs_per_s, speed.query_p50_ms, price, local))  # fmt: skip
    return mark_pareto(measured)


def _costs(candidate: Candidate) -> tuple[float, ...]:
    """Every axis as a cost (lower is better): unknown prices count as infinite."""
    price = candidate.usd_per_million_tokens
    return (-candidate.ndcg.value, -candidate.docs_per_s, candidate.query_p50_ms, candidate.gb_per_million,
            float("inf") if price is None else price)  # fmt: skip


def pareto_front(candidates: Sequence[Candidate]) -> list[str]:
    """Names of the candidates no other one matches or beats on every axis while beating it on one."""
    costs = [_costs(candidate) for candidate in candidates]

    def beaten(mine: tuple[float, ...]) -> bool:
        return any(all(a <= b for a, b in zip(theirs, mine, strict=True)) and theirs != mine for theirs in costs)

    return [candidate.name for candidate, mine in zip(candidates, costs, strict=True) if not beaten(mine)]


def mark_pareto(candidates: Sequence[Candidate]) -> list[Candidate]:
    """``candidates`` with ``pareto`` set."""
    front = set(pareto_front(candidates))
    return [replace(candidate, pareto=candidate.name in front) for candidate in candidates]


def recommend(candidates: Sequence[Candidate], requirements: Requirements | None = None) -> Recommendation:
    """Among the candidates meeting ``requirements``, the fastest whose NDCG@10 interval reaches the best one's.

    A model whose interval's upper end is at or above the best model's point value is not shown to be worse
    on this benchmark; of those, the one with the most documents per second wins (then the smaller one).
    """
    requirements = requirements or Requirements()
    measured = tuple(candidates)
    eligible = [candidate for candidate in measured if not requirements.misses(candidate)]
    if not eligible:
        why = "; ".join(f"{c.name}: {', '.join(requirements.misses(c))}" for c in measured)
        return Recommendation(None, f"no candidate meets the requirements ({why})", "benchmark", measured)
    best = max(eligible, key=lambda candidate: candidate.ndcg.value)
    tied = [candidate for candidate in eligible if candidate.ndcg.high >= best.ndcg.value]
    chosen = max(tied, key=lambda candidate: (candidate.docs_per_s, -candidate.dimension))
    if chosen is best:
        reason = f"{best.name}: the highest NDCG@10 {best.ndcg} of those meeting the requirements"
        others = [candidate.name for candidate in tied if candidate is not best]
        reason += f" (tied with {', '.join(others)}, but faster)" if others else ""
    else:
        reason = (f"{chosen.name}: NDCG@10 {chosen.ndcg} reaches the best ({best.name} {best.ndcg.value:.4f}), "
                  f"and it encodes {chosen.docs_per_s / max(best.docs_per_s, 1e-9):.1f}x the documents/s")  # fmt: skip
    return Recommendation(chosen.name, reason, "benchmark", measured)


_RULES = {
    "search": ("all-mpnet-base-v2", "text-embedding-3-small", "optimised for semantic search and retrieval"),
    "qa": ("multi-qa-mpnet-base-dot-v1", "text-embedding-3-small", "trained on question-answer pairs"),
    "classification": ("all-MiniLM-L6-v2", "all-MiniLM-L6-v2", "fast and efficient for classification"),
    "clustering": ("all-mpnet-base-v2", "all-mpnet-base-v2", "high-quality embeddings for grouping similar items"),
}


def rule_recommendation(
    use_case: str = "search",
    *,
    budget: str = "free",
    latency: str = "medium",
    private: bool = True,
    size: int = 0,
) -> Recommendation:
    """The guidance's rule table (``recommend_embedding_model``), used when there is no benchmark; it says so.

    Example:
        >>> rule_recommendation("search", budget="free", private=True).chosen
        'all-mpnet-base-v2'
    """
    if use_case not in _RULES:
        raise InputError(f"use_case must be one of {', '.join(_RULES)}; got {use_case!r}.")
    local, remote, why = _RULES[use_case]
    chosen = local if private or budget == "free" else remote
    notes = [f"{why} (a rule of thumb, not measured on your data: give --benchmark to measure)"]
    if latency == "realtime" and chosen != "all-MiniLM-L6-v2":
        chosen, notes = "all-MiniLM-L6-v2", [*notes, "realtime latency: the smaller MiniLM"]
    if size > 1_000_000:
        notes.append("over a million documents: an approximate index (embedlab's HNSW) keeps search fast")
    return Recommendation(chosen, "; ".join(notes), "rules")
