"""BM25 as a search function: the lexical baseline in every retrieval comparison.

Uses `bm25s <https://github.com/xhluca/bm25s>`_ (fast, numpy/scipy) with the English Snowball stemmer
(PyStemmer) and English stop words, the setting of the reference figures in ``shared/data/README.md``.

Example:
    >>> search = BM25Search(bench.corpus)  # bench: SciFact test, in the shared data  # doctest: +SKIP
    >>> evaluate(search, bench).mean["ndcg@10"]  # doctest: +SKIP
    0.6863
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from embedlab.evaluate.retrieval import Ranking


class BM25Search:
    """BM25 over a corpus ``{doc_id: text}``, callable as ``search(queries, k)``.

    Args:
        corpus: the documents to index.
        language: stemmer and stop-word language (``None`` for neither).
        k1, b: the BM25 parameters.
    """

    def __init__(self, corpus: dict[str, str], *, language: str | None = "english", k1: float = 1.5, b: float = 0.75):
        import bm25s

        started = time.perf_counter()
        self.doc_ids = list(corpus)
        self.language = language
        self._stemmer = _stemmer(language)
        self._stopwords = "en" if language == "english" else None
        tokens = bm25s.tokenize(
            [corpus[d] for d in self.doc_ids], stopwords=self._stopwords, stemmer=self._stemmer, show_progress=False
        )
        self._index = bm25s.BM25(k1=k1, b=b)
        self._index.index(tokens, show_progress=False)
        self.index_seconds = time.perf_counter() - started

    def __call__(self, queries: Sequence[str], k: int) -> list[Ranking]:
        """Rank the corpus for each query; documents without a shared term are not returned."""
        import bm25s

        tokens = bm25s.tokenize(list(queries), stopwords=self._stopwords, stemmer=self._stemmer, show_progress=False)
        top = min(k, len(self.doc_ids))
        indices, scores = self._index.retrieve(tokens, k=top, show_progress=False, n_threads=1)
        return [
            [(self.doc_ids[int(i)], float(s)) for i, s in zip(row_i, row_s, strict=True) if s > 0]
            for row_i, row_s in zip(indices, scores, strict=True)
        ]


def _stemmer(language: str | None) -> Any:
    if language is None:
        return None
    import Stemmer

    return Stemmer.Stemmer(language).stemWords
