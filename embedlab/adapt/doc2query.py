"""doc2query: queries for each document from a chat model behind an OpenAI-compatible endpoint.

:func:`doc2query` asks an endpoint (a local vLLM, Ollama, llama.cpp server...) for queries a user might
type to find each document. Documents are sent **only** to the ``base_url`` given: no default endpoint,
no API key read from the environment, environment proxies ignored, no redirects followed. ``httpx`` is
used because the base install already carries it (``datasets`` depends on it). The prompt, the parsing of
answers (:func:`parse_queries`) and the report (:func:`pairs_from_answers`) are shared with the in-process
model of :mod:`embedlab.adapt.llm`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from tqdm.auto import tqdm

from embedlab.adapt.pairs import SyntheticPair, SyntheticReport, sample_ids
from embedlab.encode import normalize_text
from embedlab.errors import InputError, LLMEndpointError

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
        >>> pairs, report = doc2query(  # needs an LLM server  # doctest: +SKIP
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


def _disabled(show_progress: bool | None) -> bool | None:
    """The ``disable`` argument of tqdm: ``None`` hides the bar when output is not a terminal."""
    return None if show_progress is None else not show_progress
