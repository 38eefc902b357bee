"""What an evaluator's measurement holds: metric values, their 95% intervals, speed, a JSON form.

Every :class:`~embedlab.evaluate.evaluator.Evaluator` returns a :class:`TaskResult`. A result that also has
one value per query or item (:class:`PerItem`, such as retrieval's) can be compared with another system's
query by query (paired test); :class:`Scores` is the result of a task scored over the whole set at once
(STS correlation, clustering, classification).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from embedlab.evaluate.stats import Estimate


class TaskResult(Protocol):
    """Metric values (``mean``, what ``evaluator(model)`` reports), intervals (``ci``), speed, JSON form."""

    speed: dict[str, float]

    @property
    def mean(self) -> dict[str, float]:
        """Each metric's value."""
        ...

    @property
    def ci(self) -> dict[str, Estimate]:
        """Each metric's value with its 95% interval."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        ...


@runtime_checkable
class PerItem(Protocol):
    """A result with one value per query (or item) for each metric, in a fixed order: paired tests apply."""

    def values(self, metric: str) -> np.ndarray:
        """The per-item values of one metric."""
        ...


@dataclass
class Scores:
    """A task scored over the whole set at once: each metric with its 95% bootstrap interval."""

    ci: dict[str, Estimate]
    speed: dict[str, float] = field(default_factory=dict)

    @property
    def mean(self) -> dict[str, float]:
        """Each metric's value.

        Example:
            >>> Scores({"spearman": Estimate(0.82, 0.80, 0.84)}).mean
            {'spearman': 0.82}
        """
        return {metric: estimate.value for metric, estimate in self.ci.items()}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{metric: {value, low, high}}``."""
        return {metric: estimate.to_dict() for metric, estimate in self.ci.items()}
