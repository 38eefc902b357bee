"""Probe sentences: a fixed set whose vectors reveal a silently changed model, backend or precision.

The same model on another CPU, in another batch, or in another order gives probe vectors whose cosine with
the baseline's stays within float32 rounding (``1 - cos`` well under ``1e-5``); an int8 variant, an
adapted model or another model moves at least one probe far more. :func:`probe_check` compares per
probe with a tolerance between the two (``TOLERANCE``), so batch shapes never alarm and swaps always do.
A changed dimension is a mismatch at once.

Example:
    >>> vectors = np.eye(3, dtype=np.float32)
    >>> probe_check(vectors, vectors).alarm
    False
    >>> probe_check(vectors, vectors[[1, 0, 2]]).alarm
    True
"""

from __future__ import annotations

import numpy as np

from embedlab.operate.monitor.drift import Signal

TOLERANCE = 1e-4
"""Largest ``1 - cosine`` between a probe's baseline and current vector that counts as the same model."""

PROBES = (
    "The weather is lovely today.",
    "How do I reset my password?",
    "Senior software engineer, backend, Python and Kubernetes",
    "Registered nurse in an intensive care unit",
    "Aspirin reduces the risk of heart attack in adults over fifty.",
    "The mitochondria is the powerhouse of the cell.",
    "Quarterly revenue grew by 12% despite supply chain issues.",
    "Où se trouve la gare la plus proche ?",
    "Der Hund schläft auf dem Sofa.",
    "def add(a, b): return a + b",
    "SELECT name FROM users WHERE age > 30;",
    "A",
    "404 not found",
    "The quick brown fox jumps over the lazy dog.",
    "Customer complains that the refund has not arrived after three weeks.",
    "Gene expression of p53 in tumour cells after irradiation",
    "Truck driver, heavy goods vehicles, long distance",
    "What is the capital of Australia?",
    "I absolutely loved this movie, the acting was superb!",
    "Terms and conditions apply. See store for details.",
)
"""Short and long, several domains and languages, code and symbols: texts that exercise the whole model."""


def probe_check(baseline: np.ndarray, current: np.ndarray, *, tolerance: float = TOLERANCE) -> Signal:
    """The largest ``1 - cosine`` between each probe's baseline and current vector; alarm above ``tolerance``."""
    first, second = np.asarray(baseline, np.float64), np.asarray(current, np.float64)
    if first.shape != second.shape:
        detail = {"baseline_shape": list(first.shape), "current_shape": list(second.shape), "tolerance": tolerance}
        return Signal("probe_mismatch", 1.0, None, True, detail)
    norms = np.linalg.norm(first, axis=1) * np.linalg.norm(second, axis=1)
    cosines = (first * second).sum(1) / np.maximum(norms, 1e-12)
    distance = 1.0 - cosines
    worst = int(np.argmax(distance))
    detail = {"tolerance": tolerance, "worst_probe": worst, "mismatched": int(np.count_nonzero(distance > tolerance))}
    return Signal("probe_mismatch", float(distance[worst]), None, bool(distance[worst] > tolerance), detail)
