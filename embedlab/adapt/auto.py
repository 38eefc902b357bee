"""One call for the whole loop: pick a strategy from the data there is, adapt, and prove it on held-out data.

The choice follows the adaptation table of the guidance (shared seeds, "Adaptation Strategy by Data
Availability"), counting the (query, relevant document) pairs of the benchmark's train split:

========================  ==========================================================================
train pairs               strategy
========================  ==========================================================================
none                      ``tsdae`` on the corpus (unlabelled text only)
fewer than 50             ``synthetic``: inverse-cloze (or doc2query) pairs + the few real ones, MNRL
50 to 500                 ``finetune``: MNRL with synthetic (BM25) negatives
500 to 10,000             ``hard-negatives``: MNRL with embedding negatives behind the false-negative guard
10,000 or more            ``curriculum``: random -> BM25 -> embedding negatives across epochs
========================  ==========================================================================

``strategy=`` overrides the choice. ``synthetic`` also works with no labelled pair at all: inverse-cloze
pairs from the corpus are contrastive continued pre-training, the other half of the table's first row. On
SciFact both hurt the bundled model, TSDAE far more than inverse cloze (README, "Adapt to your domain").

The base and the adapted model (and BM25) are then evaluated on the test split with the evaluation suite
(intervals, paired test) and the report is written; the test metrics go into the model's lineage. The
verdict is also split (:mod:`embedlab.evaluate.coverage`): test queries whose relevant documents training
paired with a query (seen) and those whose documents it never saw (unseen), each base vs adapted with
intervals and the paired test; :attr:`AutoResult.coverage` says in words when the lift lives only in seen
documents, and the lineage records both (``metrics["coverage"]``).

Example:
    >>> result = adapt_auto("scifact_beir", out="models/scifact-auto", report="reports/scifact")  # doctest: +SKIP
    >>> result.strategy, result.comparison["p_value"] < 0.05  # trains for minutes  # doctest: +SKIP
    ('hard-negatives', True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from embedlab.adapt.base import trainable
from embedlab.adapt.data import TrainingSet, load_training
from embedlab.adapt.finetune import AdaptResult, FinetuneConfig, finetune
from embedlab.encode import Encoder
from embedlab.errors import InputError
from embedlab.evaluate.coverage import Coverage, coverage, coverage_evaluators
from embedlab.evaluate.data import RetrievalBenchmark, has_split, load_beir
from embedlab.evaluate.suite import EvaluationReport, run_evaluation
from embedlab.io import read_texts
from embedlab.models import EmbeddingModel, load_model
from embedlab.registry import write_lineage

FEW_PAIRS, SOME_PAIRS, MANY_PAIRS = 50, 500, 10_000
AutoStrategy = Literal["tsdae", "synthetic", "finetune", "hard-negatives", "curriculum"]
STRATEGIES: tuple[AutoStrategy, ...] = get_args(AutoStrategy)
WITHOUT_LABELS: tuple[AutoStrategy, ...] = ("tsdae", "synthetic")  # the strategies that run on unlabelled text alone
_SYNTHETIC = "#synthetic-"  # a synthetic positive that is a changed copy of a corpus document: "<doc id>#synthetic-<n>"


@dataclass
class AutoResult:
    """The chosen strategy and why, the adapted model, the base-vs-adapted evaluation and what its lift covers."""

    strategy: str
    reason: str
    adapted: AdaptResult
    report: EvaluationReport
    files: dict[str, Path] = field(default_factory=dict)
    coverage: Coverage | None = None

    @property
    def comparison(self) -> dict[str, Any]:
        """Adapted vs base on NDCG@10 over the whole test split: difference, interval, p-value."""
        for item in self.report.comparisons:
            if item.task == "retrieval" and item.metric == "ndcg@10" and item.system != "BM25":
                return item.to_dict()
        return {}


def choose_strategy(n_pairs: int) -> tuple[str, str]:
    """The strategy for a train split of ``n_pairs`` pairs, and the sentence that explains it.

    Example:
        >>> choose_strategy(919)[0]
        'hard-negatives'
    """
    if n_pairs == 0:
        return "tsdae", (
            "no labelled pairs: denoising auto-encoder (TSDAE) on the unlabelled corpus; on a model already trained"
            " for similarity it can hurt (the bundled model on SciFact: NDCG@10 0.645 -> 0.377; inverse-cloze pairs,"
            " --strategy synthetic: 0.614), so check the test, and label 50 pairs if you can"
        )
    if n_pairs < FEW_PAIRS:
        return "synthetic", f"{n_pairs} pairs (< {FEW_PAIRS}): synthetic pairs from the corpus plus the real ones"
    if n_pairs <= SOME_PAIRS:
        return "finetune", f"{n_pairs} pairs ({FEW_PAIRS}-{SOME_PAIRS}): few-shot MNRL with BM25 negatives"
    if n_pairs < MANY_PAIRS:
        return "hard-negatives", f"{n_pairs} pairs: MNRL with mined embedding negatives (false-negative guard)"
    return "curriculum", f"{n_pairs} pairs (>= {MANY_PAIRS}): MNRL with an easy-to-hard negative curriculum"


def adapt_auto(
    benchmark: str | Path,
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
    show_progress: bool = True,
) -> AutoResult:
    """Adapt ``base`` to a BEIR-layout benchmark folder, evaluate base vs adapted on its test split.

    Args:
        benchmark: a folder with ``corpus.jsonl``, ``queries.jsonl``, ``qrels/test.tsv`` and optionally
            ``qrels/train.tsv`` (and ``qrels/dev.tsv``; otherwise 10% of the train queries are held out).
        out: where the adapted model is saved (with its lineage).
        report: folder for ``results.json`` and ``report.html`` (default: ``<out>-report``).
        corpus: extra unlabelled text (one per line, or .jsonl/.csv/.parquet with ``text``) for TSDAE
            and synthetic pairs; the benchmark corpus is always used.
        epochs: override the strategy's default number of epochs.
        base: the model to adapt (default: the bundled one); it is never modified.
        seed: for splits, sampling and training.
        llm_base_url: an OpenAI-compatible endpoint for doc2query in the ``synthetic`` strategy.
        llm_model: the model name at ``llm_base_url``; without a URL, a local GGUF model (pack name or path)
            run in-process by :mod:`embedlab.adapt.llm`.
        strategy: one of :data:`STRATEGIES` instead of the table's choice; all but
            :data:`WITHOUT_LABELS` need labelled train pairs.
        show_progress: progress bars.

    Raises:
        InputError: not a benchmark folder (no test split), an output that exists, an unknown strategy
            or one that needs train pairs the benchmark does not have.
    """
    if strategy is not None and strategy not in STRATEGIES:
        raise InputError(f"Unknown strategy {strategy!r}: choose one of {', '.join(STRATEGIES)}.")
    root, out = Path(benchmark), Path(out)
    if out.exists():  # before minutes of work, not after
        raise InputError(f"{out} already exists; choose another output folder.")
    test = load_beir(root, split="test")
    base_model = trainable(base)
    train: TrainingSet | None = None
    dev: RetrievalBenchmark | TrainingSet | None = None
    if has_split(root, "train"):
        train, dev = load_training(root, min_pairs=FEW_PAIRS, seed=seed, test=test)
    n_pairs = train.n_pairs if train else 0
    chosen, reason = choose_strategy(n_pairs)
    if strategy is not None and strategy != chosen:
        if n_pairs == 0 and strategy not in WITHOUT_LABELS:
            raise InputError(f"{root} has no train pairs: strategy {strategy!r} needs them; use tsdae or synthetic.")
        chosen, reason = strategy, f"chosen by the caller ({n_pairs} train pairs; the table says {chosen})"
    extra = read_texts(corpus).texts if corpus else []
    adapted: AdaptResult
    if chosen == "tsdae":
        from embedlab.adapt.tsdae import tsdae

        texts = list(test.corpus.values()) + extra
        adapted = tsdae(base_model, texts, out=out, seed=seed, show_progress=show_progress, epochs=epochs or 1)
    else:
        if train is None:  # synthetic pairs only: contrastive continued pre-training on unlabelled text
            train = TrainingSet({}, dict(test.corpus), {}, name=f"{test.name} corpus")
        if chosen == "synthetic":
            train = _with_synthetic(train, extra, base_model, llm_base_url, llm_model, seed, show_progress)
        config = _config(chosen, epochs, seed)
        adapted = finetune(base_model, train, out=out, config=config, dev=dev, method=f"auto:{chosen}",
                           show_progress=show_progress)  # fmt: skip
    seen = {doc.split(_SYNTHETIC)[0] for doc in train.seen_documents} if train and chosen != "tsdae" else set()
    evaluation = run_evaluation([base_model, load_model(adapted.path)], benchmark=test, bm25=True, cache=True,
                                evaluators=coverage_evaluators(test, seen))  # fmt: skip
    files = evaluation.save(report or out.with_name(f"{out.name}-report"))
    covered = coverage(evaluation, evaluation.systems[1].name)
    adapted_scores = evaluation.systems[1].retrieval
    if adapted_scores is not None:
        adapted.lineage.metrics["test"] = {"benchmark": test.name, **adapted_scores.mean}
        adapted.lineage.metrics["test_base"] = (
            evaluation.systems[0].retrieval.mean if evaluation.systems[0].retrieval else {}
        )
        adapted.lineage.metrics["coverage"] = covered.to_dict()
        write_lineage(adapted.path, adapted.lineage)
    return AutoResult(chosen, reason, adapted, evaluation, files, covered)


def _config(strategy: str, epochs: int | None, seed: int) -> FinetuneConfig:
    if strategy == "curriculum":
        return FinetuneConfig(negatives="curriculum", epochs=epochs or 3, seed=seed, batch_size=64)
    if strategy == "hard-negatives":
        return FinetuneConfig(negatives="embedding", epochs=epochs or 1, seed=seed)
    if strategy == "finetune":
        return FinetuneConfig(negatives="bm25", epochs=epochs or 2, seed=seed, batch_size=16)
    return FinetuneConfig(negatives=None, epochs=epochs or 1, seed=seed, batch_size=16)  # in-batch: see _with_synthetic


def _with_synthetic(
    train: TrainingSet,
    extra: list[str],
    base: EmbeddingModel,
    llm_base_url: str | None,
    llm_model: str | None,
    seed: int,
    show_progress: bool,
) -> TrainingSet:
    from embedlab.adapt.synthetic import synthesize

    # Inverse-cloze positives may drop the query's sentence, so the original document would be a false
    # negative for its own query: the synthetic strategy trains with in-batch negatives only.
    documents = {**train.corpus, **{f"#extra-{number}": text for number, text in enumerate(extra)}}
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
