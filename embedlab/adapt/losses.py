"""Training losses as small uniform units: each names its sentence-transformers class and the columns it needs.

==============  ===================================  ==========================================
loss            sentence-transformers class          columns of a training row
==============  ===================================  ==========================================
``mnrl``        MultipleNegativesRankingLoss         anchor, positive, negative_1..n (in-batch)
``cached_mnrl`` CachedMultipleNegativesRankingLoss   anchor, positive, negative_1..n (in-batch)
``triplet``     TripletLoss                          anchor, positive, negative
``contrastive`` ContrastiveLoss                      sentence1, sentence2, score
``cosine``      CosineSimilarityLoss                 sentence1, sentence2, score
``cosent``      CoSENTLoss                           sentence1, sentence2, score
==============  ===================================  ==========================================

``negative_*`` stands for as many negative columns as each row has negatives (none: in-batch negatives
only). Rows with a ``score`` turn each positive into a pair scored 1, each negative into one scored 0, and
add the training set's graded ``scored`` pairs. A new loss is one more entry of :data:`LOSSES`.

Example:
    >>> LOSSES["triplet"].columns
    ('anchor', 'positive', 'negative')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

from embedlab.adapt.data import TrainingSet
from embedlab.errors import InputError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

Loss = Literal["mnrl", "cached_mnrl", "triplet", "contrastive", "cosine", "cosent"]
LOSS_NAMES: tuple[Loss, ...] = get_args(Loss)

ANCHORED = ("anchor", "positive", "negative_*")
TRIPLET = ("anchor", "positive", "negative")
SCORED = ("sentence1", "sentence2", "score")


@dataclass(frozen=True)
class LossSpec:
    """One loss: its sentence-transformers class, the columns its rows need, and how it is set up.

    ``options``: :class:`~embedlab.adapt.finetune.FinetuneConfig` fields passed to the class.
    ``in_batch``: the other rows of a batch are negatives too (batches need distinct texts and at least two
    rows; mined negatives are optional); every other loss needs explicit negatives.
    """

    st_class: str
    columns: tuple[str, ...]
    options: tuple[str, ...] = ()
    in_batch: bool = False

    @property
    def scored(self) -> bool:
        """Its rows are scored pairs (``sentence1, sentence2, score``)."""
        return "score" in self.columns

    def negatives_per_row(self, n_negatives: int) -> int:
        """How many negatives each query must have: one for a triplet, else ``n_negatives``."""
        return 1 if "negative" in self.columns else n_negatives

    def build(self, st: SentenceTransformer, settings: Mapping[str, Any]) -> Any:
        """The loss object for ``st``, wrapped in MatryoshkaLoss when ``settings["matryoshka_dims"]`` is set."""
        from sentence_transformers.sentence_transformer import losses

        loss = getattr(losses, self.st_class)(st, **{option: settings[option] for option in self.options})
        if settings.get("matryoshka_dims"):
            loss = losses.MatryoshkaLoss(st, loss, matryoshka_dims=list(settings["matryoshka_dims"]))
        return loss

    def rows(
        self, train: TrainingSet, negatives: dict[str, list[str]] | None, n_negatives: int
    ) -> dict[str, list[Any]]:
        """The training rows, one per (query, positive) pair (and per negative, for scored pairs).

        Each query's negatives are the set's given ones, then ``negatives`` (mined), never a positive, at
        most ``n_negatives``.

        Raises:
            InputError: a query with fewer negatives than the loss needs.
        """
        given = train.negatives
        rows: dict[str, list[Any]] = {column: [] for column in self.columns if not column.endswith("*")}
        wanted = self.negatives_per_row(n_negatives) if (negatives or given or not self.in_batch) else 0
        for query_id, doc_id in train.pairs():
            query, positive = train.queries[query_id], train.corpus[doc_id]
            positives = set(train.positives[query_id])
            negs = [d for d in (*given.get(query_id, []), *(negatives or {}).get(query_id, [])) if d not in positives]
            negs = list(dict.fromkeys(negs))[:n_negatives]
            if self.scored:
                for text, score in ((positive, 1.0), *((train.corpus[n], 0.0) for n in negs)):
                    _append(rows, sentence1=query, sentence2=text, score=score)
                continue
            if len(negs) < wanted:
                raise InputError(f"Query {query_id} has {len(negs)} negatives; the loss needs {wanted}.")
            keys = ["negative"] if "negative" in self.columns else [f"negative_{i + 1}" for i in range(wanted)]
            texts = {key: train.corpus[doc] for key, doc in zip(keys, negs, strict=False)}
            _append(rows, anchor=query, positive=positive, **texts)
        if self.scored:
            for query_id, doc_id, score in train.scored:
                _append(rows, sentence1=train.queries[query_id], sentence2=train.corpus[doc_id], score=float(score))
        return rows


LOSSES: dict[Loss, LossSpec] = {
    "mnrl": LossSpec("MultipleNegativesRankingLoss", ANCHORED, in_batch=True),
    "cached_mnrl": LossSpec("CachedMultipleNegativesRankingLoss", ANCHORED, ("mini_batch_size",), in_batch=True),
    "triplet": LossSpec("TripletLoss", TRIPLET),
    "contrastive": LossSpec("ContrastiveLoss", SCORED),
    "cosine": LossSpec("CosineSimilarityLoss", SCORED),
    "cosent": LossSpec("CoSENTLoss", SCORED),
}


def loss_spec(loss: str) -> LossSpec:
    """The :class:`LossSpec` of a loss name.

    Raises:
        InputError: an unknown name.
    """
    if loss not in LOSSES:
        raise InputError(f"Unknown loss {loss!r}; choose one of {', '.join(LOSS_NAMES)}.")
    return LOSSES[loss]


def training_rows(
    train: TrainingSet, negatives: dict[str, list[str]] | None, loss: str = "mnrl", n_negatives: int = 1
) -> dict[str, list[Any]]:
    """The columns ``loss`` expects, one row per (query, positive) pair; see :meth:`LossSpec.rows`.

    Example:
        >>> train = TrainingSet({"q": "cats?"}, {"a": "cats", "b": "dogs"}, {"q": ["a"]})
        >>> training_rows(train, {"q": ["b"]}, "triplet")
        {'anchor': ['cats?'], 'positive': ['cats'], 'negative': ['dogs']}
    """
    return loss_spec(loss).rows(train, negatives, n_negatives)


def _append(rows: dict[str, list[Any]], **values: Any) -> None:
    for column, value in values.items():
        rows.setdefault(column, []).append(value)
