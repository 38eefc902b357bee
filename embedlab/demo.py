"""The end-to-end demo: embed the Python standard library's docstrings offline and show what it gives.

The corpus is on every machine with Python: the docstrings of the public functions, classes and methods
of a fixed list of standard-library modules. The demo loads the verified bundled model, measures token
lengths against the model's limit, encodes with chunking (cold cache, then warm), checks the vectors,
answers natural-language questions with the best-matching functions, lists near-duplicate docstrings,
builds a LanceDB index and evaluates vector, BM25 and hybrid search on a benchmark made from the
docstrings (first line as the query, the rest as its document) with confidence intervals, builds an ONNX
dynamic int8 variant of the model and measures it against torch fp32 (speed, NDCG@10, parity), adapts the
model to job titles (the guidance's example: ESCO occupations and their alternative labels, a sample
shipped in the package; ``adapt_auto`` on 70% of the labels) and evaluates base vs adapted vs BM25 on the
other 30% with a paired test, and saves the vectors, JSON reports, HTML reports, the adapted model with its
lineage, and a picture (a 2-D map of the corpus and the token-length histogram).

Example:
    $ embedlab demo --out demo-output
"""

from __future__ import annotations

import importlib
import inspect
import json
import random
import shutil
import time
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import numpy as np
from rich.console import Console
from rich.table import Table

from embedlab.check import check_embeddings
from embedlab.encode import EmbeddingCache, Encoder
from embedlab.encode.text import token_counts
from embedlab.errors import EmbedlabError
from embedlab.evaluate import RetrievalBenchmark
from embedlab.evaluate.suite import SystemResult, build_report
from embedlab.index import Index, Mode
from embedlab.io import write_embeddings
from embedlab.models import load_model
from embedlab.plots import pyplot

DEMO_MODULES = (
    "argparse", "asyncio", "base64", "bisect", "calendar", "collections", "contextlib", "copy", "csv",
    "dataclasses", "datetime", "decimal", "difflib", "email.message", "enum", "fnmatch", "fractions",
    "functools", "glob", "gzip", "hashlib", "heapq", "hmac", "html", "http.client", "inspect", "io",
    "itertools", "json", "logging", "math", "operator", "os", "pathlib", "pickle", "queue", "random", "re",
    "secrets", "shutil", "smtplib", "socket", "sqlite3", "statistics", "string", "subprocess", "tarfile",
    "tempfile", "textwrap", "threading", "time", "typing", "unittest", "urllib.parse", "urllib.request",
    "uuid", "xml.etree.ElementTree", "zipfile", "zlib",
)  # fmt: skip

DEMO_QUERIES = (
    "parse a JSON string into a Python object",
    "compress bytes with gzip",
    "run a shell command and capture its output",
    "generate a secure random token for a password reset link",
    "compute the median of a list of numbers",
    "copy a whole directory tree",
    "find the differences between two lists of lines",
    "wait until a thread has finished",
)

_MIN_DOC_CHARS = 40


@dataclass(frozen=True)
class Docstring:
    """One corpus entry: the qualified name, its module and its cleaned docstring."""

    id: str
    module: str
    text: str

    @property
    def summary(self) -> str:
        """The docstring's first line."""
        return self.text.splitlines()[0]


def stdlib_docstrings(modules: tuple[str, ...] = DEMO_MODULES) -> list[Docstring]:
    """Docstrings of the public objects defined in ``modules`` (and their classes' methods), sorted by id."""
    found: dict[str, Docstring] = {}
    for name in modules:
        module = importlib.import_module(name)
        with warnings.catch_warnings():  # typing's deprecated pseudo-modules warn when touched
            warnings.simplefilter("ignore", DeprecationWarning)
            _collect(found, name, module)
    return sorted(found.values(), key=lambda doc: doc.id)


