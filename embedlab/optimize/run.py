"""``optimize``: build every variant of a model, measure speed and quality on the user's data, keep the best.

For each variant kind (:data:`embedlab.optimize.variants.KINDS`): build it into a work folder (OpenVINO
int8 calibrated on a seeded sample of the benchmark's corpus), load it back through
:func:`embedlab.load_model` (the same path every user of it takes), measure its parity with the source on
a held sample (other documents than the calibration's), its speed on this machine by token-length bucket,
and its NDCG@10 on the benchmark with a 95% interval and a paired test against the source. The fastest
variant (documents per second) whose relative NDCG@10 loss stays within ``max_loss`` is registered with
its lineage (:func:`embedlab.registry.save_folder`); when none beats the source, nothing is saved.

Example:
    >>> report = optimize(None, load_beir("esco_jobtitles", split="dev"), work_dir="work")  # doctest: +SKIP
    >>> report.chosen, report.saved  # needs the shared ESCO data and the extras; minutes  # doctest: +SKIP
    ('onnx-int8', PosixPath('~/.local/share/embedlab/models/minilm-fast'))
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embedlab.encode import Encoder
from embedlab.errors import EmbedlabError, InputError
from embedlab.evaluate import ExactSearch, evaluate
from embedlab.evaluate.stats import paired_test
from embedlab.models import EmbeddingModel, load_model
from embedlab.optimize.cpu import cpu_isa
from embedlab.optimize.measure import measure_speed, sample, token_buckets
from embedlab.optimize.parity import ParityRecord, measure_parity
from embedlab.optimize.variants import KINDS, Kind, VariantInfo, build_variant, variant_lineage
from embedlab.registry import ModelRegistry, save_folder, write_lineage

if TYPE_CHECKING:
    from embedlab.adapt.data import TrainingSet
    from embedlab.evaluate import RetrievalBenchmark, RetrievalResult

METRIC = "ndcg@10"
log = logging.getLogger(__name__)


@dataclass
class Candidate:
    """One variant's figures: build time, parity, speed, quality against the source, or why it was skipped."""

    kind: str
    backend: str = ""
    build_seconds: float = 0.0
    parity: dict[str, Any] = field(default_factory=dict)
    speed: dict[str, Any] = field(default_factory=dict)
    quality: dict[str, Any] = field(default_factory=dict)  # ndcg@10 estimate, relative loss, paired test
    fingerprint: str = ""
    path: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        """Built and measured."""
        return not self.error

    def ratio(self, source: Candidate, key: str) -> float:
        """Documents per second (``docs_per_s``) or query latency speed-up (``query_p50_ms``) against the source."""
        if key == "query_p50_ms":
            return float(source.speed[key]) / max(float(self.speed[key]), 1e-9)
        return float(self.speed[key]) / max(float(source.speed[key]), 1e-9)


@dataclass
class OptimizeReport:
    """Every candidate, the loss budget, which variant was chosen and where it was saved."""

    model: dict[str, Any]
    benchmark: dict[str, Any]
    max_loss: float
    cpu: str | None
    candidates: list[Candidate]
    chosen: str = "torch"
    saved: str = ""
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%d %H:%M:%S"))

    @property
    def source(self) -> Candidate:
        """The torch fp32 source model's row (the baseline of every ratio)."""
        return next(c for c in self.candidates if c.kind == "torch")

    def within_budget(self) -> list[Candidate]:
        """Measured candidates whose relative NDCG@10 loss is at most ``max_loss``."""
        return [c for c in self.candidates if c.ok and c.quality.get("relative_loss", 1.0) <= self.max_loss]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {**asdict(self), "candidates": [asdict(c) for c in self.candidates]}

    def save(self, out: str | Path) -> Path:
        """Write ``results.json`` and ``report.html`` into ``out``; return the HTML path.

        Raises:
            InputError: ``out`` (or a folder above it) is a file, or one of the two names is a folder.
        """
        from embedlab.io import writable_files
        from embedlab.optimize.report import write_html

        results, page = writable_files(out, "results.json", "report.html")
        results.write_text(json.dumps(self.to_dict(), indent=1), encoding="utf-8")
        return write_html(self, page)


