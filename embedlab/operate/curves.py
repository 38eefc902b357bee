"""The precision-recall curve of scored pairs, and the threshold on it that meets an objective (pure numpy).

The curve is scikit-learn's ``precision_recall_curve``: one point per distinct score, a pair passing at
``score >= threshold``, so a threshold never splits equal scores (tied pairs pass or fail together).

Example:
    >>> fit_threshold([0.9, 0.8, 0.8, 0.3], [1, 1, 0, 0], "precision>=0.9").value  # 0.8 would split a tie
    0.9
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from embedlab.errors import InputError

if TYPE_CHECKING:
    from embedlab.operate.thresholds import Threshold

CURVE_POINTS = 200  # points of each precision-recall curve kept in the artefact (for plots and reports)
_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)"


@dataclass(frozen=True)
class Objective:
    """What a threshold optimises: ``kind`` f (``target`` = beta), precision or recall (``target`` = the floor)."""

    kind: Literal["f", "precision", "recall"]
    target: float

    def __str__(self) -> str:
        if self.kind == "f":
            return "f1" if self.target == 1 else f"fbeta:{self.target:g}"
        return f"{self.kind}>={self.target:g}"

    @property
    def beta(self) -> float:
        """The F-beta reported with this objective (1 unless it is an F-beta objective)."""
        return self.target if self.kind == "f" else 1.0


def parse_objective(text: str | Objective) -> Objective:
    """``f1``, ``fbeta:B`` (B > 0), ``precision>=P`` or ``recall>=R`` (0 < P, R <= 1).

    Raises:
        InputError: anything else, with the accepted forms.
    """
    if isinstance(text, Objective):
        return text
    spoken = str(text).replace(" ", "").lower()
    beta = re.fullmatch(rf"fbeta:{_NUMBER}", spoken)
    floor = re.fullmatch(rf"(precision|recall)>={_NUMBER}", spoken)
    if spoken == "f1":
        return Objective("f", 1.0)
    if beta and float(beta[1]) > 0:
        return Objective("f", float(beta[1]))
    if floor and 0 < float(floor[2]) <= 1:
        return Objective("precision" if floor[1] == "precision" else "recall", float(floor[2]))
    raise InputError(
        f"objective must be f1, fbeta:B (B > 0), precision>=P or recall>=R (P, R in (0, 1]); got {text!r}."
    )


@dataclass(frozen=True)
class Fit:
    """A threshold chosen on one set of pairs, with the precision, recall and F-beta it gives there."""

    value: float
    precision: float
    recall: float
    f: float


def pr_curve(scores: Any, labels: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(thresholds, precision, recall)``: one point per distinct score (a pair passes at ``score >= t``).

    Raises:
        InputError: lengths differ, labels other than 0/1, or no positive or no negative pair.
    """
    from sklearn.metrics import precision_recall_curve

    score, label = checked_pairs(scores, labels)
    precision, recall, thresholds = precision_recall_curve(label, score, drop_intermediate=False)
    return thresholds.astype(np.float64), precision[:-1], recall[:-1]  # the last point has no threshold


def fit_threshold(scores: Any, labels: Any, objective: str | Objective) -> Fit:
    """The threshold that meets ``objective`` on these pairs, and its precision, recall and F there.

    Raises:
        InputError: the objective cannot be met (the best precision or recall reachable is named).
    """
    goal = parse_objective(objective)
    thresholds, precision, recall = pr_curve(scores, labels)
    f = f_beta(precision, recall, goal.beta)
    if goal.kind == "f":
        chosen = int(np.flatnonzero(f == f.max())[-1])
    else:
        reached = (precision if goal.kind == "precision" else recall) >= goal.target - 1e-12
        if not reached.any():
            best = (precision if goal.kind == "precision" else recall).max()
            raise InputError(f"No threshold reaches {goal} on these pairs (the best {goal.kind} is {best:.4f}).")
        chosen = int(np.flatnonzero(reached)[0 if goal.kind == "precision" else -1])
    return Fit(float(thresholds[chosen]), float(precision[chosen]), float(recall[chosen]), float(f[chosen]))


