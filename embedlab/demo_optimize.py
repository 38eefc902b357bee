"""The demo's optimize step: an ONNX dynamic int8 variant of the model, measured against torch fp32 in one run.

On a small seeded sample of the docstring benchmark (:func:`embedlab.demo.docstring_benchmark`), the step
calls :func:`embedlab.optimize.optimize` (what ``embedlab optimize MODEL --benchmark DIR --variant
onnx-int8`` runs) with small sample sizes, so it takes well under a minute on two cores: the variant is
built for this CPU's instruction set, its parity with the source is measured (mean cosine, top-10
agreement), and both models are timed (documents at batch 32, queries at batch 1) and scored (NDCG@10 with
its 95% interval and the paired test). The step prints the table and what the CPU allows: int8 matrix
products need VNNI to be much faster than fp32. Without the ``onnx`` extra the step says which to install.

Example:
    >>> optimize_step(Path("demo-output"), load_model(), stdlib_docstrings(), Console())["cpu"]  # doctest: +SKIP
    'avx2'
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from embedlab.models import EmbeddingModel

if TYPE_CHECKING:
    from embedlab.demo import Docstring

#: Sample sizes that keep the step under ~45 s on two cores (query/document pairs, speed and parity texts).
DEMO_OPTIMIZE = {"pairs": 200, "speed_docs": 64, "speed_queries": 30, "parity_docs": 100, "parity_queries": 50}


def optimize_step(out: Path, model: EmbeddingModel, docs: list[Docstring], console: Console) -> dict[str, Any]:
    """Build and measure the ONNX int8 variant of ``model`` on a docstring sample; report in ``out/optimize``."""
    from embedlab.demo import docstring_benchmark
    from embedlab.optimize import cpu_isa, has_vnni, optimize
    from embedlab.optimize.report import text_table

    folder = out / "optimize"
    shutil.rmtree(folder, ignore_errors=True)
    sizes = DEMO_OPTIMIZE
    bench = docstring_benchmark(docs, size=sizes["pairs"])
    isa = cpu_isa()
    console.print(
        f"{len(bench.queries)} docstring queries against their {len(bench.corpus)} bodies; CPU instruction set "
        f"{isa}. The same as: embedlab optimize default --benchmark DIR --variant onnx-int8 (a larger sample)"
    )
    started = time.perf_counter()
    report = optimize(
        model,
        bench,
        work_dir=folder / "variants",
        kinds=("onnx-int8",),
        speed_docs=sizes["speed_docs"],
        speed_queries=sizes["speed_queries"],
        parity_docs=sizes["parity_docs"],
        parity_queries=sizes["parity_queries"],
        progress=lambda line: console.print(f"[dim]{escape(line)}[/]"),
    )
    console.print(text_table(report))
    page = report.save(folder)
    seconds = time.perf_counter() - started
    source, variant = report.source, report.candidates[-1]
    figures: dict[str, Any] = {"cpu": isa, "vnni": has_vnni(), "report": str(page), "seconds": seconds}
    if not variant.ok:
        console.print(f"[yellow]{escape(variant.error)}")
        return figures | {"error": variant.error}
    parity, test = variant.parity, variant.quality["test"]
    console.print(
        f"int8 vs fp32: documents {variant.ratio(source, 'docs_per_s'):.2f}x ({variant.speed['docs_per_s']:.1f} vs "
        f"{source.speed['docs_per_s']:.1f} docs/s), query latency {variant.ratio(source, 'query_p50_ms'):.2f}x lower "
        f"(p50 {variant.speed['query_p50_ms']:.1f} vs {source.speed['query_p50_ms']:.1f} ms); NDCG@10 "
        f"{test['difference']['value']:+.4f}, p={test['p_value']:.4f}: {test['verdict']}"
    )
    verdict = "passes" if parity["passed"] else "fails"
    console.print(
        f"parity with the source ({verdict}): mean cosine {parity['cosine_mean']:.4f} "
        f"(min {parity['cosine_min']:.4f}), top-10 agreement {parity['top10_cross']:.3f} "
        f"on {parity['queries']} queries x {parity['documents']} documents"
    )
    if has_vnni():
        console.print(f"this CPU has VNNI ({isa}): int8 matrix products run at their full speed")
    else:
        console.print(
            f"[yellow]int8 gains need VNNI (AVX-512 VNNI or AVX-VNNI), which this CPU ({isa}) lacks: its int8 "
            "matrix products run on plain AVX2, so the figures above are what int8 gives here"
        )
    console.print(f"the step took {seconds:.0f} s (build {variant.build_seconds:.0f} s); report: {page}")
    return figures | {
        "torch": {"speed": source.speed, "ndcg@10": source.quality["ndcg@10"]},
        "onnx-int8": {
            "speed": variant.speed,
            "ndcg@10": variant.quality["ndcg@10"],
            "build_seconds": variant.build_seconds,
            "path": variant.path,
        },
        "docs_speedup": variant.ratio(source, "docs_per_s"),
        "query_speedup": variant.ratio(source, "query_p50_ms"),
        "int8_vs_fp32": test,
        "parity": parity,
        "queries": len(bench.queries),
    }