def optimize(
    model: EmbeddingModel | str | Path | None,
    benchmark: RetrievalBenchmark,
    *,
    work_dir: str | Path,
    kinds: Sequence[Kind] = KINDS,
    max_loss: float = 0.01,
    name: str | None = None,
    train: TrainingSet | None = None,
    registry: ModelRegistry | None = None,
    speed_docs: int = 256,
    speed_queries: int = 50,
    parity_docs: int = 1000,
    parity_queries: int = 100,
    seed: int = 0,
    progress: Callable[[str], None] = log.info,
) -> OptimizeReport:
    """Build, measure and compare the variants of ``model`` on ``benchmark``; register the best under ``name``.

    Args:
        model: the source (``None``: the bundled model); a torch model in a folder.
        benchmark: the split to measure quality on (queries, corpus, qrels).
        work_dir: where the variants are built (one folder each) and kept for inspection.
        kinds: the variants to try; ``"torch"`` (the source, the baseline) is always measured.
        max_loss: largest relative NDCG@10 loss allowed for the chosen variant (0.01 = 1%).
        name: register the chosen variant under this name (``None``: do not register).
        train: pairs to fine-tune the static variant on (MNRL); ``None``: distillation only.
        registry: where to register (default: :class:`ModelRegistry`).
        speed_docs: how many corpus documents the speed is measured on.
        speed_queries: how many queries the latency is measured on.
        parity_docs: documents of the held parity sample (never calibration texts).
        parity_queries: queries of the held parity sample.
        seed: for every sample (calibration, speed, parity).
        progress: called with a line of text as each step starts.

    Raises:
        InputError: a bad budget, an existing work folder, a source that is not a torch model.
    """
    if not 0 <= max_loss < 1:
        raise InputError(f"max_loss is a relative NDCG@10 loss in [0, 1), got {max_loss}.")
    work = Path(work_dir)
    if work.exists() and any(work.iterdir()):
        raise InputError(f"{work} is not empty; give a new work folder for the variants.")
    source = model if isinstance(model, EmbeddingModel) else load_model(model)
    if source.info.backend != "torch":
        raise InputError(f"{source.info.name} is already a {source.info.backend} variant: optimize its source model.")
    doc_ids = benchmark.doc_ids
    order = sample(doc_ids, len(doc_ids), seed)
    calibration = [benchmark.corpus[doc_ids[i]] for i in order[:300]]
    held = [benchmark.corpus[doc_ids[i]] for i in order[300 : 300 + parity_docs]] or calibration[:parity_docs]
    queries = list(benchmark.queries.values())
    speed_doc_texts = [benchmark.corpus[doc_ids[i]] for i in order[:speed_docs]]
    speed_query_texts = [queries[i] for i in sample(queries, speed_queries, seed)]
    buckets = (
        token_buckets(source.st.tokenizer, speed_doc_texts),
        token_buckets(source.st.tokenizer, speed_query_texts),
    )
    parity_query_texts = [queries[i] for i in sample(queries, parity_queries, seed + 1)]
    corpus_texts = list(benchmark.corpus.values())

    def measure(candidate: Candidate, variant: EmbeddingModel, baseline: RetrievalResult | None) -> RetrievalResult:
        progress(f"{candidate.kind}: speed")
        candidate.speed = measure_speed(variant, speed_doc_texts, speed_query_texts, doc_buckets=buckets[0],
                                        query_buckets=buckets[1]).to_dict()  # fmt: skip
        progress(f"{candidate.kind}: quality")
        result = evaluate(ExactSearch(Encoder(variant, show_progress=False), benchmark.corpus), benchmark)
        reference = baseline or result
        candidate.quality = quality(reference, result)
        return result

    source_row = Candidate("torch", backend="torch", fingerprint=source.fingerprint, path=source.info.path)
    source_row.parity = {"passed": True, "cosine_mean": 1.0, "top10_cross": 1.0, "top10_own": 1.0}
    baseline = measure(source_row, source, None)
    report = OptimizeReport(source.info.to_dict(), _describe(benchmark), max_loss, cpu_isa(), [source_row])
    infos: dict[str, VariantInfo] = {}
    for kind in kinds:
        if kind == "torch":
            continue
        candidate = Candidate(kind)
        report.candidates.append(candidate)
        folder = work / kind
        try:
            progress(f"{kind}: building")
            started = time.perf_counter()
            info = build_variant(source, kind, folder, calibration=corpus_texts if kind == "static" else calibration,
                                 train=train if kind == "static" else None)  # fmt: skip
            candidate.build_seconds = round(time.perf_counter() - started, 1)
            variant = load_model(folder)
            candidate.backend, candidate.fingerprint, candidate.path = info.backend, variant.fingerprint, str(folder)
            progress(f"{kind}: parity")
            candidate.parity = record_parity(folder, info, source, variant, parity_query_texts, held).to_dict()
            infos[kind] = info
            measure(candidate, variant, baseline)
        except EmbedlabError as error:  # a missing extra, an unsupported model: the others still run
            candidate.error = str(error)
            shutil.rmtree(folder, ignore_errors=True)
            progress(f"{kind}: skipped ({error})")
    _choose(report)
    if name is not None and report.chosen != "torch":
        chosen = next(c for c in report.candidates if c.kind == report.chosen)
        report.saved = str(register(chosen, infos[chosen.kind], report, name, registry or ModelRegistry()))
    return report