def checked_pairs(scores: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    """Scores and 0/1 labels as float arrays, refusing mismatched lengths, non-finite scores, a single class."""
    score = np.asarray(scores, dtype=np.float64).ravel()
    label = np.asarray(labels).ravel()
    if score.shape != label.shape:
        raise InputError(f"{len(score)} scores but {len(label)} labels: give one label per pair.")
    if not np.isfinite(score).all():
        raise InputError("Scores must be finite numbers.")
    if not np.isin(label, (0, 1, True, False)).all():
        raise InputError(f"Labels must be 0 or 1; got {sorted(set(label.tolist()) - {0, 1})[:5]}.")
    label = label.astype(np.float64)
    if label.sum() == 0 or label.sum() == len(label):
        raise InputError(
            f"A threshold needs positive and negative pairs; these {len(label)} pairs have {int(label.sum())} "
            "positives (a split too small, or labels all alike)."
        )
    return score, label


def f_beta(precision: np.ndarray, recall: np.ndarray, beta: float) -> np.ndarray:
    """F-beta of each precision/recall point (0 where both are 0)."""
    b2 = beta * beta
    denominator = b2 * precision + recall
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (1 + b2) * precision * recall / denominator, 0.0)


def precision_of(label: np.ndarray, predicted: np.ndarray, axis: int = -1) -> Any:
    """Precision of 0/1 predictions along ``axis`` (0 when nothing is predicted positive)."""
    return _ratio((label * predicted).sum(axis=axis), predicted.sum(axis=axis))


def recall_of(label: np.ndarray, predicted: np.ndarray, axis: int = -1) -> Any:
    """Recall of 0/1 predictions along ``axis``."""
    return _ratio((label * predicted).sum(axis=axis), label.sum(axis=axis))


def f_of(label: np.ndarray, predicted: np.ndarray, beta: float, axis: int = -1) -> Any:
    """F-beta of 0/1 predictions along ``axis``."""
    return f_beta(precision_of(label, predicted, axis), recall_of(label, predicted, axis), beta)


def _ratio(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    return np.divide(part, whole, out=np.zeros_like(part, dtype=np.float64), where=whole > 0)


def curve_points(scores: np.ndarray, labels: np.ndarray) -> dict[str, list[float]]:
    """The curve thinned to at most ``CURVE_POINTS`` points (evenly spaced along it), as lists."""
    thresholds, precision, recall = pr_curve(scores, labels)
    keep = np.unique(np.linspace(0, len(thresholds) - 1, min(CURVE_POINTS, len(thresholds))).round().astype(int))
    return {"threshold": thresholds[keep].tolist(), "precision": precision[keep].tolist(),
            "recall": recall[keep].tolist()}  # fmt: skip


def plot_curve(threshold: Threshold, path: str | Path) -> Path:
    """Draw both precision-recall curves with the chosen threshold's held-out point; save a PNG at ``path``."""
    from embedlab.plots import pyplot

    plt = pyplot()
    figure, axis = plt.subplots(figsize=(5.5, 4.5))
    for split, style in (("fit", "--"), ("held_out", "-")):
        points = threshold.curve.get(split)
        if points:
            axis.plot(points["recall"], points["precision"], style, label=split.replace("_", "-"))
    held = threshold.held_out
    axis.plot([held["recall"]["value"]], [held["precision"]["value"]], "o", color="black",
              label=f"threshold {threshold.value:.3f} ({threshold.objective})")  # fmt: skip
    axis.set(xlabel="recall", ylabel="precision", xlim=(0, 1.02), ylim=(0, 1.02), title=threshold.space.model)
    axis.legend(loc="lower left")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return Path(path)
