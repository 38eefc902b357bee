"""Query expansion by pseudo-relevance feedback: terms mined from the index's own documents for BM25.

RM3 (Lavrenko and Croft 2001; Abdul-Jaleel et al. 2004) as Anserini and Pyserini ship it as BM25's
query-expansion baseline, with their defaults. The plain query's :data:`DOCS` best documents are the
feedback. The relevance model weighs each term by the sum over those documents of the document's BM25
score times the term's share of the document's terms, counting only terms that may be added: not stop
words, in at most :data:`MAX_DF` of the index's rows, 2 to 20 letters or digits. It keeps its :data:`TERMS`
heaviest terms (the query's own among them), normalised to sum to 1, and is mixed with the query's own
term distribution, the query keeping the share :data:`ORIGINAL`. In BM25 units (each original term of the
plain query weighing 1) the query's terms gain a bonus and new terms are added; a new term never weighs
more than an original term (RM3 alone allows that for long queries). Terms are Snowball English stems
(PyStemmer, the algorithm of LanceDB's full-text index), and each is sent as its most frequent word in the
feedback, which LanceDB's analyser stems back to it. Ties are broken by the term, so an expansion is
deterministic.

Example:
    >>> vocabulary = Vocabulary.of(["cats purr", "cats meow", "dogs bark", "dogs howl", "birds sing"])
    >>> found = expand("cat", [("cats purr", 2.0), ("cats meow", 1.0)], vocabulary, max_df=0.5)
    >>> [(word, round(weight, 3)) for word, weight in found.terms]  # model: cat 1.5, purr 1, meow 0.5 (of 3)
    [('cats', 0.5), ('purr', 0.333), ('meow', 0.167)]
"""

from __future__ import annotations

import re
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

DOCS = 10  # feedback documents: the plain query's best
TERMS = 10  # terms of the relevance model (the query's own among them)
ORIGINAL = 0.5  # the query's share of the expanded query, the relevance model's being the rest
MAX_DF = 0.1  # terms in more than this share of the rows are too common to add
_WORD = re.compile(r"[^\W_]+")
_TERM = re.compile(r"[a-z0-9]{2,20}")
_CACHED = 4  # vocabularies kept (by index folder and table version)
_vocabularies: dict[tuple[str, int], Vocabulary] = {}
_lock = threading.Lock()
_local = threading.local()


@dataclass(frozen=True)
class Expansion:
    """A query and the terms added to it, ``(word, weight)`` heaviest first, an original term weighing 1.

    The query's own words may be among them: their weight is added to the plain query's.
    """

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
    from bm25s.stopwords import STOPWORDS_EN_PLUS  # NLTK's (Snowball's) list: it covers LanceDB's English one

    words = [word for word in _WORD.findall(text.lower()) if word not in STOPWORDS_EN_PLUS]
    return list(zip(_stemmer().stemWords(words), words, strict=True))


def expand(
    query: str,
    feedback: Sequence[tuple[str, float]],
    vocabulary: Vocabulary,
    *,
    terms: int = TERMS,
    original: float = ORIGINAL,
    max_df: float = MAX_DF,
) -> Expansion:
    """``query`` expanded by RM3 from ``feedback``, the ``(text, BM25 score)`` of its best rows.

    With ``n`` query terms and the relevance model ``rm`` (its ``terms`` heaviest, summing to 1), a term
    weighs ``(1 - original) / original * n * rm(term)`` on top of the plain query; a new term at most 1.
    """
    asked = analyze(query)
    model: defaultdict[str, float] = defaultdict(float)
    spelled: dict[str, Counter[str]] = {}
    for text, score in feedback:
        kept = [(term, word) for term, word in analyze(text) if _addable(term, vocabulary, max_df)]
        for term, count in Counter(term for term, _ in kept).items():
            model[term] += score * count / len(kept)
        for term, word in kept:
            spelled.setdefault(term, Counter())[word] += 1
    chosen = sorted((term for term in model if model[term] > 0), key=lambda term: (-model[term], term))[:terms]
    if not asked or not chosen:
        return Expansion(query)
    scale = (1 - original) / original * len(asked) / sum(model[term] for term in chosen)
    own = {term for term, _ in asked}
    weights = {term: scale * model[term] if term in own else min(1.0, scale * model[term]) for term in chosen}
    ranked = sorted(chosen, key=lambda term: (-weights[term], term))
    return Expansion(query, tuple((_most_common(spelled[term]), weights[term]) for term in ranked))


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
