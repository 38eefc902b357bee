"""The evaluator contract: one object scores a model the same way during training, in ``embedlab eval`` and after.

An :class:`Evaluator` is a sentence-transformers evaluator (``BaseEvaluator``): ``evaluator(model)``
returns metrics prefixed with the evaluator's ``name`` (``dev_ndcg@10``); ``primary_metric`` names the one
that picks the best checkpoint and ``greater_is_better`` says which way is better, so the trainer runs it
at every checkpoint as it is. :meth:`Evaluator.measure` returns the whole result behind those numbers
(intervals, per-query values, speed) for reports. Whatever it is given (a ``SentenceTransformer`` in
training, an :class:`~embedlab.models.EmbeddingModel` or an :class:`~embedlab.encode.Encoder`), it encodes
through embedlab's :class:`~embedlab.encode.Encoder`, so the dev figure recorded while fine-tuning is the
figure ``embedlab eval`` gives for the saved model.

A new task is one subclass (see :mod:`embedlab.evaluate.evaluators`): set ``task`` and ``title``,
implement :meth:`~Evaluator.measure`; the suite, results.json, the HTML report and the CLI table show it.

Importing this module imports sentence-transformers (seconds), which is why :mod:`embedlab.evaluate`
exports it lazily.

Example:
    >>> evaluator = RetrievalEvaluator(load_beir("my-bench", split="dev"), name="dev")  # doctest: +SKIP
    >>> evaluator(model)["dev_ndcg@10"], evaluator.primary_metric  # needs a BEIR folder  # doctest: +SKIP
    (0.7103, 'dev_ndcg@10')
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from sentence_transformers import SentenceTransformer
from sentence_transformers.base.evaluation import BaseEvaluator
from sentence_transformers.base.model import BaseModel

from embedlab.encode import Encoder
from embedlab.errors import InputError
from embedlab.models import EmbeddingModel, describe

if TYPE_CHECKING:
    from embedlab.evaluate.results import TaskResult

Model = Encoder | EmbeddingModel | BaseModel
"""What an evaluator scores: an encoder (its cache and settings are used), a model, or a ``SentenceTransformer``."""


class Evaluator(BaseEvaluator, ABC):
    """Score a model on one task: ``evaluator(model) -> {"<name>_<metric>": value}`` and :meth:`measure`.

    Args:
        name: the prefix of every metric and the key of the task's results in a report.
        primary: the metric that ranks models and checkpoints (unprefixed, e.g. ``ndcg@10``).
        greater_is_better: the direction of ``primary``.
    """

    task: ClassVar[str]
    """The kind of task (``retrieval``, ``sts``...)."""
    title: ClassVar[str]
    """The heading of the task's section in reports."""
    headline: ClassVar[tuple[str, ...]] = ()
    """The metrics short tables show (empty: all)."""

    def __init__(self, name: str, primary: str, *, greater_is_better: bool = True) -> None:
        super().__init__()
        if not name:
            raise InputError("An evaluator needs a name: the prefix of its metrics.")
        self.name = name
        self.primary = primary
        self.primary_metric = f"{name}_{primary}"
        self.greater_is_better = greater_is_better

    @abstractmethod
    def measure(self, encoder: Encoder) -> TaskResult:
        """Everything measured with ``encoder``: values, intervals, per-item values where the task has them."""

    def summary(self) -> dict[str, Any]:
        """What the evaluator scores on (name, size), for reports."""
        return {}

    def worst(self, results: dict[str, TaskResult], count: int = 10) -> list[dict[str, Any]]:
        """The items the first system does worst on, with what each system returned (none by default)."""
        return []

    def scores(self, model: Model) -> dict[str, float]:
        """The metric values for ``model``, unprefixed (``{"ndcg@10": ...}``)."""
        return self.measure(as_encoder(model)).mean

    def __call__(
        self, model: Model, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        """The sentence-transformers contract: prefixed metric values, also noted in the model card data."""
        encoder = as_encoder(model)
        metrics: dict[str, float] = self.prefix_name_to_metrics(self.measure(encoder).mean, self.name)
        self.store_metrics_in_model_card_data(encoder.model.st, metrics, epoch, steps)
        return metrics

    def unprefixed(self, metrics: dict[str, Any], prefix: str = "") -> dict[str, float]:
        """The values of this evaluator in ``metrics``, keyed ``<prefix><name>_<metric>`` (a trainer's log)."""
        start = f"{prefix}{self.name}_"
        return {key[len(start) :]: float(value) for key, value in metrics.items() if key.startswith(start)}

    def get_config_dict(self) -> dict[str, Any]:
        """The settings shown in a model card's evaluation section."""
        return {"primary": self.primary, **self.summary()}


def as_encoder(model: Model) -> Encoder:
    """``model`` as an :class:`~embedlab.encode.Encoder` (no cache: a model in training changes at every step).

    Raises:
        InputError: a sentence-transformers model that is not an embedding model (a cross-encoder, say).
    """
    if isinstance(model, Encoder):
        return model
    if isinstance(model, EmbeddingModel):
        return Encoder(model, show_progress=False)
    if not isinstance(model, SentenceTransformer):
        raise InputError(f"Evaluators score embedding models (SentenceTransformer), not a {type(model).__name__}.")
    return Encoder(EmbeddingModel(st=model, info=describe(model)), show_progress=False)
