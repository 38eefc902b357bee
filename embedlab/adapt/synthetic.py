"""Synthetic (query, document) pairs for adaptation when labelled queries are scarce.

Two generators, one filter:

- :func:`doc2query` asks an OpenAI-compatible chat endpoint (a local vLLM, Ollama, llama.cpp server...)
  for queries a user might type to find each document. Documents are sent **only** to the ``base_url``
  given: no default endpoint, no API key read from the environment, environment proxies ignored, no
  redirects followed. ``httpx`` is used because the base install already carries it (``datasets``
  depends on it).
- :func:`inverse_cloze` needs no model: a sentence of the document is its query (Inverse Cloze Task,
  Lee et al. 2019). As in that paper the sentence is removed from the positive 90% of the time
  (``remove_sentence=0.9``), so the model learns from context rather than from copying; the shortened
  text travels in :attr:`SyntheticPair.positive`.
- :func:`filter_pairs` drops empty and too-short queries, queries identical to their document and
  duplicates, then keeps a pair only if its document comes back in the top ``k`` for its query from at
  least one search function (round-trip filtering, e.g. the base model and BM25).

:func:`synthesize` chains them and :func:`write_pairs` writes ``anchor``, ``positive``, ``doc_id`` rows
that :func:`embedlab.adapt.data.read_training_pairs` reads. The ``doc_id`` column lets negative mining
over the original corpus exclude a pair's own document (whose text differs from the positive when the
ICT sentence was removed).

Example:
    >>> pairs, report = synthesize(corpus, encoder=Encoder())  # doctest: +SKIP
    >>> report.kept, report.failed_round_trip  # doctest: +SKIP
    (812, 57)
    >>> write_pairs("pairs.jsonl", pairs, corpus)  # doctest: +SKIP
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
from tqdm.auto import tqdm

from embedlab.adapt.text import sentence_spans
from embedlab.encode import Encoder, normalize_text
from embedlab.errors import InputError, LLMEndpointError
from embedlab.evaluate.bm25 import BM25Search
from embedlab.evaluate.retrieval import ExactSearch, SearchFn
from embedlab.io import write_records

DEFAULT_PROMPT = (
    "Write {n} different search queries that a user could type into a search engine to find the document "
    "below. Vary the wording and do not copy whole sentences. Write one query per line and nothing else.\n\n"
    "Document:\n{document}"
)

#: How many failure messages a report keeps as examples.
_ERROR_EXAMPLES = 5
_RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
_FATAL_FIRST_STATUSES = frozenset({401, 403, 404})
_THINK = re.compile(r"<think>.*?(?:</think>|$)", re.DOTALL | re.IGNORECASE)
_BULLET = re.compile(r"^(?:[-*•–·]+|\(?\d{1,3}[.):\]]|q(?:uery)?\s*\d*\s*[:.)])\s+", re.IGNORECASE)
_QUOTES = "\"'`“”‘’«»*"


@dataclass(frozen=True)
class SyntheticPair:
    """A generated query for document ``doc_id``; ``positive`` is set only when it differs from the document.

    ``method`` is ``"doc2query"`` or ``"inverse_cloze"``.
    """

    query: str
    doc_id: str
    method: str
    positive: str | None = None

    def positive_text(self, corpus: dict[str, str]) -> str:
        """The text to train on as this query's positive: :attr:`positive`, else the document."""
        return self.positive if self.positive is not None else corpus[self.doc_id]