def _collect(found: dict[str, Docstring], name: str, module: Any) -> None:
    for attribute, value in vars(module).items():
        if attribute.startswith("_") or getattr(value, "__module__", None) != module.__name__:
            continue
        _add(found, f"{name}.{attribute}", name, value)
        if inspect.isclass(value):
            for method, member in vars(value).items():
                if not method.startswith("_") and callable(member):
                    _add(found, f"{name}.{attribute}.{method}", name, member)


def _add(found: dict[str, Docstring], qualified: str, module: str, value: Any) -> None:
    raw = getattr(value, "__doc__", None)
    if isinstance(raw, str) and len(raw.strip()) >= _MIN_DOC_CHARS:
        found[qualified] = Docstring(id=qualified, module=module, text=inspect.cleandoc(raw))


def run_demo(
    out: Path,
    *,
    limit: int | None = None,
    adapt: bool = True,
    occupations: int | None = None,
    optimize: bool = True,
    console: Console | None = None,
) -> dict[str, Any]:
    """Run the demo, write its files into ``out`` and return the figures it printed.

    ``adapt``: also fine-tune the model on job titles (:mod:`embedlab.demo_jobs`, the ESCO sample shipped
    in the package: ``occupations`` of its 800, by default
    :data:`~embedlab.demo_jobs.DEMO_OCCUPATIONS`) and evaluate base vs adapted vs BM25 on held-out
    titles (the longest step: a few minutes on two CPU cores).

    ``optimize``: also build an ONNX dynamic int8 variant of the model and measure it against torch fp32 on
    a sample of the docstring benchmark (:mod:`embedlab.demo_optimize`; under a minute).
    """
    console = console or Console()
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {}

    console.rule("[bold]1. the model")
    model = load_model()
    info = model.info
    console.print(
        f"{info.name}: {info.dimension} dimensions, max {info.max_seq_length} tokens, "
        f"weights sha256 verified ({info.weights_sha256}), fingerprint {info.short_fingerprint}"
    )
    report["model"] = info.to_dict()

    console.rule("[bold]2. the corpus: standard-library docstrings")
    docs = stdlib_docstrings()[:limit]
    lengths = np.array(token_counts(model.st.tokenizer, [f"{d.id}: {d.text}" for d in docs]))
    over = int((lengths > info.max_seq_length).sum())
    console.print(
        f"{len(docs)} docstrings from {len({d.module for d in docs})} modules; tokens p50 "
        f"{int(np.median(lengths))}, p95 {int(np.percentile(lengths, 95))}, max {int(lengths.max())}; "
        f"{over} ({over / len(docs):.0%}) exceed the model's {info.max_seq_length}: they get chunked"
    )
    report["corpus"] = {"documents": len(docs), "over_limit": over, "token_p50": float(np.median(lengths))}

    console.rule("[bold]3. encoding with chunking and the cache")
    cache_path = out / "cache.sqlite3"
    for stale in out.glob("cache.sqlite3*"):
        stale.unlink()
    encoder = Encoder(model, cache=EmbeddingCache(cache_path), show_progress=True)
    texts, titles = [d.text for d in docs], [d.id for d in docs]
    started = time.perf_counter()
    embedded = encoder.encode_documents(texts, titles=titles)
    cold = time.perf_counter() - started
    started = time.perf_counter()
    again = encoder.encode_documents(texts, titles=titles)
    warm = time.perf_counter() - started
    if not np.array_equal(embedded.vectors, again.vectors):
        raise EmbedlabError("The cache returned vectors that differ from the ones it stored.")
    vectors = embedded.vectors
    console.print(
        f"{len(docs)} documents -> {len(embedded.chunks)} chunks; cold {cold:.1f}s "
        f"({len(embedded.chunks) / cold:.0f} chunks/s), warm {warm:.2f}s: cache speed-up {cold / warm:.0f}x, "
        "identical vectors"
    )
    report["encoding"] = {"chunks": len(embedded.chunks), "cold_s": cold, "warm_s": warm, "speedup": cold / warm}

    console.rule("[bold]4. quality check")
    quality = check_embeddings(vectors, texts=texts, expect_normalized=True)
    console.print(
        f"ok={quality.ok}: norms {quality.norm_min:.4f}..{quality.norm_max:.4f}, mean cosine of random pairs "
        f"{quality.mean_cosine:.3f}, duplicate vectors {quality.duplicate_rows}, dead dimensions "
        f"{quality.dead_dimensions}"
    )
    for finding in quality.findings:
        console.print(f"  {finding.level} {finding.code}: {finding.message}")
    report["quality"] = quality.to_dict()

    console.rule("[bold]5. questions in plain English -> functions")
    query_vectors = encoder.encode(list(DEMO_QUERIES))
    scores = query_vectors @ vectors.T
    table = Table("question", "best matches (cosine)")
    report["search"] = {}
    for row, query in enumerate(DEMO_QUERIES):
        top = np.argsort(-scores[row])[:3]
        table.add_row(query, "\n".join(f"{scores[row, i]:.3f} {docs[i].id}: {docs[i].summary[:70]}" for i in top))
        report["search"][query] = [{"id": docs[i].id, "score": float(scores[row, i])} for i in top]
    console.print(table)

    console.rule("[bold]6. near-duplicate docstrings")
    pairs = _most_similar_pairs(vectors, 8)
    for i, j, score in pairs:
        console.print(f"{score:.3f}  {docs[i].id}  ~  {docs[j].id}")
    report["near_duplicates"] = [{"a": docs[i].id, "b": docs[j].id, "cosine": s} for i, j, s in pairs]

    console.rule("[bold]7. evaluation: vector vs BM25 vs hybrid, with 95% intervals")
    report["evaluation"] = _evaluate(out, docs, encoder, console)

    if optimize:
        from embedlab.demo_optimize import optimize_step

        console.rule("[bold]8. make it faster: an ONNX int8 variant against torch fp32, speed and quality")
        report["optimize"] = optimize_step(out, model, docs, console)

    if adapt:
        from embedlab.demo_jobs import DEMO_OCCUPATIONS, adapt_job_titles

        console.rule("[bold]9. adapt the model to a domain: job titles, then prove it on held-out titles")
        report["adaptation"] = adapt_job_titles(out, model, console, occupations=occupations or DEMO_OCCUPATIONS)

    console.rule("[bold]10. files")
    write_embeddings(out / "embeddings.parquet", [d.id for d in docs], vectors, info=info)
    with open(out / "corpus.jsonl", "w", encoding="utf-8") as handle:
        for doc in docs:
            handle.write(json.dumps({"id": doc.id, "module": doc.module, "text": doc.text}) + "\n")
    picture = _plot(out / "demo.png", vectors, docs, lengths, info.max_seq_length)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    for name in (
        "embeddings.parquet",
        "corpus.jsonl",
        "report.json",
        picture.name,
        "eval/report.html",
        "optimize/report.html",
        "adapt/report.html",
    ):
        if (out / name).exists():
            console.print(f"  {out / name}")
    return report