def record_parity(
    folder: Path,
    info: VariantInfo,
    source: EmbeddingModel,
    variant: EmbeddingModel,
    queries: Sequence[str],
    documents: Sequence[str],
) -> ParityRecord:
    """Measure the parity of the variant in ``folder`` with its source on held texts; store it in its lineage."""
    record = measure_parity(_encode_fn(source), _encode_fn(variant), queries, documents)
    info.parity = record.to_dict()
    write_lineage(folder, variant_lineage(info, variant.fingerprint, metrics={"parity": info.parity}))
    return record


def quality(reference: RetrievalResult, result: RetrievalResult) -> dict[str, Any]:
    """NDCG@10 with its interval, relative loss against ``reference`` and the paired test (``reference`` = A)."""
    base = reference.mean[METRIC]
    value = result.mean[METRIC]
    test = paired_test(reference.values(METRIC), result.values(METRIC))
    return {
        METRIC: result.ci[METRIC].to_dict(),
        "relative_loss": round(max(0.0, (base - value) / base) if base else 0.0, 6),
        "ratio": value / base if base else 1.0,
        "test": test.to_dict(),
    }


def register(chosen: Candidate, info: VariantInfo, report: OptimizeReport, name: str, registry: ModelRegistry) -> Path:
    """Copy the chosen variant into the registry under ``name`` with its lineage (source, settings, figures)."""
    lineage = variant_lineage(
        info,
        chosen.fingerprint,
        data={"benchmark": report.benchmark, "max_loss": report.max_loss},
        metrics={
            "quality": chosen.quality,
            "speed": chosen.speed,
            "parity": chosen.parity,
            "source": {"quality": report.source.quality, "speed": report.source.speed},
        },
        seconds=chosen.build_seconds,
    )
    return save_folder(chosen.path, registry.path(name), lineage)


def _choose(report: OptimizeReport) -> None:
    """The fastest candidate (documents per second) within the loss budget; the source when nothing beats it."""
    eligible = report.within_budget()
    report.chosen = max(eligible, key=lambda c: float(c.speed["docs_per_s"])).kind if eligible else "torch"


def _encode_fn(model: EmbeddingModel) -> Callable[[list[str]], Any]:
    encoder = Encoder(model, show_progress=False)
    return lambda texts: encoder.encode(texts)


def _describe(benchmark: RetrievalBenchmark) -> dict[str, Any]:
    return {"name": benchmark.name, "queries": len(benchmark.queries), "documents": len(benchmark.corpus)}
