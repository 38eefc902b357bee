"""How an index answers a query: each component's candidates, widening, fusion and reranking.

A query's vector goes to the ANN accelerator when it is on, else to LanceDB's exact cosine scan; its text
goes to LanceDB's BM25 index (:mod:`embedlab.index.fulltext`). Each component retrieves
``max(candidates, 4 * k)`` chunk rows, collapsed to their documents' best chunks, and widens the
retrieval (4x at a time) while those cover fewer than ``k`` documents, so a long document's many chunks
never crowd the others out. :func:`~embedlab.index.hits.fuse` then ranks the documents, and a
cross-encoder (:mod:`embedlab.index.rerank`) may re-score the first ``rerank_top``. With ``expand`` (or the
index's ``expand`` setting for the mode), the BM25 query gains terms from its own best documents first
(:mod:`embedlab.index.expansion`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np

from embedlab.index import expansion, fulltext
from embedlab.index.ann import Accelerator
from embedlab.index.compact import DEFAULT_RESCORE
from embedlab.index.hits import Candidates, Hit, collapse, fuse
from embedlab.index.options import SearchOptions
from embedlab.index.rerank import load_reranker, rerank_hits
from embedlab.index.rows import Rows


def search(
    rows: Rows, accelerator: Accelerator, queries: Sequence[str], vectors: np.ndarray | None, k: int,
    options: SearchOptions,
) -> list[list[Hit]]:  # fmt: skip
    """The ``k`` best documents for each query (its text, and its vector unless the mode is ``bm25``)."""
    table = rows.table()
    if table is None:
        return [[] for _ in queries]
    cross_encoder = load_reranker(options.rerank) if options.rerank is not None else None
    first_stage = max(k, options.rerank_top) if cross_encoder is not None else k
    depth = max(options.candidates, 4 * first_stage)
    fields = list(rows.settings["metadata_fields"])
    expand = expands(options, rows.settings)
    results = []
    for position, query in enumerate(queries):
        components: dict[str, Candidates] = {}
        if vectors is not None:
            components["vector"] = vector_candidates(
                rows, accelerator, vectors[position], depth, options.filter, first_stage,
                only_needed=options.mode == "vector", rescore=options.rescore,
            )  # fmt: skip
        if options.mode != "vector":
            components["bm25"] = bm25_candidates(rows, query, depth, options.filter, first_stage, expand=expand)
        hits = fuse(
            components, first_stage, mode=options.mode, fields=fields, fusion=options.fusion, alpha=options.alpha,
            min_score=None if cross_encoder is not None else options.score_floor,
        )  # fmt: skip
        if cross_encoder is not None:
            hits = rerank_hits(
                cross_encoder, query, hits, k, options.score_floor, options.rerank_top, options.rerank_fusion
            )
        results.append(hits)
    return results


def vector_candidates(
    rows: Rows, accelerator: Accelerator, vector: np.ndarray, depth: int, filter: str | None, need: int = 0, *,
    only_needed: bool = False, rescore: int | None = None,
) -> Candidates:  # fmt: skip
    """The best chunk of each document among the ``depth`` nearest chunks, widened to ``need`` documents.

    ``only_needed``: the caller keeps only the best ``need`` documents (vector mode), so the accelerator
    retrieves no more chunks than its search keeps anyway and stops collapsing once it has them.
    ``rescore``: a compressed index's multiplier of candidates re-scored (``None``: the index's setting).
    """
    table = rows.table()
    if accelerator.active(table):
        rescore = int(rows.settings.get("rescore", DEFAULT_RESCORE)) if rescore is None else rescore
        return accelerator.candidates(table, vector, depth, filter, need, only_needed, rescore)

    def query(limit: int) -> Any:
        return table.search(vector, vector_column_name="vector").distance_type("cosine").limit(limit)

    return _widening(rows, query, depth, filter, need, lambda row: 1.0 - float(row["_distance"]))


def bm25_candidates(
    rows: Rows, text: str, depth: int, filter: str | None, need: int = 0, *, expand: bool = False
) -> Candidates:
    """Like :func:`vector_candidates`, by BM25 over title and text (nothing for a blank text).

    ``expand``: the query gains terms from its best documents (:func:`expanded`).
    """
    if not text.strip():
        return {}
    table = rows.table()
    asked = expanded(rows, text, filter) if expand else text
    return _widening(rows, lambda limit: fulltext.query(table, asked, limit), depth, filter, need,
                     lambda row: float(row["_score"]))  # fmt: skip


def expands(options: SearchOptions, settings: dict[str, Any]) -> bool:
    """Whether a search expands its BM25 query: ``options.expand``, else the index's setting for the mode."""
    if options.mode == "vector":
        return False
    if options.expand is not None:
        return options.expand
    return bool(settings.get("expand", {}).get(options.mode, False))


def expanded(rows: Rows, text: str, filter: str | None) -> expansion.Expansion:
    """``text`` with RM3 terms from its :data:`~embedlab.index.expansion.DOCS` best documents (within ``filter``)."""
    feedback = bm25_candidates(rows, text, expansion.DOCS, filter, expansion.DOCS)
    best = sorted(feedback.items(), key=lambda item: (-item[1][0], item[0]))[: expansion.DOCS]
    table = rows.table()

    def texts() -> list[str]:
        with rows.reading():
            return table.search().select(["fts_text"]).limit(None).to_arrow().column("fts_text").to_pylist()

    vocabulary = expansion.cached_vocabulary((str(rows.folder.resolve()), int(table.version)), texts)
    return expansion.expand(text, [(row["fts_text"], score) for _, (score, row) in best], vocabulary)


def _widening(
    rows: Rows, query: Callable[[int], Any], depth: int, filter: str | None, need: int,
    score: Callable[[dict[str, Any]], float],
) -> Candidates:  # fmt: skip
    """Run ``query(depth)``, widening it while its chunks cover fewer than ``need`` documents."""
    while True:
        found = rows.query(partial(_prefiltered, query, depth), filter).to_pylist()
        best = collapse(found, score)
        if len(best) >= need or len(found) < depth or depth >= rows.count():  # counted only when short
            return best
        depth *= 4


def _prefiltered(query: Callable[[int], Any], limit: int, condition: str | None) -> Any:
    """``query(limit)`` built afresh (LanceDB's query builders change in place), filtered before ranking."""
    search = query(limit)
    return search.where(condition, prefilter=True) if condition else search
