"""Supervised contrastive fine-tuning with the sentence-transformers trainer, mined negatives and a curriculum.

:func:`finetune` copies the base model (the caller's model and the base folder are never touched), builds
the training rows for the chosen loss, trains with :class:`~sentence_transformers.SentenceTransformerTrainer`
(warmup, learning rate, epochs, batch size, seed), evaluates on a dev split during training, keeps the
best checkpoint, and saves the result with its lineage (:mod:`embedlab.registry`).

The dev split is scored by an :class:`~embedlab.evaluate.evaluator.Evaluator` (by default a
:class:`~embedlab.evaluate.evaluators.RetrievalEvaluator` named ``dev`` over the whole dev corpus, graded
relevance): the same code as ``embedlab eval``, so the dev figures in the lineage are what ``embedlab eval
--split dev`` gives for the saved model.

Losses (:mod:`embedlab.adapt.losses`): ``mnrl`` (MultipleNegativesRankingLoss, in-batch negatives plus any
mined ones, the default), ``cached_mnrl`` (the same with gradient caching: a large effective batch in small
memory), ``triplet``, ``contrastive`` (positive vs negative pairs), ``cosine`` and ``cosent`` (scored
pairs). ``matryoshka_dims`` wraps any of them in MatryoshkaLoss so truncated embeddings stay useful.

With ``negatives="curriculum"`` each epoch is a stage with its own negatives, easy to hard
(:func:`~embedlab.adapt.negatives.curriculum`); embedding negatives are mined with the model as trained
so far. Work in progress (checkpoints, each stage's rows and model) lives in ``work_dir``; a killed run
started again with the same arguments resumes from the last checkpoint.

Example:
    >>> result = finetune(load_model(), train, out="models/scifact", dev=dev)  # trains for minutes  # doctest: +SKIP
    >>> result.lineage.metrics["dev"]["ndcg@10"]  # doctest: +SKIP
    0.71
"""

from __future__ import annotations

import copy
import json
import logging
import math
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from embedlab.adapt.base import trainable
from embedlab.adapt.data import TrainingSet
from embedlab.adapt.losses import Loss, loss_spec
from embedlab.adapt.negatives import Strategy, curriculum, mine_negatives
from embedlab.atomic import write_file, write_json
from embedlab.encode import Encoder
from embedlab.errors import InputError
from embedlab.evaluate.data import RetrievalBenchmark
from embedlab.models import EmbeddingModel, describe, fingerprint
from embedlab.registry import Lineage, data_hash, save_model

if TYPE_CHECKING:
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer

    from embedlab.evaluate.evaluator import Evaluator

#: What :attr:`FinetuneConfig.negatives` takes: one mining strategy, or a curriculum of them from easy to hard.
Negatives = Literal[Strategy, "curriculum"]
NEGATIVES: tuple[Negatives, ...] = get_args(Negatives)
_DONE = "done.json"
log = logging.getLogger(__name__)


