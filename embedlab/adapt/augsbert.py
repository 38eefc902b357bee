"""Augmented SBERT: a cross-encoder trained on a small gold set labels many silver pairs for the bi-encoder.

Steps (Thakur et al., 2021): (1) train a cross-encoder on the gold pairs, each positive with mined
negatives labelled 0; (2) sample silver pairs, the BM25 and embedding neighbours of every training query
that are not gold; (3) label them with the cross-encoder (a probability in [0, 1]); (4) fine-tune the
bi-encoder on gold + silver with a scored-pair loss (CoSENT by default). The cross-encoder is saved next
to the bi-encoder (``<out>-cross-encoder``; a rerun after a kill reuses it) and loads as a reranker
(``index.search(..., rerank=path)``).

Without a network no pretrained cross-encoder can be fetched, so by default it starts from the base
bi-encoder's own transformer with a fresh one-logit head; pass ``cross_encoder`` to start from another.

Example:
    >>> result = augmented_sbert(load_model(), train, out="models/scifact-augsbert", dev=dev)  # doctest: +SKIP
    >>> result.lineage.data["silver"]  # trains for minutes  # doctest: +SKIP
    4045
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from embedlab.adapt.base import trainable
from embedlab.adapt.data import TrainingSet
from embedlab.adapt.finetune import AdaptResult, FinetuneConfig, finetune
from embedlab.adapt.losses import loss_spec
from embedlab.adapt.negatives import mine_negatives
from embedlab.atomic import replace_folder
from embedlab.encode import Encoder
from embedlab.errors import InputError
from embedlab.evaluate.data import RetrievalBenchmark
from embedlab.models import EmbeddingModel
from embedlab.registry import write_lineage


@dataclass
class CrossEncoderConfig:
    """Training settings of the cross-encoder (the gold step).

    Each positive gets ``negatives_per_positive`` hard negatives (BM25 and embedding neighbours) and
    ``easy_negatives`` random ones; the loss weighs positives by the number of negatives (``pos_weight``),
    so predicting the base rate is not a minimum. The defaults suit CPUs and a few hundred gold pairs: on
    SciFact's train split, 1 epoch with 2 hard negatives only at lr 2e-5 learned nothing (every pair scored
    ~0.34); random negatives give the fresh head a signal to start from. Reranking BM25's top 20 for
    held-out SciFact train queries (BM25 alone: NDCG@10 0.69): 2 hard + 1 random negatives, 1 epoch, 0.35;
    these defaults, 0.65.
    """

    epochs: int = 4
    batch_size: int = 16
    lr: float = 5e-5
    warmup_ratio: float = 0.1
    negatives_per_positive: int = 1
    easy_negatives: int = 1
    max_length: int = 128
    seed: int = 0


def train_cross_encoder(
    train: TrainingSet,
    *,
    out: str | Path,
    start: str | Path | None = None,
    config: CrossEncoderConfig | None = None,
    encoder: Encoder | None = None,
    show_progress: bool = True,
) -> Path:
    """Train a one-logit cross-encoder on ``train``'s positives (label 1) and mined negatives (label 0).

    Hard negatives are BM25 neighbours, and embedding neighbours when ``encoder`` is given, half each;
    easy ones are random documents.
    ``start``: a cross-encoder or transformer folder (default: the bundled model's transformer).

    Raises:
        InputError: ``out`` exists or the training set is empty.
    """
    import torch
    from datasets import Dataset
    from sentence_transformers.cross_encoder import CrossEncoder, CrossEncoderTrainer, CrossEncoderTrainingArguments
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

    from embedlab.models import bundled_model_dir

    config = config or CrossEncoderConfig()
    out = Path(out).expanduser().resolve()
    if out.exists():
        raise InputError(f"{out} already exists; choose another output folder.")
    if train.n_pairs == 0:
        raise InputError(f"{train.name}: no gold pairs to train a cross-encoder on.")
    negatives = _gold_negatives(train, config, encoder)
    n_negatives = config.negatives_per_positive + config.easy_negatives
    rows: dict[str, list[Any]] = {"query": [], "document": [], "label": []}
    for query_id, doc_id in train.pairs():
        for doc, label in ((doc_id, 1.0), *((n, 0.0) for n in negatives[query_id])):
            rows["query"].append(train.queries[query_id])
            rows["document"].append(train.corpus[doc])
            rows["label"].append(label)
    model = CrossEncoder(str(start or bundled_model_dir()), num_labels=1, max_length=config.max_length)
    work = out.with_name(f".{out.name}.work")
    args = CrossEncoderTrainingArguments(
        output_dir=str(work),
        num_train_epochs=config.epochs,
        per_device_train_batch_size=config.batch_size,
        learning_rate=config.lr,
        warmup_ratio=config.warmup_ratio,
        seed=config.seed,
        save_strategy="no",
        logging_steps=10,
        report_to="none",
        disable_tqdm=not show_progress,
        dataloader_pin_memory=False,
    )
    trainer = CrossEncoderTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_dict(rows).shuffle(seed=config.seed),
        loss=BinaryCrossEntropyLoss(model, pos_weight=torch.tensor(float(max(1, n_negatives)))),
    )
    trainer.train()
    with replace_folder(out) as staging:
        model.save(str(staging))
    shutil.rmtree(work, ignore_errors=True)
    return out


def label_silver(
    train: TrainingSet,
    cross_encoder: Any,
    *,
    encoder: Encoder | None = None,
    per_query: int = 5,
    batch_size: int = 64,
) -> list[tuple[str, str, float]]:
    """Silver ``(query_id, doc_id, score)`` pairs labelled by the cross-encoder (a sigmoid probability).

    The candidates are each query's top BM25 neighbours (and embedding neighbours when ``encoder`` is
    given) that are not gold, ``per_query`` from each source.
    """
    from embedlab.evaluate.bm25 import BM25Search

    query_ids = list(train.positives)
    texts = [train.queries[q] for q in query_ids]
    depth = per_query + max(len(p) for p in train.positives.values())
    neighbours = [[doc for doc, _ in ranking] for ranking in BM25Search(train.corpus)(texts, depth)]
    if encoder is not None:
        from embedlab.evaluate.retrieval import ExactSearch

        dense = ExactSearch(encoder, train.corpus)(texts, depth)
        # BM25 rankings may be shorter than depth (no shared term): pad so the dense half starts at depth
        neighbours = [
            [*sparse, *[""] * (depth - len(sparse)), *(doc for doc, _ in d)]
            for sparse, d in zip(neighbours, dense, strict=True)
        ]
    pairs: list[tuple[str, str]] = []
    for query_id, candidates in zip(query_ids, neighbours, strict=True):
        gold = set(train.positives[query_id])
        sources = [candidates[:depth], candidates[depth:]] if encoder is not None else [candidates]
        chosen = [doc for source in sources for doc in [d for d in source if d and d not in gold][:per_query]]
        pairs += [(query_id, doc) for doc in dict.fromkeys(chosen)]
    scores = cross_encoder.predict(
        [(train.queries[q], train.corpus[d]) for q, d in pairs],
        batch_size=batch_size,
        activation_fn=_sigmoid(),
        show_progress_bar=True,
    )
    return [(q, d, float(s)) for (q, d), s in zip(pairs, scores, strict=True)]


def augmented_sbert(
    base: EmbeddingModel | str | Path | None,
    train: TrainingSet,
    *,
    out: str | Path,
    dev: RetrievalBenchmark | TrainingSet | None = None,
    config: FinetuneConfig | None = None,
    cross_encoder_config: CrossEncoderConfig | None = None,
    cross_encoder: str | Path | None = None,
    silver_per_query: int = 5,
    show_progress: bool = True,
) -> AdaptResult:
    """Run the four Augmented SBERT steps; the bi-encoder goes to ``out``, the cross-encoder beside it.

    ``cross_encoder``: an already trained cross-encoder folder to label with (skips step 1).
    ``config.loss`` must be a scored-pair loss (``cosent`` default, ``cosine`` or ``contrastive``).
    """
    from sentence_transformers.cross_encoder import CrossEncoder

    config = config or FinetuneConfig(loss="cosent", batch_size=16)
    if not loss_spec(config.loss).scored:
        raise InputError(
            f"Augmented SBERT trains on scored pairs: use loss cosent, cosine or contrastive, not {config.loss}."
        )
    started = time.perf_counter()
    base_model = trainable(base)
    encoder = Encoder(base_model, cache=True, show_progress=show_progress)
    out = Path(out).expanduser().resolve()
    ce_path = Path(cross_encoder) if cross_encoder else out.with_name(f"{out.name}-cross-encoder")
    if cross_encoder is None and not (ce_path / "config.json").is_file():  # a rerun after a kill reuses it
        start = base_model.info.path if base_model.info.source != "bundled" else None
        train_cross_encoder(
            train, out=ce_path, start=start, config=cross_encoder_config, encoder=encoder, show_progress=show_progress
        )
    silver = label_silver(train, CrossEncoder(str(ce_path)), encoder=encoder, per_query=silver_per_query)
    augmented = replace(train, scored=[*train.scored, *silver], name=f"{train.name}+silver")
    result = finetune(
        base_model, augmented, out=out, config=config, dev=dev, method="augsbert", show_progress=show_progress
    )
    result.lineage.data.update({"gold": train.n_pairs, "silver": len(silver), "cross_encoder": str(ce_path)})
    result.lineage.seconds = round(time.perf_counter() - started, 1)
    write_lineage(result.path, result.lineage)
    return result


def _gold_negatives(train: TrainingSet, config: CrossEncoderConfig, encoder: Encoder | None) -> dict[str, list[str]]:
    """Per query: ``negatives_per_positive`` hard negatives (BM25, half embedding when possible), then random."""
    n = config.negatives_per_positive
    hard = mine_negatives(train, "bm25", n=n, seed=config.seed).negatives if n else {q: [] for q in train.positives}
    if encoder is not None and n >= 2:
        dense = mine_negatives(train, "embedding", n=n, encoder=encoder, seed=config.seed).negatives
        hard = {q: list(dict.fromkeys([*hard[q][: n - n // 2], *dense[q]]))[:n] for q in hard}
    if not config.easy_negatives:
        return hard
    easy = mine_negatives(train, "random", n=config.easy_negatives + n, seed=config.seed).negatives
    return {q: [*hard[q], *[d for d in easy[q] if d not in hard[q]][: config.easy_negatives]] for q in hard}


def _sigmoid() -> Any:
    import torch

    return torch.nn.Sigmoid()
