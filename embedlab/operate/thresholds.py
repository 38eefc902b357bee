"""Calibrated similarity thresholds: fit on labelled pairs, report on held-out ones, refuse another vector space.

A threshold is pipeline policy: a pair (or a query and a hit) counts as a match when its cosine score is
at least :attr:`Threshold.value`. It is chosen on a precision-recall curve (:mod:`embedlab.operate.curves`,
scikit-learn's ``precision_recall_curve``) for an objective, on one split of labelled pairs, and its
precision, recall and F are reported on the other split with bootstrap intervals
(:mod:`embedlab.evaluate.stats`). The curve's candidates are the distinct scores, so a threshold never
splits equal scores: tied pairs pass or fail together.

Objectives (:func:`parse_objective`): ``f1``, ``fbeta:B`` (the best F-beta; ties go to the higher
threshold), ``precision>=P`` (the lowest threshold reaching precision P, so the highest recall at that
precision) and ``recall>=R`` (the highest threshold keeping recall R, so the best precision at that recall).

Scores depend on the model, its backend, the vectors' precision and their truncation: the artefact records
the :class:`Space` it was measured in, and :meth:`Threshold.check` refuses any other, naming what changed.

An index's threshold lives in ``INDEX/threshold.json`` (:func:`attach`); search, the FAQ answerer and
the duplicate finder use it with ``min_score="calibrated"`` (:func:`index_threshold`).

Example:
    >>> threshold = calibrate_pairs(scores, labels, "precision>=0.9", space=model)  # doctest: +SKIP
    >>> threshold.save("threshold.json").name  # doctest: +SKIP
    'threshold.json'
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from embedlab.atomic import write_json
from embedlab.errors import IndexMismatchError, InputError
from embedlab.evaluate.stats import Estimate, statistic_ci
from embedlab.index.options import CALIBRATED, SearchOptions
from embedlab.operate.curves import (
    Fit,
    Objective,
    checked_pairs,
    curve_points,
    f_of,
    fit_threshold,
    parse_objective,
    plot_curve,
    pr_curve,
    precision_of,
    recall_of,
)
from embedlab.operate.pairs import benchmark_pairs, pair_scores

__all__ = [
    "FILENAME", "Fit", "Objective", "Space", "Threshold", "attach", "benchmark_pairs", "calibrate_from_benchmark",
    "calibrate_from_pairs", "calibrate_pairs", "calibrated", "fit_threshold", "index_threshold", "pair_scores",
    "parse_objective", "plot_curve", "pr_curve", "score_floor",
]  # fmt: skip

FORMAT = "embedlab-threshold/1"
FILENAME = "threshold.json"  # an index's calibrated threshold: INDEX/threshold.json
_LOADED: dict[tuple[str, int, int], Threshold] = {}  # thresholds read, by (path, mtime, size): one read per change
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Space:
    """What a score was measured with: the model (name, fingerprint, backend), the vectors' precision and dims."""

    model: str
    fingerprint: str
    backend: str = "torch"
    precision: str = "float32"
    dims: int = 0

    def __str__(self) -> str:
        return f"{self.model} [{self.fingerprint[:12]}] ({self.backend}, {self.precision}, {self.dims} dims)"

    @classmethod
    def of(cls, target: Any) -> Space:
        """The space of an index (its query encoder, precision, dims), a model, an encoder or a model info.

        Also an ``index.json`` settings dict, a ``ModelInfo.to_dict()``, or a threshold (its own space).
        """
        if isinstance(target, Space):
            return target
        if isinstance(target, Threshold):
            return target.space
        if hasattr(target, "settings") and hasattr(target, "query_encoder"):  # an Index
            settings, encoder = target.settings, target.query_encoder
            return cls(settings["model"]["name"], encoder["fingerprint"], encoder["backend"],
                       settings.get("precision", "float32"), _dims(settings))  # fmt: skip
        if isinstance(target, Mapping) and isinstance(target.get("model"), Mapping):  # index.json settings
            model = target["model"]
            return cls(model["name"], model["fingerprint"], model.get("backend", "torch"),
                       target.get("precision", "float32"), _dims(target))  # fmt: skip
        if isinstance(target, Mapping):  # ModelInfo.to_dict()
            return cls(target["name"], target["fingerprint"], target.get("backend", "torch"), "float32",
                       int(target["dimension"]))  # fmt: skip
        model = getattr(target, "model", target)  # an Encoder holds its EmbeddingModel
        info: Any = getattr(model, "info", model)
        truncated = getattr(getattr(model, "st", None), "truncate_dim", None)
        return cls(info.name, info.fingerprint, info.backend, "float32", int(truncated or info.dimension))


