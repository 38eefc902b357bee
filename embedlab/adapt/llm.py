"""A local LLM in this process: doc2query over a verified GGUF model pack, with no server and no network.

:class:`LocalLLM` answers one chat message at a time from a GGUF file: by default the
``qwen2.5-coder-0.5b-gguf`` pack (Qwen2.5-Coder-0.5B-Instruct, Q4_K_M), whose sha256 is checked every time
it is opened (``embedlab models install qwen2.5-coder-0.5b-gguf`` installs it), or any ``.gguf`` path.
Two runtimes read it:

- ``"llama.cpp"`` (default): llama-cpp-python runs the quantised weights as they are. It comes with the
  ``llm`` extra (``pip install 'embedlab[llm]'``, compiled from source at install time).
- ``"transformers"``: transformers dequantises the GGUF to float32 (needs the ``gguf`` package, also in the
  extra) and generates with torch; 6.8x slower here (``bench/llm.py``), kept for machines where
  llama.cpp cannot be built.

:func:`local_doc2query` is :func:`embedlab.adapt.doc2query.doc2query` with this model instead of an
endpoint: same prompt, same parsing, same :class:`~embedlab.adapt.pairs.SyntheticReport`.
``synthesize(corpus, encoder=..., llm_model="qwen2.5-coder-0.5b-gguf")`` (no ``llm_base_url``) uses it.

Example:
    >>> llm = LocalLLM()  # needs the llm extra and its GGUF pack  # doctest: +SKIP
    >>> llm.chat("Write a search query for: BM25 ranks documents by term statistics.", max_tokens=32)  # doctest: +SKIP
    'bm25 ranking term statistics'
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from tqdm.auto import tqdm

from embedlab.adapt.doc2query import DEFAULT_PROMPT, check_prompt, pairs_from_answers, parse_queries
from embedlab.adapt.pairs import SyntheticPair, SyntheticReport, sample_ids
from embedlab.errors import InputError, MissingExtraError, ModelNotFoundError

Runtime = Literal["llama.cpp", "transformers"]

#: The model pack doc2query uses when none is named.
DEFAULT_LLM = "qwen2.5-coder-0.5b-gguf"
_EXTRA = "pip install 'embedlab[llm]'"


class LocalLLM:
    """A chat model loaded in-process from a GGUF file (see the module docstring).

    Args:
        model: a GGUF model pack's name (verified by sha256 on opening) or the path of a ``.gguf`` file.
        runtime: ``"llama.cpp"`` or ``"transformers"``.
        threads: CPU threads (default: the cores this process may use).
        context: the context window in tokens (prompt plus answer).
    """

    def __init__(
        self,
        model: str = DEFAULT_LLM,
        *,
        runtime: Runtime = "llama.cpp",
        threads: int | None = None,
        context: int = 2048,
    ) -> None:
        self.path = resolve_gguf(model)
        self.name = model
        self.runtime = runtime
        self.threads = threads or len(os.sched_getaffinity(0))
        self.context = context
        if runtime == "llama.cpp":
            self._chat = _llama_cpp(self.path, self.threads, context)
        elif runtime == "transformers":
            self._chat = _transformers(self.path, self.threads)
        else:
            raise InputError(f"runtime must be 'llama.cpp' or 'transformers', not {runtime!r}.")

    def chat(
        self,
        prompt: str,
        *,
        temperature: float = 0.7,
        max_tokens: int = 256,
        seed: int = 0,
        done: Callable[[str], bool] | None = None,
    ) -> str:
        """The model's answer to ``prompt`` sent as one user message (the GGUF's chat template applied).

        ``done``, when given, is asked after each new line of the answer so far; generation stops when it
        says ``True`` (e.g. once enough queries are written, however many the model meant to write).
        """
        return self._chat(prompt, temperature, max_tokens, seed, done or _never)


def resolve_gguf(model: str) -> Path:
    """The GGUF file ``model`` names: an installed pack (sha256 checked now) or a ``.gguf`` path."""
    from embedlab.packs import PACKS, find_pack, verified_path

    pack = find_pack(model)
    if pack is not None:
        return verified_path(pack.name, kind="gguf") / pack.weights
    path = Path(model).expanduser()
    if path.suffix.lower() == ".gguf" and path.is_file():
        return path
    gguf_packs = ", ".join(name for name, known in PACKS.items() if known.kind == "gguf")
    raise ModelNotFoundError(f"{model!r} is neither a GGUF model pack ({gguf_packs}) nor a .gguf file.")


def local_doc2query(
    corpus: dict[str, str],
    *,
    llm: LocalLLM | str = DEFAULT_LLM,
    runtime: Runtime = "llama.cpp",
    per_doc: int = 3,
    temperature: float = 0.7,
    max_tokens: int = 128,
    max_docs: int | None = None,
    max_doc_chars: int = 2000,
    seed: int = 0,
    prompt: str = DEFAULT_PROMPT,
    show_progress: bool | None = None,
) -> tuple[list[SyntheticPair], SyntheticReport]:
    """doc2query with a local LLM: ``per_doc`` queries per document, parsed and reported as the endpoint path does.

    ``llm`` is a loaded :class:`LocalLLM` or a model to load (pack name or ``.gguf`` path) with ``runtime``.
    Documents are cut to ``max_doc_chars`` characters in the prompt (SciFact abstracts average ~1,500).
    A document whose generation fails is counted in ``llm_errors`` and skipped.

    Example:
        >>> pairs, report = local_doc2query(corpus, per_doc=3, max_docs=100)  # doctest: +SKIP
        >>> report.generated  # needs the llm extra; minutes  # doctest: +SKIP
        291
    """
    if per_doc < 1 or max_tokens < 1 or max_doc_chars < 1:
        raise InputError("per_doc, max_tokens and max_doc_chars must be positive.")
    check_prompt(prompt, per_doc)
    doc_ids = sample_ids(corpus, max_docs, seed)
    report = SyntheticReport(method="doc2query", documents=len(doc_ids))
    if not doc_ids:
        return [], report
    model = llm if isinstance(llm, LocalLLM) else LocalLLM(llm, runtime=runtime)
    answers: list[str | Exception] = []

    def enough(text: str) -> bool:  # the complete lines hold per_doc queries already
        return len(parse_queries(text.rsplit("\n", 1)[0])) >= per_doc

    disable = None if show_progress is None else not show_progress
    for doc_id in tqdm(doc_ids, desc="doc2query (local)", unit="doc", disable=disable):
        content = prompt.format(n=per_doc, document=corpus[doc_id][:max_doc_chars])
        try:
            answers.append(model.chat(content, temperature=temperature, max_tokens=max_tokens, seed=seed, done=enough))
        except (RuntimeError, ValueError) as exc:  # a failed generation (e.g. a prompt over the context window)
            answers.append(exc)
    return pairs_from_answers(doc_ids, answers, per_doc, report), report


ChatFn = Callable[[str, float, int, int, Callable[[str], bool]], str]


def _never(text: str) -> bool:
    return False


def _llama_cpp(path: Path, threads: int, context: int) -> ChatFn:
    try:
        from llama_cpp import Llama
    except ImportError as exc:
        raise MissingExtraError(
            f"The llama.cpp runtime needs llama-cpp-python: {_EXTRA} (compiled from source, several minutes), "
            "or pass runtime='transformers'."
        ) from exc
    llama = Llama(model_path=str(path), n_ctx=context, n_threads=threads, n_threads_batch=threads, verbose=False)

    def chat(prompt: str, temperature: float, max_tokens: int, seed: int, done: Callable[[str], bool]) -> str:
        messages: list[Any] = [{"role": "user", "content": prompt}]
        stream: Any = llama.create_chat_completion(
            messages, temperature=temperature, max_tokens=max_tokens, seed=seed, stream=True
        )
        text = ""
        for chunk in stream:
            piece = str(chunk["choices"][0]["delta"].get("content") or "")
            text += piece
            if "\n" in piece and done(text):
                break
        return text

    return chat


def _transformers(path: Path, threads: int) -> ChatFn:
    try:
        import gguf  # noqa: F401  (transformers reads GGUF files through it)
    except ImportError as exc:
        raise MissingExtraError(f"The transformers runtime reads GGUF files with the gguf package: {_EXTRA}.") from exc
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, StoppingCriteria, StoppingCriteriaList

    torch.set_num_threads(threads)
    tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, torch_dtype=torch.float32)
    model.eval()

    class Done(StoppingCriteria):
        def __init__(self, start: int, done: Callable[[str], bool]) -> None:
            self.start, self.done = start, done

        def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> bool:
            text = str(tokenizer.decode(input_ids[0, self.start :], skip_special_tokens=True))
            return text.endswith("\n") and self.done(text)

    def chat(prompt: str, temperature: float, max_tokens: int, seed: int, done: Callable[[str], bool]) -> str:
        inputs = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        start = inputs["input_ids"].shape[1]
        torch.manual_seed(seed)
        sampling = {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
        with torch.inference_mode():
            output = model.generate(
                **inputs,
                max_new_tokens=max_tokens,
                pad_token_id=tokenizer.eos_token_id,
                stopping_criteria=StoppingCriteriaList([Done(start, done)]),
                **sampling,
            )
        return str(tokenizer.decode(output[0, start:], skip_special_tokens=True))

    return chat