@dataclass
class SyntheticReport:
    """What was generated and what was dropped, and why.

    ``documents``: documents asked about; ``generated``: queries produced; ``llm_errors``: documents whose
    request failed after retries (``errors`` keeps a few messages); ``documents_without_query``: documents
    that gave no query (no usable sentence, or an empty answer). The filter's drops: ``too_short``,
    ``same_as_document``, ``duplicates``, ``failed_round_trip``; ``kept`` pairs remain.
    """

    method: str
    documents: int = 0
    generated: int = 0
    llm_errors: int = 0
    documents_without_query: int = 0
    too_short: int = 0
    same_as_document: int = 0
    duplicates: int = 0
    failed_round_trip: int = 0
    kept: int = 0
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy."""
        return asdict(self)


def doc2query(
    corpus: dict[str, str],
    *,
    base_url: str,
    model: str,
    api_key: str | None = None,
    per_doc: int = 3,
    temperature: float = 0.7,
    max_tokens: int | None = 256,
    timeout: float = 60.0,
    max_retries: int = 3,
    backoff: float = 1.0,
    max_docs: int | None = None,
    max_doc_chars: int = 4000,
    seed: int = 0,
    concurrency: int = 4,
    prompt: str = DEFAULT_PROMPT,
    show_progress: bool | None = None,
) -> tuple[list[SyntheticPair], SyntheticReport]:
    """Ask a chat model at ``base_url`` for ``per_doc`` queries per document (doc2query).

    Each document goes into ``prompt`` and is sent as one user message to ``POST {base_url}/chat/completions``;
    the answer is read one query per line, numbering, bullets, quotes, preambles ending in ``:`` and
    ``<think>`` blocks removed, the first ``per_doc`` kept. Requests run ``concurrency`` at a time; pairs
    come back in corpus order whatever the timing. 408/429/5xx answers, timeouts and dropped connections
    are retried; a document that still fails, or whose answer is malformed, is counted in ``llm_errors``
    and skipped.

    Args:
        corpus: ``{doc_id: text}``.
        base_url: the API root, e.g. ``http://localhost:11434/v1`` (Ollama) or ``http://localhost:8000/v1``
            (vLLM). Nothing is sent anywhere else.
        model: the model name the server knows.
        api_key: sent as ``Authorization: Bearer ...`` when given; never read from the environment.
        per_doc: queries asked for (and kept at most) per document.
        temperature: sampling temperature, sent with each request.
        max_tokens: answer length limit, sent with each request unless ``None``.
        seed: sent with each request; also draws the ``max_docs`` sample.
        timeout: seconds for each request.
        max_retries: retries per document after the first attempt.
        backoff: seconds before the first retry, doubling each time (the server's ``Retry-After`` wins,
            capped at 60 s).
        max_docs: ask about a seeded sample of this many documents (``None``: all).
        max_doc_chars: documents are cut to this many characters in the prompt.
        concurrency: requests in flight at once.
        prompt: the user message, with fields ``{n}`` (``per_doc``) and ``{document}``.
        show_progress: progress bar on/off; ``None`` shows it on a terminal.

    Raises:
        LLMEndpointError: the first request cannot connect, or is refused with 401, 403 or 404 (the
            message names the URL), so a wrong address fails at once rather than once per document.
        InputError: bad arguments, or a prompt without ``{document}``.

    Example:
        >>> pairs, report = doc2query(  # doctest: +SKIP
        ...     corpus, base_url="http://localhost:11434/v1", model="qwen2.5:3b-instruct", per_doc=3
        ... )
        >>> pairs[0]  # doctest: +SKIP
        SyntheticPair(query='reset a forgotten password', doc_id='kb-17', method='doc2query', positive=None)
    """
    if per_doc < 1 or concurrency < 1 or max_retries < 0 or timeout <= 0 or max_doc_chars < 1:
        raise InputError("per_doc, concurrency, timeout and max_doc_chars must be positive; max_retries >= 0.")
    if not base_url.startswith(("http://", "https://")):
        raise InputError(f"--llm-base-url must start with http:// or https://, got {base_url!r}.")
    check_prompt(prompt, per_doc)
    url = base_url.rstrip("/") + "/chat/completions"
    doc_ids = sample_ids(corpus, max_docs, seed)
    report = SyntheticReport(method="doc2query", documents=len(doc_ids))
    if not doc_ids:
        return [], report
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    def body(doc_id: str) -> dict[str, Any]:
        content = prompt.format(n=per_doc, document=corpus[doc_id][:max_doc_chars])
        request: dict[str, Any] = {
            "model": model,
            "messages": [{"role": "user", "content": content}],
            "temperature": temperature,
            "seed": seed,
        }
        if max_tokens is not None:
            request["max_tokens"] = max_tokens
        return request

    answers: list[str | Exception] = []
    # trust_env=False: no proxy from the environment sees the documents; httpx follows no redirects.
    with (
        httpx.Client(timeout=timeout, headers=headers, trust_env=False) as client,
        tqdm(total=len(doc_ids), desc="doc2query", unit="doc", disable=_disabled(show_progress)) as bar,
    ):

        def ask(doc_id: str, first: bool = False) -> str | Exception:
            try:
                return _ask(client, url, body(doc_id), max_retries=max_retries, backoff=backoff, first=first)
            except _Failure as failure:
                return failure
            finally:
                bar.update()

        answers.append(ask(doc_ids[0], True))  # fail fast on a wrong address before starting the pool
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            answers.extend(pool.map(ask, doc_ids[1:]))  # results in submission order
    return pairs_from_answers(doc_ids, answers, per_doc, report), report


def check_prompt(prompt: str, per_doc: int) -> None:
    """Refuse a doc2query prompt template without ``{document}`` or with fields other than ``{n}`` and it."""
    if "{document}" not in prompt:
        raise InputError("The prompt template must contain '{document}' (and may contain '{n}').")
    try:
        prompt.format(n=per_doc, document="")
    except (KeyError, IndexError, ValueError) as exc:
        raise InputError(f"The prompt template has a field other than {{n}} and {{document}}: {exc}.") from exc


def pairs_from_answers(
    doc_ids: Sequence[str], answers: Sequence[str | Exception], per_doc: int, report: SyntheticReport
) -> list[SyntheticPair]:
    """The first ``per_doc`` queries of each document's answer; failures (exceptions) are counted in ``report``."""
    pairs: list[SyntheticPair] = []
    for doc_id, answer in zip(doc_ids, answers, strict=True):
        if isinstance(answer, Exception):
            report.llm_errors += 1
            if len(report.errors) < _ERROR_EXAMPLES:
                report.errors.append(f"{doc_id}: {answer}")
            continue
        queries = parse_queries(answer)[:per_doc]
        report.documents_without_query += not queries
        pairs.extend(SyntheticPair(query, doc_id, "doc2query") for query in queries)
    report.generated = len(pairs)
    return pairs


