"""Static variants: token embeddings distilled from a transformer with model2vec, optionally fine-tuned with MNRL.

A static model looks each token up in a table and averages: no attention, so it is one to two orders of
magnitude faster than its source, and loses what context brings. :func:`build_static` distils the
table from the source's own transformer (model2vec: every vocabulary entry through the model, PCA,
SIF weighting), adds the frequent words of the user's corpus to the vocabulary, and, given training
pairs, fine-tunes the table with MultipleNegativesRankingLoss (:func:`embedlab.adapt.finetune`, as
sentence-transformers' static-retrieval-mrl models were trained). The result is a sentence-transformers
``StaticEmbedding`` + ``Normalize`` folder.

Example:
    >>> # not run: needs the model2vec extra; minutes
    >>> build_static(load_model(), Path("work/static"), corpus_texts, train_pairs, StaticSettings())  # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embedlab.errors import InputError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from embedlab.adapt.data import TrainingSet
    from embedlab.models import EmbeddingModel

_WORD = re.compile(r"[^\W\d_]{3,}")


@dataclass(frozen=True)
class StaticSettings:
    """Distillation and fine-tuning settings of a static variant (all recorded in its lineage).

    ``vocabulary``: how many frequent corpus words (seen ``min_count`` times or more) to add to the
    tokenizer's own vocabulary. ``epochs``/``batch_size``/``lr``: MNRL fine-tuning when pairs are given;
    static tables learn with far larger rates than transformers.
    """

    pca_dims: int = 256
    vocabulary: int = 20_000
    min_count: int = 2
    epochs: int = 3
    batch_size: int = 256
    lr: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("pca_dims", "epochs", "batch_size", "min_count"):
            if getattr(self, name) < 1:
                raise InputError(f"Static {name} must be at least 1, got {getattr(self, name)}.")
        if self.vocabulary < 0:
            raise InputError(f"Static vocabulary must be 0 or more, got {self.vocabulary}.")


def corpus_vocabulary(texts: Sequence[str], size: int, min_count: int) -> list[str]:
    """The ``size`` most frequent lowercase words (letters only, 3+ long) seen at least ``min_count`` times.

    Example:
        >>> corpus_vocabulary(["Nurse, nurse and doctor", "the nurse"], 5, 2)
        ['nurse']
    """
    counts = Counter(word.lower() for text in texts for word in _WORD.findall(text))
    ranked = sorted((word for word, count in counts.items() if count >= min_count), key=lambda w: (-counts[w], w))
    return ranked[:size]


def distill_static(source: EmbeddingModel, vocabulary: list[str], settings: StaticSettings) -> SentenceTransformer:
    """A ``StaticEmbedding`` + ``Normalize`` model distilled by model2vec from ``source``'s transformer."""
    from model2vec.distill import distill_from_model
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Normalize, StaticEmbedding

    transformer: Any = source.st[0]
    dims = min(settings.pca_dims, source.info.dimension)
    static = distill_from_model(
        transformer.auto_model,
        source.st.tokenizer,
        vocabulary=vocabulary or None,
        device="cpu",
        pca_dims=dims,
        quantize_to="float32",  # model2vec's default float16 table gives NaN gradients when fine-tuned on CPU
    )
    tokenizer = static.tokenizer
    tokenizer.no_truncation()  # read whole texts: a static model has no length limit
    module = StaticEmbedding(tokenizer, embedding_weights=static.embedding, base_model=source.info.name)
    return SentenceTransformer(modules=[module, Normalize()], device="cpu")


def build_static(
    source: EmbeddingModel,
    out: Path,
    texts: Sequence[str],
    train: TrainingSet | None,
    settings: StaticSettings,
) -> dict[str, Any]:
    """Distil (and with ``train``, fine-tune) a static model of ``source`` into ``out``; return its settings."""
    from embedlab.models import EmbeddingModel, describe

    vocabulary = corpus_vocabulary(texts, settings.vocabulary, settings.min_count) if settings.vocabulary else []
    st = distill_static(source, vocabulary, settings)
    recorded: dict[str, Any] = {
        **asdict(settings),
        "corpus_words": len(vocabulary),
        "dimension": st.get_embedding_dimension(),
    }
    if train is None or train.n_pairs == 0:
        st.save(str(out))
        return {**recorded, "fine_tuned": False}
    from embedlab.adapt.finetune import FinetuneConfig, finetune

    fit, dev = train.split(0.1, seed=settings.seed) if len(train.queries) >= 20 else (train, None)
    config = FinetuneConfig(loss="mnrl", epochs=settings.epochs, batch_size=settings.batch_size, lr=settings.lr,
                            seed=settings.seed, warmup_ratio=0.0)  # fmt: skip
    result = finetune(EmbeddingModel(st, describe(st, name="static")), fit, out=out, config=config, dev=dev,
                      method="optimize:static", show_progress=False)  # fmt: skip
    return {**recorded, "fine_tuned": True, "pairs": fit.n_pairs, "train_hash": result.lineage.data_hash,
            "dev": result.lineage.metrics.get("dev", {})}  # fmt: skip
