"""Query expansion by pseudo-relevance feedback: terms mined from the index's own documents for BM25.

RM3 (Lavrenko and Croft 2001; Abdul-Jaleel et al. 2004), the feedback model that Anserini and Pyserini
ship as BM25's query-expansion baseline, with their defaults: the plain query's :data:`DOCS` best documents
are the feedback; each term's weight is the sum over those documents of its share of the document's terms
times the document's BM25 score; terms in more than :data:`MAX_DF` of the index's rows, stop words, and
terms shorter than 2 or longer than 20 characters or not alphanumeric are left out; the :data:`TERMS`
heaviest terms not already in the query are added. The query's own terms keep their weight (1, so the
plain query is unchanged); the heaviest expansion term weighs :data:`WEIGHT` of an original term, the
others less in proportion. Terms are Snowball English stems (PyStemmer, the algorithm of LanceDB's
full-text index), and each is sent as its most frequent word in the feedback, which LanceDB's analyser
stems back to it. Ties are broken by the term, so an expansion is deterministic.

Example:
    >>> vocabulary = Vocabulary.of(["cats purr", "cats meow", "dogs bark", "dogs howl", "birds sing"])
    >>> expand("cat", [("cats purr", 2.0), ("cats meow", 1.0)], vocabulary, max_df=0.5).terms
    (('purr', 0.5), ('meow', 0.25))
"""

from __future__ import annotations

import re
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

DOCS = 10  # feedback documents: the plain query's best
TERMS = 10  # expansion terms added
WEIGHT = 0.5  # the heaviest expansion term's weight, an original term's being 1
MAX_DF = 0.1  # terms in more than this share of the rows are too common to add
_WORD = re.compile(r"[^\W_]+")
_TERM = re.compile(r"[a-z0-9]{2,20}")
_CACHED = 4  # vocabularies kept (by index folder and table version)
_vocabularies: dict[tuple[str, int], Vocabulary] = {}
_lock = threading.Lock()
_local = threading.local()


@dataclass(frozen=True)
class Expansion:
    """A query and the terms added to it, ``(word, weight)`` heaviest first (weights relative to an original term)."""

    query: str
    terms: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class Vocabulary:
    """How many rows of a corpus hold each term (``frequencies``), and the number of ``rows``."""

    frequencies: dict[str, int]
    rows: int

    @classmethod
    def of(cls, texts: Iterable[str]) -> Vocabulary:
        """The document frequencies of ``texts``' terms."""
        frequencies: Counter[str] = Counter()
        rows = 0
        for text in texts:
            frequencies.update({term for term, _ in analyze(text)})
            rows += 1
        return cls(dict(frequencies), rows)


def analyze(text: str) -> list[tuple[str, str]]:
    """``(term, word)`` for each word of ``text``: lower-cased, English stop words left out, term = Snowball stem."""
    from bm25s.stopwords import STOPWORDS_EN

    words = [word for word in _WORD.findall(text.lower()) if word not in STOPWORDS_EN]
    return list(zip(_stemmer().stemWords(words), words, strict=True))


def expand(
    query: str,
    feedback: Sequence[tuple[str, float]],
    vocabulary: Vocabulary,
    *,
    terms: int = TERMS,
    weight: float = WEIGHT,
    max_df: float = MAX_DF,
) -> Expansion:
    """``query`` with RM3's ``terms`` heaviest new terms from ``feedback`` (``(text, BM25 score)`` of its best rows).

    A term weighs ``sum(score * count in text / terms in text)`` over the feedback (counting only terms that
    may be added, as Anserini does); the heaviest new term gets ``weight``, the others in proportion.
    """
    asked = {term for term, _ in analyze(query)}
    model: defaultdict[str, float] = defaultdict(float)
    spelled: dict[str, Counter[str]] = {}
    for text, score in feedback:
        kept = [(term, word) for term, word in analyze(text) if _addable(term, vocabulary, max_df)]
        for term, count in Counter(term for term, _ in kept).items():
            model[term] += score * count / len(kept)
        for term, word in kept:
            spelled.setdefault(term, Counter())[word] += 1
    chosen = sorted((term for term in model if term not in asked and model[term] > 0), key=lambda t: (-model[t], t))
    chosen = chosen[:terms]
    if not chosen:
        return Expansion(query)
    top = model[chosen[0]]
    return Expansion(query, tuple((_most_common(spelled[term]), weight * model[term] / top) for term in chosen))


def cached_vocabulary(key: tuple[str, int], texts: Any) -> Vocabulary:
    """The :class:`Vocabulary` of an index's rows at a table version (``key``), from ``texts()`` the first time."""
    with _lock:
        found = _vocabularies.get(key)
    if found is None:
        found = Vocabulary.of(texts())
        with _lock:
            _vocabularies[key] = found
            for old in list(_vocabularies)[:-_CACHED]:
                del _vocabularies[old]
    return found


def _addable(term: str, vocabulary: Vocabulary, max_df: float) -> bool:
    return bool(_TERM.fullmatch(term)) and vocabulary.frequencies.get(term, 0) <= max_df * vocabulary.rows


def _most_common(words: Counter[str]) -> str:
    """The most frequent spelling of a term (the first in alphabetical order among equals)."""
    return min(words.items(), key=lambda item: (-item[1], item[0]))[0]


def _stemmer() -> Any:
    """The Snowball English stemmer of this thread (PyStemmer's are not thread-safe; each keeps a cache)."""
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        import Stemmer

        stemmer = _local.stemmer = Stemmer.Stemmer("english")
    return stemmer
