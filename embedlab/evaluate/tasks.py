"""Clustering and classification of embeddings against labels (scikit-learn), with intervals.

- clustering: k-means with k = the number of labels, over several seeds: V-measure, adjusted Rand
  index, and the silhouette (cosine) of the clusters found; mean over seeds with a bootstrap interval.
- classification: logistic regression on the embeddings, stratified k-fold cross-validated predictions:
  accuracy and macro-F1 with bootstrap intervals over the items.

Example:
    >>> data = load_labelled("titles.csv", text_field="title", label_field="group")  # doctest: +SKIP
    >>> clustering_scores(Encoder(), data)["v_measure"]  # doctest: +SKIP
    Estimate(value=0.41, low=0.40, high=0.42)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embedlab.encode import Encoder
from embedlab.errors import InputError
from embedlab.evaluate.stats import Estimate, mean_ci, statistic_ci
from embedlab.io import read_records


@dataclass
class LabelledSet:
    """Texts with one label each."""

    texts: list[str]
    labels: list[str]

    def label_ids(self) -> np.ndarray:
        """The labels as integers 0..n_labels-1 (sorted label order)."""
        names = sorted(set(self.labels))
        index = {name: i for i, name in enumerate(names)}
        return np.array([index[label] for label in self.labels])


def load_labelled(path: str | Path, *, text_field: str = "text", label_field: str = "label") -> LabelledSet:
    """Read ``text, label`` records from .jsonl, .csv/.tsv or .parquet.

    Raises:
        InputError: a missing field, an empty text, or fewer than two labels.
    """
    rows = read_records(path)
    if rows and (text_field not in rows[0] or label_field not in rows[0]):
        raise InputError(f"{path}: needs fields {text_field!r} and {label_field!r}; has {', '.join(rows[0])}.")
    texts = [str(row[text_field] or "") for row in rows]
    empty = [i + 1 for i, text in enumerate(texts) if not text.strip()]
    if empty:
        raise InputError(f"{path}: records {empty[:10]} have an empty {text_field!r}.")
    data = LabelledSet(texts=texts, labels=[str(row[label_field]) for row in rows])
    _need_labels(data)
    return data


def clustering_scores(
    encoder: Encoder, data: LabelledSet, *, seeds: Sequence[int] = (0, 1, 2, 3, 4)
) -> dict[str, Estimate]:
    """K-means (k = number of labels) on the embeddings: V-measure, ARI and cosine silhouette."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, silhouette_score, v_measure_score

    _need_labels(data)
    vectors = encoder.encode(data.texts)
    truth = data.label_ids()
    runs: dict[str, list[float]] = {"v_measure": [], "ari": [], "silhouette": []}
    for seed in seeds:
        found = KMeans(n_clusters=int(truth.max()) + 1, n_init=3, random_state=seed).fit_predict(vectors)
        runs["v_measure"].append(float(v_measure_score(truth, found)))
        runs["ari"].append(float(adjusted_rand_score(truth, found)))
        runs["silhouette"].append(float(silhouette_score(vectors, found, metric="cosine")))
    return {name: mean_ci(values) for name, values in runs.items()}


def classification_scores(encoder: Encoder, data: LabelledSet, *, folds: int = 5, seed: int = 0) -> dict[str, Estimate]:
    """Logistic regression on the embeddings, cross-validated: accuracy and macro-F1 with intervals."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    _need_labels(data)
    truth = data.label_ids()
    smallest = int(np.bincount(truth).min())
    if smallest < folds:
        raise InputError(f"The rarest label has {smallest} examples; {folds}-fold cross-validation needs {folds}.")
    vectors = encoder.encode(data.texts)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    predicted = cross_val_predict(LogisticRegression(max_iter=2000), vectors, truth, cv=splitter)

    def macro_f1(true: np.ndarray, pred: np.ndarray) -> float:
        return float(f1_score(true.astype(int), pred.astype(int), average="macro", zero_division=0))

    return {
        "accuracy": mean_ci((predicted == truth).astype(float), seed=seed),
        "macro_f1": statistic_ci(macro_f1, truth, predicted, seed=seed),
    }


def _need_labels(data: LabelledSet) -> None:
    if len(data.texts) != len(data.labels):
        raise InputError(f"{len(data.texts)} texts for {len(data.labels)} labels.")
    if len(set(data.labels)) < 2:
        raise InputError("Clustering and classification need at least two different labels.")