def _dims(settings: Mapping[str, Any]) -> int:
    """The dimensions an index's vectors keep (a Matryoshka truncation, else the model's)."""
    return int(settings.get("dims") or settings.get("truncate_dim") or settings["model"]["dimension"])


@dataclass(frozen=True)
class Threshold:
    """A calibrated threshold and everything needed to trust it; :meth:`save` and :meth:`load` it as JSON.

    Attributes:
        value: a score counts as a match when it is at least this.
        objective: what it was chosen for (``precision>=0.9``).
        fitted: precision, recall and F on the fit split (F is the objective's F-beta, else F1).
        held_out: the same on the held-out split, each ``{"value", "low", "high"}`` (95% bootstrap).
        n_pairs: pairs and positives in each split (``fit``, ``fit_positives``, ``held_out``, ``held_out_positives``).
        space: the model, backend, precision and dims the scores were measured with.
        source: what the pairs came from (a file, a benchmark).
        curve: the precision-recall curves of both splits (``fit``/``held_out``: ``threshold``, ``precision``,
            ``recall`` lists, at most ``CURVE_POINTS`` each).
        created: when (UTC, ISO 8601).
    """

    value: float
    objective: str
    fitted: dict[str, float]
    held_out: dict[str, dict[str, float]]
    n_pairs: dict[str, int]
    space: Space
    source: str = ""
    curve: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with the format tag."""
        return {"format": FORMAT, **asdict(self)}

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "the threshold") -> Threshold:
        """Rebuild a threshold from :meth:`to_dict`'s output.

        Raises:
            InputError: not a threshold artefact (another format, missing or malformed fields).
        """
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            found = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise InputError(f"{where} is not an embedlab threshold (format {found!r}, expected {FORMAT!r}).")
        try:
            values = {f.name: data[f.name] for f in fields(cls) if f.name in data}
            threshold = cls(**{**values, "space": Space(**values["space"])})
            parse_objective(threshold.objective)
            if not np.isfinite(float(threshold.value)) or not all(
                {"value", "low", "high"} <= set(threshold.held_out[name]) for name in ("precision", "recall", "f")
            ):
                raise ValueError("value or held_out")
        except (KeyError, TypeError, ValueError, AttributeError, InputError) as exc:
            raise InputError(f"{where} is a malformed embedlab threshold ({type(exc).__name__}: {exc}).") from None
        return threshold

    def save(self, path: str | Path) -> Path:
        """Write the artefact as JSON, atomically."""
        return write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> Threshold:
        """Read an artefact written by :meth:`save`.

        Raises:
            InputError: no file, an unreadable one, or one that is not a threshold.
        """
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(f"No threshold at {path}: make one with `embedlab threshold calibrate`.") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{path} is not a readable threshold ({exc}); calibrate it again.") from None
        return cls.from_dict(data, where=str(path))

    def check(self, target: Any) -> Threshold:
        """Return ``self`` if ``target`` (an index, model, encoder, model info) scores in the same space.

        Raises:
            IndexMismatchError: another model, backend, precision or dims, each change named.
        """
        given = Space.of(target)
        changes = [
            f"{what} {old} -> {new}"
            for what, old, new in (
                ("model fingerprint", self.space.fingerprint[:12], given.fingerprint[:12]),
                ("backend", self.space.backend, given.backend),
                ("precision", self.space.precision, given.precision),
                ("dims", self.space.dims, given.dims),
            )
            if old != new
        ]
        if changes:
            raise IndexMismatchError(
                f"The threshold {self.value:.4f} ({self.objective}) was calibrated with {self.space}; it cannot be "
                f"used with {given}: {'; '.join(changes)}. Scores of another model, backend, precision or "
                "truncation are on another scale: recalibrate (`embedlab threshold calibrate`)."
            )
        return self

    def describe(self) -> str:
        """One line: the value, the objective and the held-out figures with their intervals."""
        held = ", ".join(f"{name} {Estimate(**self.held_out[name])}" for name in ("precision", "recall", "f"))
        return (
            f"threshold {self.value:.4f} for {self.objective} (fit on {self.n_pairs['fit']} pairs); "
            f"held-out ({self.n_pairs['held_out']} pairs): {held}"
        )


# -- the core: scores and labels in, a threshold out ------------------------------------------------------


def calibrate_pairs(
    scores: Any,
    labels: Any,
    objective: str | Objective,
    *,
    space: Any,
    held_out: tuple[Any, Any] | float = 0.5,
    groups: Sequence[Any] | None = None,
    seed: int = 0,
    source: str = "",
    n_resamples: int = 1000,
) -> Threshold:
    """Fit a threshold on one split of scored pairs and report it on the other.

    ``held_out`` is either the held-out fraction (pairs are split at random with ``seed``, positives and
    negatives each in that proportion; with ``groups`` — a query's hits, say — whole groups are) or
    explicit held-out ``(scores, labels)``, ``scores``/``labels`` then being the fit split. ``space`` is
    what scored them (anything :meth:`Space.of` takes).

    Raises:
        InputError: malformed scores or labels, a split without both classes, an objective not reachable.
    """
    score, label = checked_pairs(scores, labels)
    if isinstance(held_out, tuple):
        fit_score, fit_label = score, label
        test_score, test_label = checked_pairs(*held_out)
    else:
        test = _held_out_mask(label, held_out, groups, seed)
        fit_score, fit_label, test_score, test_label = score[~test], label[~test], score[test], label[test]
    goal = parse_objective(objective)
    fit = fit_threshold(fit_score, fit_label, goal)
    checked_pairs(test_score, test_label)
    predicted = (test_score >= fit.value).astype(np.float64)
    metrics: dict[str, Callable[..., Any]] = {
        "precision": precision_of,
        "recall": recall_of,
        "f": partial(f_of, beta=goal.beta),
    }
    return Threshold(
        value=fit.value,
        objective=str(goal),
        fitted={"precision": fit.precision, "recall": fit.recall, "f": fit.f},
        held_out={
            name: _interval(metric, test_label, predicted, n_resamples, seed).to_dict()
            for name, metric in metrics.items()
        },
        n_pairs={
            "fit": len(fit_score),
            "fit_positives": int(fit_label.sum()),
            "held_out": len(test_score),
            "held_out_positives": int(test_label.sum()),
        },
        space=Space.of(space),
        source=source,
        curve={"fit": curve_points(fit_score, fit_label), "held_out": curve_points(test_score, test_label)},
    )


def _held_out_mask(label: np.ndarray, fraction: float, groups: Sequence[Any] | None, seed: int) -> np.ndarray:
    """Which pairs are held out: ``fraction`` of the groups at random, or of each class's pairs without groups."""
    if not 0 < fraction < 1:
        raise InputError(f"The held-out fraction must be between 0 and 1, got {fraction}.")
    rng = np.random.default_rng(seed)
    if groups is None:  # stratified: each split gets its share of positives and of negatives
        held = np.zeros(len(label), dtype=bool)
        for cls in (0, 1):
            members = np.flatnonzero(label == cls)
            held[rng.permutation(members)[: round(len(members) * fraction)]] = True
        return held
    if len(groups) != len(label):
        raise InputError(f"{len(groups)} groups for {len(label)} pairs: give one group per pair.")
    keys = np.unique(np.asarray(groups, dtype=str), return_inverse=True)[1]
    n_groups = int(keys.max()) + 1
    return np.isin(keys, rng.permutation(n_groups)[: round(n_groups * fraction)])


def _interval(metric: Callable[..., Any], label: np.ndarray, predicted: np.ndarray, n: int, seed: int) -> Estimate:
    """``metric`` on the held-out pairs with a paired percentile bootstrap interval (pairs resampled)."""
    value = float(metric(label, predicted))
    estimate = statistic_ci(metric, label, predicted, n_resamples=n, seed=seed, vectorized=True)
    if not (np.isfinite(estimate.low) and np.isfinite(estimate.high)):  # a resample-invariant metric
        return Estimate(value, value, value)
    return Estimate(value, estimate.low, estimate.high)


# -- where scores come from: a model over text pairs, a search over a benchmark ---------------------------


def calibrate_from_pairs(
    model: Any,
    texts1: Sequence[str],
    texts2: Sequence[str],
    labels: Sequence[int] | np.ndarray,
    objective: str | Objective,
    *,
    held_out: float = 0.5,
    seed: int = 0,
    source: str = "pairs",
) -> Threshold:
    """Score each ``(texts1[i], texts2[i])`` by cosine with ``model`` (a model, encoder or spec) and calibrate.

    Raises:
        InputError: the three lists differ in length, or see :func:`calibrate_pairs`.
    """
    from embedlab.encode import Encoder

    if not len(texts1) == len(texts2) == len(labels):
        raise InputError(f"{len(texts1)} first texts, {len(texts2)} second texts and {len(labels)} labels differ.")
    encoder = model if isinstance(model, Encoder) else Encoder(model)
    scores = pair_scores(encoder, texts1, texts2)
    return calibrate_pairs(scores, labels, objective, space=encoder, held_out=held_out, seed=seed, source=source)


def calibrate_from_benchmark(
    search: Any,
    benchmark: Any,
    objective: str | Objective,
    *,
    space: Any = None,
    k: int = 10,
    held_out: float = 0.5,
    seed: int = 0,
) -> Threshold:
    """Calibrate on a retrieval benchmark: the hits of half the queries fit, the other half's report.

    ``benchmark`` is a :class:`~embedlab.evaluate.data.RetrievalBenchmark` or a BEIR folder (its test split);
    ``search`` an index (its space is the default ``space``) or a ``SearchFn`` (then ``space`` is required).
    Queries, not hits, are split, so no query's hits are on both sides.

    Raises:
        InputError: a search function without ``space``, or see :func:`calibrate_pairs`.
    """
    from embedlab.evaluate.data import load_beir

    if isinstance(benchmark, str | Path):
        benchmark = load_beir(benchmark)
    if space is None and not hasattr(search, "query_encoder"):
        raise InputError("A search function does not say what scored it: pass space= (the model or the index).")
    scores, labels, groups = benchmark_pairs(search, benchmark, k=k)
    return calibrate_pairs(
        scores, labels, objective, space=space if space is not None else search, held_out=held_out, groups=groups,
        seed=seed, source=f"benchmark {benchmark.name} (top {k} hits of {len(benchmark.queries)} queries)",
    )  # fmt: skip


# -- using it ----------------------------------------------------------------------------------------------


def attach(threshold: Threshold, index: Any) -> Path:
    """Save ``threshold`` as ``INDEX/threshold.json`` after checking it was measured in the index's space.

    Raises:
        IndexMismatchError: the threshold belongs to another model, backend, precision or dims.
    """
    threshold.check(index)
    return threshold.save(Path(index.path) / FILENAME)


def index_threshold(index: Any) -> Threshold:
    """The threshold attached to ``index`` (``INDEX/threshold.json``; read again when the file changes), checked.

    Raises:
        InputError: none attached, or an unreadable one.
        IndexMismatchError: it was calibrated for another model, backend, precision or dims.
    """
    path = Path(index.path) / FILENAME
    try:
        stamp = (str(path.resolve()), path.stat().st_mtime_ns, path.stat().st_size)
    except OSError:
        raise InputError(
            f"The index {index.path} has no calibrated threshold ({FILENAME}): make one with "
            f"`embedlab threshold calibrate --index {index.path} ...`, or give a number."
        ) from None
    with _LOCK:
        threshold = _LOADED.get(stamp)
    if threshold is None:
        threshold = Threshold.load(path)
        with _LOCK:
            _LOADED.clear()  # one file changed: the others are read again too (rarely more than a few)
            _LOADED[stamp] = threshold
    return threshold.check(index)


def score_floor(index: Any, threshold: float | str | Threshold) -> float:
    """A score floor for ``index``: a number, ``"calibrated"`` (its threshold), or a threshold checked against it.

    Raises:
        InputError: a string other than ``"calibrated"``, or no calibrated threshold.
        IndexMismatchError: the threshold was measured with another model, backend, precision or dims.
    """
    if isinstance(threshold, Threshold):
        return threshold.check(index).value
    if isinstance(threshold, str):
        if threshold != CALIBRATED:
            raise InputError(f"A threshold is a number or {CALIBRATED!r}; got {threshold!r}.")
        return index_threshold(index).value
    return float(threshold)


def calibrated(index: Any, options: SearchOptions) -> SearchOptions:
    """``options`` with ``min_score="calibrated"`` replaced by ``index``'s calibrated threshold.

    Raises:
        InputError: a mode or a reranker whose scores are not the threshold's cosine, or no threshold.
    """
    if options.min_score != CALIBRATED:
        return options
    if options.mode != "vector" or options.rerank is not None:
        raise InputError(
            f"min_score={CALIBRATED!r} is a threshold on vector (cosine) scores; {options.mode} search"
            f"{' with rerank' if options.rerank is not None else ''} scores on another scale: use mode='vector' "
            "without rerank, or give min_score as a number."
        )
    return replace(options, min_score=index_threshold(index).value)