def parse_queries(answer: str) -> list[str]:
    r"""The queries in a model's answer: one per line, without numbering, bullets, quotes or preamble.

    Example:
        >>> parse_queries('Here are 2 queries:\n1. "reset password"\n- login help')
        ['reset password', 'login help']
    """
    queries: list[str] = []
    for line in _THINK.sub("", answer).splitlines():
        text = normalize_text(_BULLET.sub("", line.strip()).strip(_QUOTES))
        if text and not text.endswith(":") and text not in queries:
            queries.append(text)
    return queries


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


def filter_pairs(
    pairs: Sequence[SyntheticPair],
    corpus: dict[str, str],
    *,
    search: SearchFn | Sequence[SearchFn],
    k: int = 10,
    min_words: int = 2,
    report: SyntheticReport | None = None,
) -> tuple[list[SyntheticPair], SyntheticReport]:
    """Deduplicate and round-trip filter ``pairs``; returns the kept pairs (in order) and the counts.

    In order, a pair is dropped when its query has fewer than ``min_words`` words (``too_short``), equals
    its document or positive (``same_as_document``), repeats an earlier query (``duplicates``: compared
    after Unicode and whitespace normalisation, case-insensitively and without end punctuation, across
    all documents, the first kept), or when no search function returns its document in the top ``k``
    (``failed_round_trip``). Each search function is called once with all the queries still undecided.

    Args:
        pairs: generated pairs; every ``doc_id`` must be in ``corpus``.
        corpus: ``{doc_id: text}``.
        search: one search function ``search(queries, k) -> [[(doc_id, score), ...], ...]`` or several
            (a pair passes if any of them finds its document), e.g. ``ExactSearch`` and ``BM25Search``
            over ``corpus``.
        k: how deep the document must be found.
        min_words: shorter queries are dropped.
        report: the generator's report, copied and completed; a new one when ``None``.

    Example:
        >>> searches = [ExactSearch(encoder, corpus), BM25Search(corpus)]  # doctest: +SKIP
        >>> kept, report = filter_pairs(pairs, corpus, search=searches, k=10)  # doctest: +SKIP
        >>> report.failed_round_trip  # doctest: +SKIP
        3
    """
    searches = [search] if callable(search) else list(search)
    if not searches:
        raise InputError("filter_pairs needs at least one search function.")
    if k < 1:
        raise InputError(f"k must be at least 1, got {k}.")
    unknown = sorted({pair.doc_id for pair in pairs} - set(corpus))
    if unknown:
        raise InputError(f"{len(unknown)} pairs name documents not in the corpus: {unknown[:5]}")
    if report is None:
        report = SyntheticReport(method=",".join(sorted({pair.method for pair in pairs})), generated=len(pairs))
    report = replace(report, errors=list(report.errors))
    seen: set[str] = set()
    documents: dict[str, str] = {}
    candidates: list[SyntheticPair] = []
    for pair in pairs:
        query = normalize_text(pair.query)
        if len(query.split()) < max(min_words, 1):
            report.too_short += 1
            continue
        document = documents.setdefault(pair.doc_id, normalize_text(corpus[pair.doc_id]).casefold())
        if query.casefold() in (document, normalize_text(pair.positive or "").casefold()):
            report.same_as_document += 1
            continue
        key = _dedup_key(query)
        if key in seen:
            report.duplicates += 1
            continue
        seen.add(key)
        candidates.append(replace(pair, query=query))
    passed = [False] * len(candidates)
    for search_fn in searches:
        undecided = [i for i, ok in enumerate(passed) if not ok]
        if not undecided:
            break
        rankings = search_fn([candidates[i].query for i in undecided], k)
        if len(rankings) != len(undecided):
            raise InputError(f"A search function returned {len(rankings)} rankings for {len(undecided)} queries.")
        for i, ranking in zip(undecided, rankings, strict=True):
            passed[i] = any(doc == candidates[i].doc_id for doc, _ in ranking[:k])
    kept = [pair for pair, ok in zip(candidates, passed, strict=True) if ok]
    report.failed_round_trip += len(candidates) - len(kept)
    report.kept = len(kept)
    return kept, report


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
        ...                            llm_model="qwen2.5:3b-instruct")  # doctest: +SKIP
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


