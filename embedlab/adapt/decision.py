"""Do no harm: an adapted model replaces the base only when it is significantly better on held-out data.

:func:`decide` reads the paired comparison of adapted vs base (the dict of
:meth:`embedlab.evaluate.suite.Comparison.to_dict`: ``difference``, ``p_value``) and keeps the adapted
model only when it is better with ``p < alpha``; a model that is no better, or worse, leaves the base in
place. :func:`holdout_pairs` gives the held-out data when there are no labels at all: a share of the
synthetic queries' documents, none of whose queries is trained on; :func:`synthetic_trust` says how far
a verdict on such queries can be trusted.

Example:
    >>> decide({"difference": {"value": 0.04}, "p_value": 0.01}).keep
    'adapted'
    >>> decide({"difference": {"value": 0.004}, "p_value": 0.6}).keep
    'base'
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from embedlab.adapt.pairs import SyntheticPair
from embedlab.errors import InputError
from embedlab.evaluate.data import RetrievalBenchmark

ALPHA = 0.05


@dataclass(frozen=True)
class Decision:
    """Which model to use (``keep``), why, and what the held-out data was (``held_out``, ``trust``)."""

    keep: Literal["adapted", "base"]
    reason: str
    difference: float
    p_value: float
    held_out: str = "the benchmark's labelled test split"
    trust: str = ""

    @property
    def adapted(self) -> bool:
        """Whether the adapted model is the one to use."""
        return self.keep == "adapted"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy (for the lineage and the reports)."""
        return asdict(self)


def decide(
    comparison: Mapping[str, Any],
    *,
    alpha: float = ALPHA,
    held_out: str = "the benchmark's labelled test split",
    trust: str = "",
) -> Decision:
    """Keep the adapted model only when ``comparison`` (adapted minus base) is positive with ``p < alpha``.

    Args:
        comparison: ``{"difference": {"value": float, ...}, "p_value": float, ...}``, as
            :attr:`embedlab.adapt.auto.AutoResult.comparison` gives it.
        alpha: the significance level.
        held_out: what the comparison was measured on (said in the reason).
        trust: how far that held-out data can be trusted (copied into the decision).

    Example:
        >>> decide({"difference": {"value": -0.03}, "p_value": 0.001}).reason[:50]
        'keep the base: the adapted model is significantly '

    """
    try:
        difference, p_value = float(comparison["difference"]["value"]), float(comparison["p_value"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"Not a paired comparison (difference, p_value): {dict(comparison)!r}.") from exc
    figures = f"NDCG@10 {difference:+.4f}, p = {p_value:.3g}"
    if difference > 0 and p_value < alpha:
        return Decision("adapted", f"use the adapted model: significantly better on {held_out} ({figures})",
                        difference, p_value, held_out, trust)  # fmt: skip
    if difference < 0 and p_value < alpha:
        why = f"the adapted model is significantly worse on {held_out}"
    else:
        why = f"the adapted model is not significantly better on {held_out} (p >= {alpha:g} or no gain)"
    return Decision("base", f"keep the base: {why} ({figures})", difference, p_value, held_out, trust)


def holdout_pairs(
    pairs: Sequence[SyntheticPair], corpus: dict[str, str], *, fraction: float = 0.2, seed: int = 0, name: str = ""
) -> tuple[list[SyntheticPair], RetrievalBenchmark]:
    """Split synthetic pairs by document: the training pairs, and a benchmark of the held-out documents' queries.

    Every query of a held-out document goes to the benchmark (over the whole ``corpus``), so no model is
    trained on a query, or a paraphrase of it for the same document, that it is then tested on.

    Example:
        >>> pairs = [SyntheticPair(f"query {i}", f"d{i % 5}", "doc2query") for i in range(10)]
        >>> train, held_out = holdout_pairs(pairs, {f"d{i}": "text" for i in range(5)}, fraction=0.2)
        >>> len(train), len(held_out.queries)
        (8, 2)
    """
    if not 0 < fraction < 1:
        raise InputError(f"The held-out fraction must be in (0, 1), got {fraction}.")
    doc_ids = sorted({pair.doc_id for pair in pairs})
    if len(doc_ids) < 2:
        raise InputError(f"{len(doc_ids)} document(s) with synthetic queries: too few to hold some out.")
    random.Random(seed).shuffle(doc_ids)
    held = set(doc_ids[: max(1, round(len(doc_ids) * fraction))])
    train = [pair for pair in pairs if pair.doc_id not in held]
    tested = [pair for pair in pairs if pair.doc_id in held]
    queries = {f"heldout-{number}": pair.query for number, pair in enumerate(tested)}
    qrels = {f"heldout-{number}": {pair.doc_id: 1} for number, pair in enumerate(tested)}
    return train, RetrievalBenchmark(corpus=dict(corpus), queries=queries, qrels=qrels,
                                     name=f"{name or 'corpus'}: held-out synthetic queries")  # fmt: skip


def synthetic_trust(n_queries: int, generator: str) -> str:
    """What a verdict on ``n_queries`` held-out synthetic queries (written by ``generator``) is worth."""
    return (
        f"The held-out data are {n_queries} synthetic queries written by {generator} for documents not trained on, "
        "not your users' queries. They passed the same round-trip filter as the training queries (the base model "
        "or BM25 already found their document in the top k), which favours the base, and they share the LLM's "
        "style with the training queries, which favours the adapted model. Treat the verdict as a sanity check "
        "(it catches a model made worse), not as a measure of the gain your users will see: label 50 real "
        "queries (`embedlab label`) and evaluate on them."
    )
