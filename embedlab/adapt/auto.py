"""One call for the whole loop: pick a strategy from the data there is, adapt, and prove it on held-out data.

The choice follows the adaptation table of the guidance (shared seeds, "Adaptation Strategy by Data
Availability"), counting the (query, relevant document) pairs of the benchmark's train split:

========================  ==========================================================================
train pairs               strategy
========================  ==========================================================================
none                      ``doc2query``: LLM-written queries kept when they find their document (round
                          trip), hard negatives behind the false-negative guard, fine-tuning
fewer than 50             ``synthetic``: inverse-cloze (or doc2query) pairs + the few real ones, MNRL
50 to 500                 ``finetune``: MNRL with synthetic (BM25) negatives
500 to 10,000             ``hard-negatives``: MNRL with embedding negatives behind the false-negative guard
10,000 or more            ``curriculum``: random -> BM25 -> embedding negatives across epochs
========================  ==========================================================================

``doc2query`` needs an LLM: ``llm_base_url`` (any OpenAI-compatible endpoint) or a local GGUF model
(``llm_model``, by default the ``qwen2.5-coder-0.5b-gguf`` pack run by llama.cpp). Without one, ``adapt_auto``
refuses and says what to do; it does not fall back to TSDAE or inverse cloze, which both made the bundled
model worse on SciFact (README, "Adapt to your domain"). ``strategy=`` overrides the choice: ``tsdae``
(pre-training, to be followed by fine-tuning) and ``synthetic`` (inverse-cloze pairs, contrastive continued
pre-training) also run on unlabelled text.

The base and the adapted model (and BM25) are then evaluated on held-out data with the evaluation suite
(intervals, paired test) and the report is written; the test metrics go into the model's lineage. The
held-out data is the benchmark's test split, or, with no labels at all, the synthetic queries of 20% of the
documents, none of which is trained on. **Do no harm** (:mod:`embedlab.adapt.decision`): unless the adapted
model is significantly better there, the base is kept: the adapted model is moved into the report folder
(``<report>/adapted-model``) instead of ``out``, so the name it was meant for does not resolve to it.
The verdict is also split (:mod:`embedlab.evaluate.coverage`): held-out queries whose relevant documents
training paired with a query (seen) and those whose documents it never saw (unseen), each base vs adapted
with intervals and the paired test; :attr:`AutoResult.coverage` says in words when the lift lives only in
seen documents, and the lineage records both (``metrics["coverage"]``).

Example:
    >>> result = adapt_auto("scifact_beir", out="models/scifact-auto", report="reports/scifact")  # doctest: +SKIP
    >>> result.strategy, result.comparison["p_value"] < 0.05  # trains for minutes  # doctest: +SKIP
    ('hard-negatives', True)
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, get_args

from embedlab.adapt.base import trainable
from embedlab.adapt.data import TrainingSet, load_training
from embedlab.adapt.decision import ALPHA, Decision, decide
from embedlab.adapt.finetune import AdaptResult, FinetuneConfig, finetune
from embedlab.adapt.pairs import SyntheticReport
from embedlab.encode import Encoder
from embedlab.encode.text import with_title
from embedlab.errors import InputError
from embedlab.evaluate.coverage import Coverage, coverage, coverage_evaluators
from embedlab.evaluate.data import RetrievalBenchmark, has_split, load_beir
from embedlab.evaluate.suite import EvaluationReport, run_evaluation
from embedlab.io import read_texts
from embedlab.models import EmbeddingModel, load_model
from embedlab.registry import write_lineage

FEW_PAIRS, SOME_PAIRS, MANY_PAIRS = 50, 500, 10_000
AutoStrategy = Literal["doc2query", "tsdae", "synthetic", "finetune", "hard-negatives", "curriculum"]
STRATEGIES: tuple[AutoStrategy, ...] = get_args(AutoStrategy)
#: The strategies that run on unlabelled text alone.
WITHOUT_LABELS: tuple[AutoStrategy, ...] = ("doc2query", "tsdae", "synthetic")
#: Documents asked about by doc2query unless the caller says otherwise (~25 min of the local LLM on 2 cores).
DOC2QUERY_DOCS = 200
_SYNTHETIC = "#synthetic-"  # a synthetic positive that is a changed copy of a corpus document: "<doc id>#synthetic-<n>"


@dataclass
class AutoResult:
    """The chosen strategy and why, the adapted model, the base-vs-adapted evaluation, and which one to use.

    ``decision.keep == "base"`` means the adapted model was not significantly better on the held-out data:
    it was saved in the report folder, not at ``out``. ``synthetic`` is the doc2query report (generated,
    kept, dropped by the round trip) when the strategy made queries with an LLM.
    """

    strategy: str
    reason: str
    adapted: AdaptResult
    report: EvaluationReport
    decision: Decision
    files: dict[str, Path] = field(default_factory=dict)
    synthetic: SyntheticReport | None = None
    coverage: Coverage | None = None

    @property
    def comparison(self) -> dict[str, Any]:
        """Adapted vs base on NDCG@10: difference, interval, p-value."""
        return _comparison(self.report)


def choose_strategy(n_pairs: int) -> tuple[str, str]:
    """The strategy for a train split of ``n_pairs`` pairs, and the sentence that explains it.

    Example:
        >>> choose_strategy(919)[0]
        'hard-negatives'
    """
    if n_pairs == 0:
        return "doc2query", (
            "no labelled pairs: LLM-written queries that find their document (round trip), hard negatives behind the"
            " false-negative guard, fine-tuning; judged on held-out queries, and the base is kept unless the adapted"
            " model is significantly better"
        )
    if n_pairs < FEW_PAIRS:
        return "synthetic", f"{n_pairs} pairs (< {FEW_PAIRS}): synthetic pairs from the corpus plus the real ones"
    if n_pairs <= SOME_PAIRS:
        return "finetune", f"{n_pairs} pairs ({FEW_PAIRS}-{SOME_PAIRS}): few-shot MNRL with BM25 negatives"
    if n_pairs < MANY_PAIRS:
        return "hard-negatives", f"{n_pairs} pairs: MNRL with mined embedding negatives (false-negative guard)"
    return "curriculum", f"{n_pairs} pairs (>= {MANY_PAIRS}): MNRL with an easy-to-hard negative curriculum"


def adapt_auto(
    benchmark: str | Path | None,
    *,
    out: str | Path,
    report: str | Path | None = None,
    base: EmbeddingModel | str | Path | None = None,
    corpus: str | Path | None = None,
    epochs: int | None = None,
    seed: int = 0,
    llm_base_url: str | None = None,
    llm_model: str | None = None,
    strategy: str | None = None,
    max_docs: int | None = DOC2QUERY_DOCS,
    config: FinetuneConfig | None = None,
    keep_adapted: bool = False,
    alpha: float = ALPHA,
    show_progress: bool = True,
) -> AutoResult:
    """Adapt ``base`` to a BEIR-layout benchmark folder (or to unlabelled text), evaluate, keep the better model.

    Args:
        benchmark: a folder with ``corpus.jsonl``, ``queries.jsonl``, ``qrels/test.tsv`` and optionally
            ``qrels/train.tsv`` (and ``qrels/dev.tsv``; otherwise 10% of the train queries are held out);
            or a folder with a ``corpus.jsonl`` only, or ``None`` with ``corpus``: unlabelled text, judged
            on held-out synthetic queries.
        out: where the adapted model is saved (with its lineage) when it is kept.
        report: folder for ``results.json`` and ``report.html`` (default: ``<out>-report``).
        corpus: extra unlabelled text (one per line, or .jsonl/.csv/.parquet with ``text``) for doc2query,
            TSDAE and synthetic pairs; the benchmark corpus is always used.
        epochs: override the strategy's default number of epochs.
        base: the model to adapt (default: the bundled one); it is never modified.
        seed: for splits, sampling and training.
        llm_base_url: an OpenAI-compatible endpoint for doc2query.
        llm_model: the model name at ``llm_base_url``; without a URL, a local GGUF model (pack name or path,
            default the ``qwen2.5-coder-0.5b-gguf`` pack) run in-process by :mod:`embedlab.adapt.llm`.
        strategy: one of :data:`STRATEGIES` instead of the table's choice; all but
            :data:`WITHOUT_LABELS` need labelled train pairs.
        max_docs: doc2query asks about a seeded sample of this many documents (``None``: all).
        config: fine-tuning hyper-parameters instead of the strategy's (``epochs`` still overrides its epochs).
        keep_adapted: save the adapted model at ``out`` even when it is not significantly better.
        alpha: the significance level of the do-no-harm decision.
        show_progress: progress bars.

    Raises:
        InputError: neither a benchmark nor a corpus, an output that exists, an unknown strategy or one that
            needs train pairs the benchmark does not have, no labels and no LLM (with what to do instead).
    """
    if strategy is not None and strategy not in STRATEGIES:
        raise InputError(f"Unknown strategy {strategy!r}: choose one of {', '.join(STRATEGIES)}.")
    out = Path(out)
    if out.exists():  # before minutes of work, not after
        raise InputError(f"{out} already exists; choose another output folder.")
    root = Path(benchmark) if benchmark is not None else None
    test = load_beir(root, split="test") if root is not None and has_split(root, "test") else None
    base_model = trainable(base)
    train: TrainingSet | None = None
    dev: RetrievalBenchmark | TrainingSet | None = None
    if root is not None and has_split(root, "train"):
        if test is None:
            raise InputError(f"{root} has a train split but no test split (qrels/test.tsv) to judge the result on.")
        train, dev = load_training(root, min_pairs=FEW_PAIRS, seed=seed, test=test)
    n_pairs = train.n_pairs if train else 0
    chosen, reason = choose_strategy(n_pairs)
    if strategy is not None and strategy != chosen:
        if n_pairs == 0 and strategy not in WITHOUT_LABELS:
            raise InputError(f"No train pairs: strategy {strategy!r} needs them; use {', '.join(WITHOUT_LABELS)}.")
        chosen, reason = strategy, f"chosen by the caller ({n_pairs} train pairs; the table says {chosen})"
    documents = _documents(root, test, corpus)
    held_out, trust, synthetic, generation_seconds = test, "", None, 0.0
    adapted: AdaptResult
    if chosen == "doc2query":
        from embedlab.adapt.unlabelled import doc2query_training

        started = time.perf_counter()
        data = doc2query_training(
            documents,
            encoder=Encoder(base_model, cache=True, show_progress=show_progress),
            llm_base_url=llm_base_url,
            llm_model=llm_model,
            max_docs=max_docs,
            hold_out=None if test is not None else 0.2,
            seed=seed,
            show_progress=show_progress,
        )
        train, synthetic, held_out, trust = data.train, data.report, data.held_out or test, data.trust
        generation_seconds = round(time.perf_counter() - started, 1)
        reason += f"; LLM: {data.generator}"
    elif test is None:
        raise InputError(
            f"Strategy {chosen!r} needs a labelled test split to judge the result on (qrels/test.tsv); "
            "only doc2query holds out synthetic queries instead."
        )
    if chosen == "tsdae":
        from embedlab.adapt.tsdae import tsdae

        adapted = tsdae(base_model, list(documents.values()), out=out, seed=seed, show_progress=show_progress,
                        epochs=epochs or 1)  # fmt: skip
    else:
        if train is None:  # synthetic pairs only: contrastive continued pre-training on unlabelled text
            train = TrainingSet({}, dict(documents), {}, name="corpus")
        if chosen == "synthetic":
            extra = {d: t for d, t in documents.items() if d not in train.corpus}
            train = _with_synthetic(train, extra, base_model, llm_base_url, llm_model, seed, show_progress)
        adapted = finetune(base_model, train, out=out, config=_config(chosen, epochs, seed, config), dev=dev,
                           method=f"auto:{chosen}", show_progress=show_progress)  # fmt: skip
    assert held_out is not None  # every path above has held-out data or refused
    seen = {doc.split(_SYNTHETIC)[0] for doc in train.seen_documents} if train and chosen != "tsdae" else set()
    evaluation = run_evaluation([base_model, load_model(adapted.path)], benchmark=held_out, bm25=True, cache=True,
                                evaluators=coverage_evaluators(held_out, seen))  # fmt: skip
    covered = coverage(evaluation, evaluation.systems[1].name)
    report_folder = Path(report) if report is not None else out.with_name(f"{out.name}-report")
    held_out_name = "the benchmark's labelled test split" if held_out is test else "held-out synthetic queries"
    decision = decide(_comparison(evaluation), alpha=alpha, held_out=held_out_name, trust=trust)
    adapted_scores = evaluation.systems[1].retrieval
    if adapted_scores is not None:
        adapted.lineage.metrics["test"] = {"benchmark": held_out.name, **adapted_scores.mean}
        adapted.lineage.metrics["test_base"] = (
            evaluation.systems[0].retrieval.mean if evaluation.systems[0].retrieval else {}
        )
    adapted.lineage.metrics["decision"] = decision.to_dict()
    adapted.lineage.metrics["coverage"] = covered.to_dict()
    if synthetic is not None:
        adapted.lineage.data["doc2query"] = {**synthetic.to_dict(), "seconds": generation_seconds}
    write_lineage(adapted.path, adapted.lineage)
    files = evaluation.save(report_folder)
    if not decision.adapted and not keep_adapted:
        adapted.path = _set_aside(adapted.path, report_folder / "adapted-model")
    return AutoResult(chosen, reason, adapted, evaluation, decision, files, synthetic, covered)


def _comparison(report: EvaluationReport) -> dict[str, Any]:
    for item in report.comparisons:
        if item.task == "retrieval" and item.metric == "ndcg@10" and item.system != "BM25":
            return item.to_dict()
    return {}


def _documents(root: Path | None, test: RetrievalBenchmark | None, corpus: str | Path | None) -> dict[str, str]:
    """The benchmark's corpus (from its test split, or its corpus.jsonl alone) plus the extra ``corpus``."""
    documents: dict[str, str] = dict(test.corpus) if test is not None else {}
    if test is None and root is not None:
        if not (root / "corpus.jsonl").is_file():
            raise InputError(f"{root} has no corpus.jsonl: give a BEIR folder, or the text with --corpus.")
        records = read_texts(root / "corpus.jsonl", id_field="_id", title_field="title")
        titles = records.titles or [None] * len(records.ids)
        documents = {
            doc_id: with_title(title, text).strip()
            for doc_id, title, text in zip(records.ids, titles, records.texts, strict=True)
        }
    if corpus is not None:
        documents |= {f"#extra-{number}": text for number, text in enumerate(read_texts(corpus).texts)}
    if not documents:
        raise InputError("Nothing to adapt to: give a benchmark folder or a --corpus of domain text.")
    return documents


