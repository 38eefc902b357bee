"""Clustering and classification of embeddings against labels (scikit-learn), with intervals.

- clustering: k-means with k = the number of labels: V-measure, adjusted Rand index, and the
  silhouette (cosine) of the clusters found, with bootstrap intervals over the items.
- classification: logistic regression on the embeddings, stratified k-fold cross-validated predictions:
  accuracy and macro-F1 with bootstrap intervals over the items.

Example:
    >>> data = load_labelled("titles.csv", text_field="title", label_field="group")  # doctest: +SKIP
    >>> clustering_scores(Encoder(), data)["v_measure"]  # needs a labelled file  # doctest: +SKIP
    Estimate(value=0.41, low=0.40, high=0.42)
"""

from __future__ import annotations

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


def clustering_scores(encoder: Encoder, data: LabelledSet, *, seed: int = 0) -> dict[str, Estimate]:
    """K-means (k = number of labels) on the embeddings: V-measure, ARI and cosine silhouette.

    The intervals are bootstraps over the items (the clustering is fitted once, ``n_init=5``), so they
    show how much the figures depend on the sample of texts.
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, silhouette_score, v_measure_score

    _need_labels(data)
    if len(data.texts) <= len(set(data.labels)):
        raise InputError(
            f"Clustering {len(set(data.labels))} labels needs more texts than labels, got {len(data.texts)}."
        )
    vectors = encoder.encode(data.texts)
    truth = data.label_ids()
    found = KMeans(n_clusters=int(truth.max()) + 1, n_init=5, random_state=seed).fit_predict(vectors)
    items = np.arange(len(truth), dtype=np.float64)

    def silhouette(picked: np.ndarray) -> float:
        rows = picked.astype(int)
        if len(set(found[rows])) < 2:
            return 0.0
        return float(silhouette_score(vectors[rows], found[rows], metric="cosine"))

    return {
        "v_measure": statistic_ci(lambda t, f: float(v_measure_score(t, f)), truth, found, seed=seed),
        "ari": statistic_ci(lambda t, f: float(adjusted_rand_score(t, f)), truth, found, seed=seed),
        "silhouette": statistic_ci(silhouette, items, n_resamples=200, seed=seed),
    }


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