def docstring_benchmark(docs: list[Docstring], *, size: int | None = None, seed: int = 0) -> RetrievalBenchmark:
    """A retrieval benchmark from docstrings: the summary line is the query, the rest its only relevant document.

    ``size``: keep a seeded random sample of that many query/document pairs (in id order); ``None``: all.
    """
    usable = [doc for doc in docs if "\n\n" in doc.text and doc.text.split("\n\n", 1)[1].strip()]
    if size is not None and size < len(usable):
        usable = sorted(random.Random(seed).sample(usable, size), key=lambda doc: doc.id)
    return RetrievalBenchmark(
        corpus={doc.id: doc.text.split("\n\n", 1)[1].strip() for doc in usable},
        queries={f"q:{doc.id}": doc.summary for doc in usable},
        qrels={f"q:{doc.id}": {doc.id: 1} for doc in usable},
        name="stdlib docstrings (summary -> body)",
    )


def _evaluate(out: Path, docs: list[Docstring], encoder: Encoder, console: Console) -> dict[str, Any]:
    """Score vector, BM25 and hybrid search on the docstring benchmark; write the HTML report."""
    bench = docstring_benchmark(docs)
    folder = out / "index"
    shutil.rmtree(folder, ignore_errors=True)
    index = Index.create(folder, encoder)
    index.add({"id": doc_id, "text": text} for doc_id, text in bench.corpus.items())
    from embedlab.evaluate.evaluators import RetrievalEvaluator

    evaluator = RetrievalEvaluator(bench)
    results = {mode: evaluator.search(index.search_fn(mode)) for mode in get_args(Mode)}
    table = Table("search", "NDCG@10 (95% CI)", "MRR@10", "ms/query")
    for mode, result in results.items():
        table.add_row(
            mode, str(result.ci["ndcg@10"]), f"{result.mean['mrr@10']:.4f}", f"{result.speed['ms_per_query']:.1f}"
        )
    console.print(
        f"{len(bench.queries)} queries (a docstring's first line) against {len(bench.corpus)} docstring bodies"
    )
    console.print(table)
    systems = [SystemResult(mode, "index", results={evaluator.name: r}) for mode, r in results.items()]
    evaluation = build_report(systems, [evaluator])  # vector is the baseline the others are tested against
    evaluation.save(out / "eval")
    test = next(c.test for c in evaluation.comparisons if c.system == "hybrid" and c.metric == "ndcg@10")
    console.print(f"hybrid vs vector NDCG@10: {test.difference} p={test.p_value:.4f}: {test.verdict}")
    return {mode: result.ci["ndcg@10"].to_dict() for mode, result in results.items()} | {
        "hybrid_vs_vector": test.to_dict()
    }


