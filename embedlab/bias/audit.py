"""A bias audit of one model, a before/after comparison around debiasing, and their report.

:func:`audit_model` gathers the association tests, the bias direction with the most biased words, the
retrieval exposure and, when data is given, the retrieval (NDCG@10) and STS quality that a mitigation
might cost. :func:`write_audit` writes ``audit.json`` and a self-contained ``audit.html``; given a
second audit (after :func:`~embedlab.bias.direction.debias_model`) it shows both side by side.

Example:
    >>> before = audit_model(load_model(), tests=tests, pairs=pairs, words=professions)  # doctest: +SKIP
    >>> write_audit("bias-report", before)  # needs word lists; encodes thousands of words  # doctest: +SKIP
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

import numpy as np

from embedlab import __version__
from embedlab.bias.association import AssociationResult, AssociationTest, load_association_tests, weat
from embedlab.bias.direction import BiasSubspace, bias_direction, load_pairs_file, load_words_file, project
from embedlab.bias.exposure import ExposureResult, load_exposure_documents, retrieval_exposure
from embedlab.encode import Encoder
from embedlab.errors import InputError
from embedlab.evaluate.data import PairSet, RetrievalBenchmark, load_beir, load_pairs
from embedlab.evaluate.retrieval import ExactSearch, evaluate
from embedlab.evaluate.stats import Estimate
from embedlab.evaluate.sts import sts_correlation
from embedlab.io import read_texts, writable_files
from embedlab.models import EmbeddingModel
from embedlab.plots import data_uri, pyplot

LIMITATIONS = (
    "What these figures can and cannot say: association tests measure associations between the chosen word "
    "or sentence lists only, and their sets are small (8 to 32 items), so effect sizes have wide uncertainty; a "
    "low score does not show that a model is unbiased for your task. The bias direction is learnt from a "
    "handful of definitional pairs and captures one binary notion of gender in English; it says nothing about "
    "other groups, other languages or intersectional bias. Removing a direction removes a linear signal; "
    "non-linear and proxy associations can remain and can still be recovered from the vectors; and tests whose "
    "attribute words are the definitional words themselves (such as male and female terms) can be over-corrected "
    "and change sign, which is no more neutral than before. Exposure "
    "depends on the queries and documents used. Treat this report as one input to a human review of "
    "high-stakes uses (hiring, lending, ranking people), not as a certificate."
)


@dataclass
class BiasAudit:
    """The bias measures of one model, and its quality on the data given."""

    model: dict[str, Any]
    association: list[AssociationResult] = field(default_factory=list)
    explained_variance: list[float] = field(default_factory=list)
    projections: dict[str, float] = field(default_factory=dict)
    exposure: ExposureResult | None = None
    quality: dict[str, Estimate] = field(default_factory=dict)

    @property
    def mean_abs_projection(self) -> float | None:
        """Mean absolute projection of the audited words on the bias direction (``None``: no words projected)."""
        return float(np.mean(np.abs(list(self.projections.values())))) if self.projections else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "model": self.model,
            "association": [result.to_dict() for result in self.association],
            "explained_variance": self.explained_variance,
            "mean_abs_projection": self.mean_abs_projection,
            "projections": self.projections,
            "exposure": self.exposure.to_dict() if self.exposure else None,
            "quality": {name: estimate.to_dict() for name, estimate in self.quality.items()},
        }


class AuditInputs(TypedDict):
    """What :func:`audit_model` audits, as :func:`load_audit_inputs` reads it from files."""

    tests: list[AssociationTest]
    pairs: list[tuple[str, str]] | None
    words: list[str] | None
    exposure: tuple[list[str], dict[str, str], dict[str, str]] | None
    benchmark: RetrievalBenchmark | None
    sts: PairSet | None


def load_audit_inputs(
    *,
    sets: str | Path | None = None,
    tests: Sequence[str] | None = None,
    pairs: str | Path | None = None,
    words: str | Path | None = None,
    benchmark: str | Path | None = None,
    sts: str | Path | None = None,
    exposure_docs: str | Path | None = None,
    exposure_queries: str | Path | None = None,
) -> AuditInputs:
    """Read what to audit from files (the options of ``embedlab bias``), refusing an empty audit before reading.

    Args:
        sets: a folder of association tests (sent-bias JSON).
        tests: the names of the tests in ``sets`` to run (default: all).
        pairs: definitional pairs, a JSON list of [word, word] (:func:`~embedlab.bias.load_pairs_file`).
        words: words to project on the bias direction (:func:`~embedlab.bias.load_words_file`).
        benchmark: a BEIR folder; NDCG@10 on its test split.
        sts: scored pairs; STS Spearman.
        exposure_docs: records with id, text and group, for the retrieval exposure of each group.
        exposure_queries: the queries for retrieval exposure, a line each.

    Raises:
        InputError: nothing to audit, words without pairs, exposure documents without queries (or queries
            without documents), or a file that does not read.
    """
    if not any((sets, pairs, words, benchmark, sts, exposure_docs)):
        raise InputError("Nothing to audit: give --sets (association tests) and/or --pairs with --words.")
    if words and not pairs:
        raise InputError("--words are projected on the bias direction: give --pairs to learn it.")
    if (exposure_docs is None) != (exposure_queries is None):
        raise InputError("Retrieval exposure needs both --exposure-docs and --exposure-queries.")
    exposure = None
    if exposure_docs and exposure_queries:
        exposure = (read_texts(exposure_queries).texts, *load_exposure_documents(exposure_docs))
    return {
        "exposure": exposure,
        "tests": load_association_tests(sets, tests) if sets else [],
        "pairs": load_pairs_file(pairs) if pairs else None,
        "words": load_words_file(words) if words else None,
        "benchmark": load_beir(benchmark, split="test") if benchmark else None,
        "sts": load_pairs(sts) if sts else None,
    }


def audit_model(
    model: EmbeddingModel,
    *,
    tests: Sequence[AssociationTest] = (),
    pairs: Sequence[tuple[str, str]] | None = None,
    subspace: BiasSubspace | None = None,
    words: Sequence[str] | None = None,
    exposure: tuple[Sequence[str], dict[str, str], dict[str, str]] | None = None,
    benchmark: RetrievalBenchmark | None = None,
    sts: PairSet | None = None,
) -> BiasAudit:
    """Audit one model.

    Args:
        model: the model to audit.
        tests: association tests (WEAT/SEAT) to run.
        pairs: definitional pairs for the bias direction (ignored when ``subspace`` is given).
        subspace: a fixed direction to project on (pass the one learnt on the original model to compare
            a debiased model on the same axis).
        words: texts to place on the direction (e.g. professions).
        exposure: ``(queries, corpus {id: text}, groups {id: group})`` for retrieval exposure at k=10.
        benchmark: a retrieval benchmark for NDCG@10 (the quality cost of a mitigation).
        sts: scored pairs for STS Spearman.

    Raises:
        InputError: nothing to audit, an empty list of pairs or words (it would read as "no bias"), or
            words without pairs or a subspace to project them on.
    """
    if pairs is not None and not pairs:
        raise InputError("The list of definitional pairs is empty: a bias direction needs at least two pairs.")
    if words is not None and not words:
        raise InputError("The list of words to project is empty: give at least one word.")
    if words and subspace is None and not pairs:
        raise InputError("Words are projected on a bias direction: give the definitional pairs (or a subspace).")
    if not (tests or pairs or subspace is not None or exposure or benchmark or sts):
        raise InputError("Nothing to audit: give association tests, definitional pairs, exposure data or quality data.")
    encoder = Encoder(model, show_progress=False)
    audit = BiasAudit(model=model.info.to_dict())
    audit.association = [weat(encoder, test) for test in tests]
    if subspace is None and pairs:
        subspace = bias_direction(encoder, pairs)
    if subspace is not None:
        audit.explained_variance = [float(v) for v in subspace.explained_variance_ratio]
        if words:
            audit.projections = dict(zip(words, (float(v) for v in project(encoder, subspace, words)), strict=True))
    if exposure is not None:
        queries, corpus, groups = exposure
        audit.exposure = retrieval_exposure(ExactSearch(encoder, corpus), queries, groups, k=10)
    if benchmark is not None:
        audit.quality["ndcg@10"] = evaluate(ExactSearch(encoder, benchmark.corpus), benchmark).ci["ndcg@10"]
    if sts is not None:
        audit.quality["sts_spearman"] = sts_correlation(encoder, sts)["spearman"]
    return audit


def write_audit(out: str | Path, before: BiasAudit, after: BiasAudit | None = None) -> dict[str, Path]:
    """Write ``audit.json`` and ``audit.html`` (before and, if given, after side by side) into ``out``.

    Raises:
        InputError: ``out`` (or a folder above it) is a file, or one of the two names is a folder.
    """
    data = {"embedlab_version": __version__, "before": before.to_dict(), "after": after.to_dict() if after else None}
    results, page = writable_files(out, "audit.json", "audit.html")
    results.write_text(json.dumps(data, indent=1), encoding="utf-8")
    page.write_text(render_audit(before, after), encoding="utf-8")
    return {"json": results, "html": page}


def render_audit(before: BiasAudit, after: BiasAudit | None = None) -> str:
    """The audit as one HTML page with embedded charts."""
    audits = [("before", before)] + ([("after", after)] if after else [])
    head = "".join(f"<th>{label}</th>" for label, _ in audits)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>embedlab bias audit</title><style>"
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2rem auto;color:#222}"
        "table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.3rem .6rem;text-align:right}"
        "th{background:#f4f4f4}td.l,th.l{text-align:left}.small{font-size:.85em;color:#555}</style></head><body>",
        f"<h1>Bias audit: {html.escape(str(before.model.get('name')))}</h1>",
        "<p class='small'>fingerprints: "
        + " → ".join(html.escape(str(a.model.get("fingerprint"))[:16]) for _, a in audits)
        + f"; embedlab {__version__}</p>",
    ]
    if before.association:
        rows = "".join(
            f"<tr><td class='l'>{html.escape(r.test)}</td><td class='l'>{html.escape(' vs '.join(r.targets))} × "
            f"{html.escape(' vs '.join(r.attributes))}</td>"
            + "".join(
                f"<td>{a.association[i].effect_size:+.3f} (p={a.association[i].p_value:.4f})</td>" for _, a in audits
            )
            + "</tr>"
            for i, r in enumerate(before.association)
        )
        parts.append(
            f"<h2>Association tests (effect size d, one-sided p)</h2><table><tr><th class='l'>test</th>"
            f"<th class='l'>targets × attributes</th>{head}</tr>{rows}</table>"
            f"<img alt='effect sizes' src='{_effect_chart(audits)}'>"
        )
    if before.projections:
        parts.append(
            "<h2>Projection on the bias direction</h2><p>Mean |projection|: "
            + " → ".join(f"{a.mean_abs_projection:.4f}" for _, a in audits)
            + f" (first component explains {before.explained_variance[0]:.0%} of the pairs' variance).</p>"
            f"<img alt='projections' src='{_projection_chart(audits)}'>"
        )
    if before.exposure:
        rows = "".join(
            f"<tr><td class='l'>{html.escape(g)}</td><td>{before.exposure.expected.get(g, 0):.3f}</td>"
            + "".join(f"<td>{a.exposure.exposure.get(g, 0):.3f}</td>" for _, a in audits if a.exposure)
            + "</tr>"
            for g in before.exposure.exposure
        )
        gaps = " → ".join(f"{a.exposure.gap:.3f}" for _, a in audits if a.exposure)
        parts.append(
            f"<h2>Retrieval exposure (top {before.exposure.k}, {before.exposure.queries} queries)</h2><table><tr>"
            f"<th class='l'>group</th><th>corpus share</th>{head}</tr>{rows}</table><p>gap: {gaps}</p>"
        )
    if before.quality:
        rows = "".join(
            f"<tr><td class='l'>{html.escape(name)}</td>"
            + "".join(f"<td>{a.quality[name]}</td>" for _, a in audits if name in a.quality)
            + "</tr>"
            for name in before.quality
        )
        parts.append(f"<h2>Quality (95% CI)</h2><table><tr><th class='l'>metric</th>{head}</tr>{rows}</table>")
    parts.append(f"<h2>Limitations</h2><p>{html.escape(LIMITATIONS)}</p></body></html>")
    return "\n".join(parts)


def _effect_chart(audits: list[tuple[str, BiasAudit]]) -> str:
    plt = pyplot()
    names = [r.test for r in audits[0][1].association]
    figure, axis = plt.subplots(figsize=(10, 0.4 * len(names) + 1.5))
    height = 0.8 / len(audits)
    for offset, (label, audit) in enumerate(audits):
        positions = np.arange(len(names)) + offset * height
        axis.barh(positions, [r.effect_size for r in audit.association], height, label=label)
    axis.set_yticks(np.arange(len(names)) + height * (len(audits) - 1) / 2, names)
    axis.invert_yaxis()  # same order as the table
    axis.axvline(0, color="black", linewidth=0.8)
    axis.set_xlabel("effect size d")
    axis.legend()
    return data_uri(figure)


def _projection_chart(audits: list[tuple[str, BiasAudit]], count: int = 12) -> str:
    plt = pyplot()
    base = audits[0][1].projections
    ranked = sorted(base, key=lambda w: base[w])
    shown = ranked if len(ranked) <= 2 * count else ranked[:count] + ranked[-count:]
    figure, axis = plt.subplots(figsize=(10, 0.28 * len(shown) + 1.5))
    height = 0.8 / len(audits)
    for offset, (label, audit) in enumerate(audits):
        positions = np.arange(len(shown)) + offset * height
        axis.barh(positions, [audit.projections.get(w, 0.0) for w in shown], height, label=label)
    axis.set_yticks(np.arange(len(shown)) + height * (len(audits) - 1) / 2, shown, fontsize=8)
    axis.invert_yaxis()
    axis.axvline(0, color="black", linewidth=0.8)
    axis.set_xlabel("cosine with the bias direction (positive: towards the pairs' first words)")
    axis.legend()
    return data_uri(figure)