def _set_aside(path: Path, target: Path) -> Path:
    """Move a model that is not to be used out of the place it was meant for (into the report folder)."""
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(path), target)
    return target


def _config(strategy: str, epochs: int | None, seed: int, config: FinetuneConfig | None) -> FinetuneConfig:
    if config is not None:
        return replace(config, epochs=epochs or config.epochs)
    if strategy == "doc2query":  # GPL's recipe without the teacher: mined negatives behind the guard
        return FinetuneConfig(negatives="embedding", margin=0.95, epochs=epochs or 1, seed=seed, batch_size=32)
    if strategy == "curriculum":
        return FinetuneConfig(negatives="curriculum", epochs=epochs or 3, seed=seed, batch_size=64)
    if strategy == "hard-negatives":
        return FinetuneConfig(negatives="embedding", epochs=epochs or 1, seed=seed)
    if strategy == "finetune":
        return FinetuneConfig(negatives="bm25", epochs=epochs or 2, seed=seed, batch_size=16)
    return FinetuneConfig(negatives=None, epochs=epochs or 1, seed=seed, batch_size=16)  # in-batch: see _with_synthetic


def _with_synthetic(
    train: TrainingSet,
    extra: dict[str, str],
    base: EmbeddingModel,
    llm_base_url: str | None,
    llm_model: str | None,
    seed: int,
    show_progress: bool,
) -> TrainingSet:
    from embedlab.adapt.synthetic import synthesize

    # Inverse-cloze positives may drop the query's sentence, so the original document would be a false
    # negative for its own query: the synthetic strategy trains with in-batch negatives only.
    documents = {**train.corpus, **extra}
    pairs, _ = synthesize(
        documents,
        encoder=Encoder(base, cache=True, show_progress=show_progress),
        llm_base_url=llm_base_url,
        llm_model=llm_model,
        seed=seed,
        show_progress=show_progress,
    )
    if not pairs and not train.n_pairs:
        raise InputError(
            f"No synthetic pair could be made from {len(documents)} documents: inverse cloze needs documents of at "
            "least two sentences (or pass --llm-base-url for doc2query), and the round trip must find them."
        )
    queries, positives = dict(train.queries), {q: list(d) for q, d in train.positives.items()}
    corpus = dict(documents)
    for number, pair in enumerate(pairs):
        query_id, text = f"synthetic-{number}", pair.positive_text(documents)
        doc_id = pair.doc_id if text == documents[pair.doc_id] else f"{pair.doc_id}{_SYNTHETIC}{number}"
        corpus[doc_id] = text
        queries[query_id] = pair.query
        positives[query_id] = [doc_id]
    return TrainingSet(queries, corpus, positives, train.negatives, name=f"{train.name}+synthetic")
