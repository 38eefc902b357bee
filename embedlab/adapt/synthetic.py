"""Synthetic (query, document) pairs for adaptation when labelled queries are scarce.

Two generators, one filter (this module re-exports the pieces that live elsewhere):

- :func:`~embedlab.adapt.doc2query.doc2query` asks an OpenAI-compatible chat endpoint (a local vLLM,
  Ollama, llama.cpp server...) for queries a user might type to find each document; documents are sent
  only to the ``base_url`` given.
- :func:`inverse_cloze` (here) needs no model: a sentence of the document is its query (Inverse Cloze
  Task, Lee et al. 2019). As in that paper the sentence is removed from the positive 90% of the time
  (``remove_sentence=0.9``), so the model learns from context rather than from copying; the shortened
  text travels in :attr:`SyntheticPair.positive`.
- :func:`~embedlab.adapt.pairs.filter_pairs` drops empty and too-short queries, queries identical to
  their document and duplicates, then keeps a pair only if its document comes back in the top ``k`` for
  its query from at least one search function (round-trip filtering, e.g. the base model and BM25).

:func:`synthesize` (here) chains them and :func:`~embedlab.adapt.pairs.write_pairs` writes ``anchor``,
``positive``, ``doc_id`` rows that :func:`embedlab.adapt.data.read_training_pairs` reads. The ``doc_id``
column lets negative mining over the original corpus exclude a pair's own document (whose text differs
from the positive when the ICT sentence was removed).

Example:
    >>> pairs, report = synthesize(corpus, encoder=Encoder())  # needs a corpus  # doctest: +SKIP
    >>> report.kept, report.failed_round_trip  # doctest: +SKIP
    (812, 57)
    >>> write_pairs("pairs.jsonl", pairs, corpus)  # doctest: +SKIP
"""

from __future__ import annotations

import random

from embedlab.adapt.doc2query import doc2query
from embedlab.adapt.pairs import SyntheticPair, SyntheticReport, filter_pairs, sample_ids, write_pairs
from embedlab.adapt.text import sentence_spans
from embedlab.encode import Encoder, normalize_text
from embedlab.errors import InputError
from embedlab.evaluate.bm25 import BM25Search
from embedlab.evaluate.retrieval import ExactSearch, SearchFn

__all__ = [
    "SyntheticPair",
    "SyntheticReport",
    "doc2query",
    "filter_pairs",
    "inverse_cloze",
    "synthesize",
    "write_pairs",
]


def inverse_cloze(
    corpus: dict[str, str],
    *,
    per_doc: int = 1,
    seed: int = 0,
    min_words: int = 4,
    max_words: int | None = 64,
    remove_sentence: float = 0.9,
    max_docs: int | None = None,
) -> tuple[list[SyntheticPair], SyntheticReport]:
    """Pairs without an LLM: up to ``per_doc`` sentences of each document become its queries (ICT).

    Sentences (split by :func:`embedlab.adapt.text.sentence_spans`) of ``min_words`` to ``max_words`` words
    are eligible; documents with fewer than two sentences give none (the query would be the whole document).
    With probability ``remove_sentence`` the sentence is cut out of the positive, which is then set in
    :attr:`SyntheticPair.positive`.
    Choices are seeded per document (by ``seed`` and its id), so a document's pairs do not change when
    others are added; ``max_docs`` takes a seeded sample of the corpus.

    Example:
        >>> corpus = {"d": "BM25 ranks documents by term statistics. It needs no training data at all."}
        >>> pairs, _ = inverse_cloze(corpus, remove_sentence=1.0)
        >>> pairs[0].query in corpus["d"], pairs[0].query in pairs[0].positive
        (True, False)
    """
    if per_doc < 1 or min_words < 1 or not 0.0 <= remove_sentence <= 1.0:
        raise InputError("per_doc and min_words must be at least 1 and remove_sentence in [0, 1].")
    doc_ids = sample_ids(corpus, max_docs, seed)
    report = SyntheticReport(method="inverse_cloze", documents=len(doc_ids))
    pairs: list[SyntheticPair] = []
    for doc_id in doc_ids:
        text = corpus[doc_id]
        spans = sentence_spans(text)
        eligible = [(start, end) for start, end in spans if _words_between(text[start:end], min_words, max_words)]
        if len(spans) < 2 or not eligible:
            report.documents_without_query += 1
            continue
        rng = random.Random(f"{seed}:{doc_id}")
        for start, end in sorted(rng.sample(eligible, min(per_doc, len(eligible)))):
            positive = None
            if rng.random() < remove_sentence:
                positive = (text[:start].rstrip() + " " + text[end:].lstrip()).strip()
            pairs.append(SyntheticPair(normalize_text(text[start:end]), doc_id, "inverse_cloze", positive))
    report.generated = len(pairs)
    return pairs, report


def synthesize(
    corpus: dict[str, str],
    *,
    encoder: Encoder,
    llm_base_url: str | None = None,
    llm_model: str | None = None,
    llm_api_key: str | None = None,
    per_doc: int | None = None,
    k: int = 10,
    seed: int = 0,
    max_docs: int | None = None,
    show_progress: bool | None = None,
) -> tuple[list[SyntheticPair], SyntheticReport]:
    """Generate pairs (doc2query with an LLM, else inverse cloze) and filter them with ``encoder`` and BM25.

    The LLM is the OpenAI-compatible endpoint ``llm_base_url`` asked for ``llm_model``, or, without a URL,
    the local GGUF model ``llm_model`` names (a pack such as ``"qwen2.5-coder-0.5b-gguf"`` or a ``.gguf``
    path) run in this process by :func:`embedlab.adapt.llm.local_doc2query`. ``per_doc`` defaults to 3
    queries per document with an LLM and 1 sentence without. The round trip searches the whole corpus (not
    only the ``max_docs`` sample) with exact search over ``encoder`` and with BM25; a pair is kept if either
    returns its document in the top ``k``.

    Example:
        >>> pairs, report = synthesize(corpus, encoder=Encoder(), llm_base_url="http://localhost:11434/v1",
        ...                            llm_model="qwen2.5:3b-instruct")  # needs an LLM server  # doctest: +SKIP
    """
    if llm_base_url:
        if not llm_model:
            raise InputError("Name the model to ask at the LLM endpoint (--llm-model), e.g. 'qwen2.5:3b-instruct'.")
        pairs, report = doc2query(
            corpus,
            base_url=llm_base_url,
            model=llm_model,
            api_key=llm_api_key,
            per_doc=per_doc or 3,
            max_docs=max_docs,
            seed=seed,
            show_progress=show_progress,
        )
    elif llm_model:
        from embedlab.adapt.llm import local_doc2query

        pairs, report = local_doc2query(
            corpus, llm=llm_model, per_doc=per_doc or 3, max_docs=max_docs, seed=seed, show_progress=show_progress
        )
    else:
        pairs, report = inverse_cloze(corpus, per_doc=per_doc or 1, seed=seed, max_docs=max_docs)
    if not pairs:
        return [], report
    searches: list[SearchFn] = [ExactSearch(encoder, corpus), BM25Search(corpus)]
    return filter_pairs(pairs, corpus, search=searches, k=k, report=report)


def _words_between(text: str, low: int, high: int | None) -> bool:
    count = len(text.split())
    return count >= low and (high is None or count <= high)