@dataclass
class FinetuneConfig:
    """Hyper-parameters of :func:`finetune` (all recorded in the lineage).

    ``negatives``: ``None`` (in-batch only; losses that need explicit negatives then use random ones),
    a strategy (``random``, ``bm25``, ``embedding``) or ``curriculum``. ``checkpoint_steps``: save (and,
    with a dev set, evaluate) every so many steps; default: every epoch, at most every 200 steps.
    ``dev_corpus_size``: score the dev queries against their judged documents plus a sample of the others
    (seeded by ``seed``), this many documents in all, instead of the whole corpus; ``embedlab eval
    --corpus-size N --seed S`` reproduces it.
    """

    loss: Loss = "mnrl"
    epochs: int = 1
    batch_size: int = 32
    lr: float = 3e-5
    warmup_ratio: float = 0.1
    seed: int = 0
    negatives: Negatives | None = None
    n_negatives: int = 1
    margin: float | None = 0.95
    skip_top: int = 0
    matryoshka_dims: tuple[int, ...] | None = None
    mini_batch_size: int = 16
    checkpoint_steps: int | None = None
    dev_corpus_size: int | None = None
    max_steps: int = -1

    def __post_init__(self) -> None:
        spec = loss_spec(self.loss)
        if self.negatives is not None and self.negatives not in NEGATIVES:
            raise InputError(f"Unknown negatives {self.negatives!r}; choose one of {', '.join(NEGATIVES)}.")
        for name in ("epochs", "batch_size", "n_negatives", "mini_batch_size", "dev_corpus_size"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise InputError(f"{name} must be at least 1, got {getattr(self, name)}.")
        if not 0 < self.lr < 1:
            raise InputError(f"lr must be in (0, 1), got {self.lr}.")
        if spec.in_batch and self.batch_size < 2:
            raise InputError("In-batch negatives need batch_size >= 2.")


@dataclass
class AdaptResult:
    """The saved model (folder and in memory), its lineage, the trainer's log, the dev scores per stage."""

    path: Path
    lineage: Lineage
    model: SentenceTransformer | None = field(default=None, repr=False)
    history: list[dict[str, Any]] = field(default_factory=list)
    dev: list[dict[str, Any]] = field(default_factory=list)
    resumed: bool = False

    @property
    def losses(self) -> list[float]:
        """The training loss at each logged step."""
        return [float(entry["loss"]) for entry in self.history if "loss" in entry]


def finetune(
    base: EmbeddingModel | str | Path | None,
    train: TrainingSet,
    *,
    out: str | Path,
    config: FinetuneConfig | None = None,
    dev: RetrievalBenchmark | TrainingSet | Evaluator | None = None,
    work_dir: str | Path | None = None,
    method: str = "finetune",
    show_progress: bool = True,
) -> AdaptResult:
    """Fine-tune ``base`` on ``train``, keep the best dev checkpoint, save it to ``out`` with its lineage.

    Args:
        base: the model to start from (never modified).
        train: queries with relevant documents; its corpus supplies negatives.
        out: the folder to write (must not exist yet).
        config: hyper-parameters (:class:`FinetuneConfig`).
        dev: held-out queries scored at every checkpoint, by NDCG@10 with graded relevance over the
            whole corpus (or ``config.dev_corpus_size`` documents), or any evaluator (its primary metric
            picks the best checkpoint); without it the last checkpoint is kept.
        work_dir: checkpoints and stage data (default: ``.<out name>.work`` beside ``out``); removed
            after success, reused to resume after a kill.
        method: the method name recorded in the lineage.
        show_progress: progress bars.

    Raises:
        InputError: empty training data, an output that exists, bad settings.
    """
    config = config or FinetuneConfig()
    if train.n_pairs == 0:
        raise InputError(f"{train.name}: no training pairs.")
    out = Path(out).expanduser().resolve()
    if out.exists():
        raise InputError(f"{out} already exists; choose another output folder.")
    base_model = trainable(base)
    if config.matryoshka_dims and max(config.matryoshka_dims) > base_model.info.dimension:
        raise InputError(f"matryoshka_dims {config.matryoshka_dims} exceed the dimension {base_model.info.dimension}.")
    hashed = _data_hash(train)
    work = Path(work_dir) if work_dir else out.with_name(f".{out.name}.work")
    _prepare_work(work, {"config": asdict(config), "data_hash": hashed, "base": base_model.info.fingerprint})
    st = copy.deepcopy(base_model.st)
    started = time.perf_counter()
    evaluator = _dev_evaluator(dev, config)
    dev_scores: list[dict[str, Any]] = []
    if evaluator is not None:
        dev_scores.append({"stage": "base", **evaluator.scores(st)})

    stages: list[Strategy | None]
    if config.negatives == "curriculum":
        stages = list(curriculum(config.epochs))
    elif config.negatives is None and not loss_spec(config.loss).in_batch:
        stages = ["random"]
    else:
        stages = [config.negatives]
    epochs_per_stage = 1 if config.negatives == "curriculum" else config.epochs
    history: list[dict[str, Any]] = []
    resumed = False
    best: dict[str, Any] | None = None
    best_state: dict[str, Any] | None = None
    for number, strategy in enumerate(stages):
        stage_dir = work / f"stage-{number}"
        done = stage_dir / _DONE
        if done.is_file():
            record = json.loads(done.read_text(encoding="utf-8"))
            st = _load_stage(stage_dir / "model", st)
            resumed = True
        else:
            rows = _stage_rows(stage_dir, train, st, strategy, config, show_progress, number)
            stage_resumed, stage_history, kept = _train(
                st, rows, stage_dir, evaluator, config, epochs_per_stage, number
            )
            resumed = resumed or stage_resumed
            history += stage_history
            record = {"stage": number, "negatives": strategy, **kept}
            st.save(str(stage_dir / "model"))
            write_json(done, record)
        dev_scores.append(record)
        if evaluator is not None and (best is None or _better(evaluator, record, best)):
            best = record
            best_state = copy.deepcopy(st.state_dict())
    if best_state is not None:
        st.load_state_dict(best_state)
    if evaluator is not None and best is not None and not _better(evaluator, best, dev_scores[0]):
        primary = evaluator.primary
        base_score = dev_scores[0][primary]
        log.warning("No stage beat the base model on dev (%s %.4f, base %.4f).", primary, best[primary], base_score)

    data: dict[str, Any] = {
        "name": train.name,
        "queries": len(train.queries),
        "pairs": train.n_pairs,
        "corpus": len(train.corpus),
    }
    if evaluator is not None:
        data["dev"] = {"evaluator": evaluator.name, "primary": evaluator.primary, **evaluator.summary()}
    lineage = Lineage(
        method=method,
        base=base_model.info.name if base_model.info.source != "local" else base_model.info.path,
        base_fingerprint=base_model.info.fingerprint,
        data_hash=hashed,
        data=data,
        params={**asdict(config), "stages": [s or "in-batch" for s in stages]},
        metrics={"dev": best or {}, "dev_base": dev_scores[0] if evaluator is not None else {}},
        seconds=round(time.perf_counter() - started, 1),
    )
    lineage.fingerprint = _trained_fingerprint(st, base_model, work)
    path = save_model(st, out, lineage)
    _clear_work(work)
    return AdaptResult(path=path, lineage=lineage, model=st, history=history, dev=dev_scores, resumed=resumed)


def _data_hash(train: TrainingSet) -> str:
    """Hash of everything trained on: the pairs, the given negatives and the scored pairs."""
    rows: list[tuple[str, ...]] = [(train.queries[q], train.corpus[d]) for q, d in train.pairs()]
    rows += [(train.queries[q], "negative", train.corpus[d]) for q, docs in train.negatives.items() for d in docs]
    rows += [(train.queries[q], train.corpus[d], str(score)) for q, d, score in train.scored]
    return data_hash(rows)


def _prepare_work(work: Path, manifest: dict[str, Any]) -> None:
    """Reuse ``work`` only for the same settings, data and base model; otherwise start it afresh."""
    file = work / "manifest.json"
    if file.is_file():
        try:
            same = json.loads(file.read_text(encoding="utf-8")) == json.loads(json.dumps(manifest))
        except ValueError:
            same = False
        if same:
            return
        log.warning("%s holds work for other settings, data or base model: starting afresh.", work)
    _clear_work(work)
    work.mkdir(parents=True, exist_ok=True)
    write_json(file, manifest)


def _clear_work(work: Path) -> None:
    """Remove what :func:`finetune` put in ``work`` (never anything else there), then ``work`` if empty."""
    for stage in work.glob("stage-*"):
        shutil.rmtree(stage, ignore_errors=True)
    (work / "manifest.json").unlink(missing_ok=True)
    if work.is_dir() and not any(work.iterdir()):
        work.rmdir()


def _stage_rows(
    stage_dir: Path,
    train: TrainingSet,
    st: SentenceTransformer,
    strategy: Strategy | None,
    config: FinetuneConfig,
    show_progress: bool,
    stage: int,
) -> Dataset:
    """Build the stage's training rows, mined once and kept on disk so a resumed stage trains on the same data."""
    from datasets import Dataset

    saved = stage_dir / "rows.parquet"
    if saved.is_file():
        return Dataset.from_parquet(str(saved))
    negatives = None
    spec = loss_spec(config.loss)
    wanted = spec.negatives_per_row(config.n_negatives)
    if strategy is None and train.negatives and any(len(train.negatives.get(q, [])) < wanted for q in train.positives):
        strategy = "random"  # some queries came with fewer negatives than the rest: top them up at random
    if strategy is not None:
        encoder = Encoder(EmbeddingModel(st=st, info=describe(st)), cache=True, show_progress=show_progress)
        negatives = mine_negatives(
            train,
            strategy,
            n=config.n_negatives,
            encoder=encoder,
            margin=config.margin,
            skip_top=config.skip_top,
            seed=config.seed,
        ).negatives
    # Shuffle here with the seed: the trainer's no-duplicates sampler always orders batches with seed 0.
    dataset = Dataset.from_dict(spec.rows(train, negatives, config.n_negatives)).shuffle(seed=config.seed + stage)
    dataset = dataset.flatten_indices()
    stage_dir.mkdir(parents=True, exist_ok=True)
    write_file(saved, lambda tmp: dataset.to_parquet(str(tmp)))
    return dataset


def _train(
    st: SentenceTransformer,
    rows: Dataset,
    stage_dir: Path,
    evaluator: Evaluator | None,
    config: FinetuneConfig,
    epochs: int,
    stage: int,
) -> tuple[bool, list[dict[str, Any]], dict[str, float]]:
    """Train one stage; return whether it resumed, the trainer's log, and the dev scores of the checkpoint kept."""
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer.training_args import BatchSamplers

    steps_per_epoch = math.ceil(len(rows) / config.batch_size)
    every = config.checkpoint_steps or min(steps_per_epoch, 200)
    checkpoints = stage_dir / "checkpoints"
    spec = loss_spec(config.loss)
    args = SentenceTransformerTrainingArguments(
        output_dir=str(checkpoints),
        num_train_epochs=epochs,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        learning_rate=config.lr,
        warmup_steps=_warmup_steps(steps_per_epoch * epochs, config) if stage == 0 else 0,
        seed=config.seed + stage,
        data_seed=config.seed + stage,
        save_strategy="steps",
        save_steps=every,
        save_total_limit=2,
        eval_strategy="steps" if evaluator is not None else "no",
        eval_steps=every if evaluator is not None else None,
        load_best_model_at_end=evaluator is not None,
        metric_for_best_model=f"eval_{evaluator.primary_metric}" if evaluator is not None else None,
        greater_is_better=evaluator.greater_is_better if evaluator is not None else None,
        logging_steps=max(1, min(10, every, config.max_steps if config.max_steps > 0 else every)),
        report_to="none",
        disable_tqdm=False,
        dataloader_pin_memory=False,
        batch_sampler=BatchSamplers.NO_DUPLICATES if spec.in_batch else BatchSamplers.BATCH_SAMPLER,
    )
    trainer = SentenceTransformerTrainer(
        model=st, args=args, train_dataset=rows, loss=spec.build(st, asdict(config)), evaluator=evaluator
    )
    if evaluator is not None:
        trainer.add_callback(_evaluate_at_end())
    last = _last_complete_checkpoint(checkpoints)
    if last is not None:
        log.info("Resuming stage %d from %s", stage, last)
    trainer.train(resume_from_checkpoint=str(last) if last else None)
    history = list(trainer.state.log_history)
    kept: dict[str, float] = {}
    if evaluator is not None:  # the evaluation of the best checkpoint, the one loaded at the end
        key = f"eval_{evaluator.primary_metric}"
        entry = next(e for e in history if key in e and e["step"] == trainer.state.best_global_step)
        kept = evaluator.unprefixed(entry, "eval_")
    return last is not None, history, kept


def _warmup_steps(planned: int, config: FinetuneConfig) -> int:
    """Warmup steps for a stage of ``planned`` steps: ``warmup_ratio`` of them, rounded up, but never all of them.

    The linear warmup starts at learning rate 0, so a run whose warmup covered every step (one batch of data,
    the default ratio) would train nothing at all.
    """
    total = config.max_steps if config.max_steps > 0 else planned
    return max(0, min(math.ceil(total * config.warmup_ratio), total - 1))


def _trained_fingerprint(st: SentenceTransformer, base: EmbeddingModel, work: Path) -> str:
    """The trained model's fingerprint; refuse (and clear ``work``) when training left it equal to the base's."""
    trained = fingerprint(st)
    if trained == base.info.fingerprint:
        _clear_work(work)
        raise InputError(
            f"Training changed nothing: the result has the base model's fingerprint ({base.info.short_fingerprint}), "
            "so it is not saved as a fine-tune. Give more training pairs or epochs, a smaller batch size or a "
            "larger learning rate."
        )
    return trained


def _last_complete_checkpoint(checkpoints: Path) -> Path | None:
    """The newest checkpoint whose files were all written; newer, half-written ones (a kill) are removed."""
    found = sorted(checkpoints.glob("checkpoint-*"), key=lambda p: int(p.name.rsplit("-", 1)[-1]), reverse=True)
    for path in found:
        if (path / "trainer_state.json").is_file() and (path / "model.safetensors").is_file():
            return path
        shutil.rmtree(path, ignore_errors=True)
    return None


def _evaluate_at_end() -> Any:
    """A callback that evaluates (and saves) at the last step too, so the best checkpoint sees the end."""
    from transformers import TrainerCallback

    class EvaluateAtEnd(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            if state.global_step >= state.max_steps:
                control.should_evaluate = True
                control.should_save = True
            return control

    return EvaluateAtEnd()


def _load_stage(path: Path, st: SentenceTransformer) -> SentenceTransformer:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(path), device=str(st.device))


def _dev_evaluator(
    dev: RetrievalBenchmark | TrainingSet | Evaluator | None, config: FinetuneConfig
) -> Evaluator | None:
    """The dev evaluator: the one given, or retrieval named ``dev`` on the dev queries (sampled if asked)."""
    from embedlab.evaluate.evaluator import Evaluator
    from embedlab.evaluate.evaluators import RetrievalEvaluator

    if dev is None or isinstance(dev, Evaluator):
        return dev
    benchmark = dev.to_benchmark() if isinstance(dev, TrainingSet) else dev
    if not benchmark.qrels:
        return None
    if config.dev_corpus_size is not None:
        benchmark = benchmark.sample(config.dev_corpus_size, seed=config.seed)
    return RetrievalEvaluator(benchmark, name="dev")


def _better(evaluator: Evaluator, record: dict[str, Any], than: dict[str, Any]) -> bool:
    """``record`` scores strictly better than ``than`` on the evaluator's primary metric."""
    ours, theirs = record[evaluator.primary], than[evaluator.primary]
    return bool(ours > theirs if evaluator.greater_is_better else ours < theirs)