def _most_similar_pairs(vectors: np.ndarray, count: int, block: int = 1024) -> list[tuple[int, int, float]]:
    """The ``count`` most similar pairs of distinct rows, computed block by block (no n x n matrix)."""
    best: list[tuple[float, int, int]] = []
    for start in range(0, len(vectors), block):
        scores = vectors[start : start + block] @ vectors.T
        for offset in range(len(scores)):
            scores[offset, : start + offset + 1] = -np.inf  # each pair once, no self-pairs
        flat = np.argpartition(-scores, min(count, scores.size - 1), axis=None)[:count]
        for index in flat:
            i, j = divmod(int(index), len(vectors))
            best.append((float(scores[i, j]), start + i, j))
    best.sort(reverse=True)
    return [(i, j, round(score, 4)) for score, i, j in best[:count]]


def _plot(path: Path, vectors: np.ndarray, docs: list[Docstring], lengths: np.ndarray, limit: int) -> Path:
    plt = pyplot()
    centred = vectors - vectors.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    points = centred @ components[:2].T
    modules = [d.module.split(".")[0] for d in docs]
    top = [name for name, _ in Counter(modules).most_common(10)]
    figure, (left, right) = plt.subplots(1, 2, figsize=(15, 6.5), gridspec_kw={"width_ratios": [1.4, 1]})
    rest = np.array([m not in top for m in modules])
    left.scatter(points[rest, 0], points[rest, 1], s=4, c="lightgrey", label="other modules")
    for name in top:
        mask = np.array([m == name for m in modules])
        left.scatter(points[mask, 0], points[mask, 1], s=6, label=name)
    left.set_title(f"{len(docs)} standard-library docstrings, first two principal components")
    left.legend(markerscale=3, fontsize=8, loc="best")
    right.hist(lengths, bins=60, color="steelblue")
    right.axvline(limit, color="crimson", linestyle="--", label=f"model limit: {limit} tokens")
    right.set_xlabel("tokens per docstring (title included)")
    right.set_ylabel("docstrings")
    right.set_title("beyond the red line a model truncates silently; embedlab chunks")
    right.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
