"""No labels at all: training data from LLM-written queries, and the held-out queries to judge the result by.

:func:`find_llm` says which LLM doc2query would use (an OpenAI-compatible endpoint, or a local GGUF model
run by llama.cpp, by default the ``qwen2.5-coder-0.5b-gguf`` pack) and, when there is none, refuses with
what to do instead. :func:`doc2query_training` asks it for queries (GPL's and InPars' first step), keeps
those that find their document in the top ``k`` of the base model or BM25 (round-trip consistency), holds
out the queries of a share of the documents for the do-no-harm check (:mod:`embedlab.adapt.decision`),
and returns a :class:`~embedlab.adapt.data.TrainingSet` whose corpus supplies hard negatives, mined by
fine-tuning behind the false-negative guard.

Example:
    >>> data = doc2query_training(documents, encoder=Encoder(), max_docs=200)  # needs an LLM  # doctest: +SKIP
    >>> data.report.kept, len(data.held_out.queries)  # doctest: +SKIP
    (431, 104)
"""

from __future__ import annotations

from dataclasses import dataclass

from embedlab.adapt.data import TrainingSet
from embedlab.adapt.decision import holdout_pairs, synthetic_trust
from embedlab.adapt.pairs import SyntheticReport
from embedlab.encode import Encoder
from embedlab.errors import InputError, ModelNotFoundError
from embedlab.evaluate.data import RetrievalBenchmark

#: The advice given when there are no labels and no LLM.
NO_LLM_ADVICE = (
    "Without labels, embedlab adapts with synthetic queries written by an LLM, and none is available: {why}. "
    "Either install the local one (pip install 'embedlab[llm]', then `embedlab models install "
    "qwen2.5-coder-0.5b-gguf`), or point --llm-base-url and --llm-model at an OpenAI-compatible server (Ollama, "
    "vLLM, llama.cpp server), or label 50 queries (`embedlab label`) and adapt on them. TSDAE (--strategy tsdae) "
    "and inverse-cloze pairs (--strategy synthetic) still run, but both made the bundled model worse on SciFact: "
    "without labels or an LLM the base model is usually the better choice."
)


@dataclass
class UnlabelledData:
    """Training pairs from synthetic queries, the held-out synthetic benchmark, the generation report."""

    train: TrainingSet
    held_out: RetrievalBenchmark | None
    report: SyntheticReport
    generator: str

    @property
    def trust(self) -> str:
        """How far a verdict on :attr:`held_out` can be trusted (empty without one)."""
        return synthetic_trust(len(self.held_out.queries), self.generator) if self.held_out else ""


def find_llm(llm_base_url: str | None, llm_model: str | None) -> str:
    """The LLM doc2query will use, in words; :class:`InputError` with :data:`NO_LLM_ADVICE` when there is none."""
    from embedlab.adapt.llm import DEFAULT_LLM, resolve_gguf

    if llm_base_url:
        if not llm_model:
            raise InputError("Name the model to ask at the LLM endpoint (--llm-model), e.g. 'qwen2.5:3b-instruct'.")
        return f"{llm_model} at {llm_base_url}"
    model = llm_model or DEFAULT_LLM
    try:
        resolve_gguf(model)
    except ModelNotFoundError as exc:
        raise InputError(NO_LLM_ADVICE.format(why=str(exc).rstrip("."))) from exc
    try:
        import llama_cpp  # noqa: F401
    except ImportError as exc:
        raise InputError(NO_LLM_ADVICE.format(why="llama-cpp-python (the llm extra) is not installed")) from exc
    return f"{model} (local, llama.cpp)"


def doc2query_training(
    documents: dict[str, str],
    *,
    encoder: Encoder,
    llm_base_url: str | None = None,
    llm_model: str | None = None,
    max_docs: int | None = None,
    per_doc: int = 3,
    k: int = 10,
    hold_out: float | None = 0.2,
    seed: int = 0,
    show_progress: bool | None = None,
) -> UnlabelledData:
    """doc2query on (a seeded sample of ``max_docs``) ``documents``, round-trip filtered; some held out.

    Args:
        documents: ``{doc_id: text}``; all of them are the round trip's and the negatives' corpus.
        encoder: the base model, for the round trip (with BM25).
        llm_base_url: an OpenAI-compatible endpoint; without it, the local GGUF model ``llm_model``.
        llm_model: the model at the endpoint, or a GGUF pack name or path (default: the Qwen pack).
        max_docs: ask about at most this many documents (the local model writes ~0.36 queries/s on 2 cores).
        per_doc: queries asked for per document.
        k: the round trip's depth.
        hold_out: the share of documents whose queries are held out (``None``: none, when the caller has a
            labelled test split).
        seed: sampling and the held-out split.
        show_progress: progress bars.

    Raises:
        InputError: no LLM (with what to do instead), or no query survived the round trip.
    """
    from embedlab.adapt.llm import DEFAULT_LLM
    from embedlab.adapt.synthetic import synthesize

    generator = find_llm(llm_base_url, llm_model)
    pairs, report = synthesize(
        documents,
        encoder=encoder,
        llm_base_url=llm_base_url,
        llm_model=llm_model or DEFAULT_LLM,
        per_doc=per_doc,
        k=k,
        seed=seed,
        max_docs=max_docs,
        show_progress=show_progress,
    )
    if len({pair.doc_id for pair in pairs}) < 2:
        raise InputError(
            f"Only {report.kept} synthetic queries (for {len({p.doc_id for p in pairs})} documents) found their "
            f"document: generated {report.generated}, {report.failed_round_trip} failed the round trip, "
            f"{report.llm_errors} LLM errors ({report.errors[:2]}). Try more documents (--max-docs) or another LLM."
        )
    held_out = None
    if hold_out:
        pairs, held_out = holdout_pairs(pairs, documents, fraction=hold_out, seed=seed, name="corpus")
    queries = {f"synthetic-{number}": pair.query for number, pair in enumerate(pairs)}
    positives = {f"synthetic-{number}": [pair.doc_id] for number, pair in enumerate(pairs)}
    train = TrainingSet(queries, dict(documents), positives, name="doc2query")
    return UnlabelledData(train, held_out, report, generator)