def write_pairs(path: str | Path, pairs: Sequence[SyntheticPair], corpus: dict[str, str]) -> Path:
    """Write ``anchor``, ``positive`` (the text to train on) and ``doc_id`` rows to .jsonl or .csv, atomically.

    Example:
        >>> write_pairs("pairs.jsonl", pairs, corpus)  # doctest: +SKIP
        PosixPath('pairs.jsonl')
    """
    if Path(path).suffix.lower() not in (".jsonl", ".csv"):
        raise InputError(f"{path}: write pairs as .jsonl or .csv, not {Path(path).suffix!r}.")
    rows = [{"anchor": pair.query, "positive": pair.positive_text(corpus), "doc_id": pair.doc_id} for pair in pairs]
    return write_records(path, rows)


class _Failure(Exception):
    """One document's request failed for good (after retries, or with a malformed answer)."""


def _ask(client: httpx.Client, url: str, body: dict[str, Any], *, max_retries: int, backoff: float, first: bool) -> str:
    """The answer's message content ("" when it is null); raises :class:`_Failure` when it fails for good."""
    for attempt in range(max_retries + 1):
        last = attempt == max_retries
        try:
            response = client.post(url, json=body)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            if first:
                raise LLMEndpointError(
                    f"Cannot reach the LLM endpoint {url} ({exc}). Is the server running, and is the base URL "
                    "right (for example http://localhost:11434/v1 for Ollama, http://localhost:8000/v1 for vLLM)?"
                ) from exc
            if last:
                raise _Failure(f"cannot connect ({exc})") from exc
        except httpx.TimeoutException as exc:
            if last:
                raise _Failure(f"timed out after {attempt + 1} attempts ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            if last:
                raise _Failure(f"{type(exc).__name__}: {exc}") from exc
        else:
            if response.is_success:
                return _content(response)
            detail = f"HTTP {response.status_code}: {response.text[:200]}"
            if first and response.status_code in _FATAL_FIRST_STATUSES:
                raise LLMEndpointError(
                    f"The LLM endpoint {url} refused the request ({detail}). Check the base URL, the model name "
                    "and the API key."
                )
            if response.status_code not in _RETRY_STATUSES or last:
                raise _Failure(detail)
            wait = _retry_after(response)
            if wait is not None:
                time.sleep(wait)
                continue
        time.sleep(backoff * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def _content(response: httpx.Response) -> str:
    try:
        content = response.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise _Failure(f"not an OpenAI chat completion: {response.text[:200]!r}") from exc
    if content is not None and not isinstance(content, str):
        raise _Failure(f"message content is {type(content).__name__}, not text")
    return content or ""


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return min(max(float(response.headers["retry-after"]), 0.0), 60.0)
    except (KeyError, ValueError):
        return None


def sample_ids(corpus: dict[str, str], max_docs: int | None, seed: int) -> list[str]:
    """All ids, or a seeded sample of ``max_docs`` of them, in corpus order."""
    doc_ids = list(corpus)
    if max_docs is not None and max_docs < 0:
        raise InputError(f"max_docs must not be negative, got {max_docs}.")
    if max_docs is None or max_docs >= len(doc_ids):
        return doc_ids
    chosen = set(random.Random(seed).sample(range(len(doc_ids)), max_docs))
    return [doc_id for i, doc_id in enumerate(doc_ids) if i in chosen]


def _words_between(text: str, low: int, high: int | None) -> bool:
    count = len(text.split())
    return count >= low and (high is None or count <= high)


def _dedup_key(query: str) -> str:
    return normalize_text(query).casefold().rstrip("?.!… ")


def _disabled(show_progress: bool | None) -> bool | None:
    """The ``disable`` argument of tqdm: ``None`` hides the bar when output is not a terminal."""
    return None if show_progress is None else not show_progress
