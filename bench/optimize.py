"""Every variant of the bundled model on SciFact test and ESCO job titles test: speed and NDCG@10 against torch fp32.

    flock /tmp/embedlab-cpu.lock python bench/optimize.py                 # both sets, every variant (~56 min here)
    python bench/optimize.py --datasets esco --variants onnx-int8 static    # a subset

Runs embedlab's own path, :func:`embedlab.optimize.optimize`, once per set: each variant is built (OpenVINO
int8 calibrated on 300 documents of that set's corpus; the static model distilled with the corpus' words
and fine-tuned with MNRL on that set's train pairs), loaded back through ``load_model``, and measured in the
same run as sentence-transformers torch fp32 (the source): documents per second at batch 32 and query
latency p50 at batch 1 (as ratios to fp32), NDCG@10 on the test split with its 95% interval, the paired test
against fp32, and parity. Then it checks the issue's goals: a transformer variant >= 4x fp32 document
throughput with <= 1% relative NDCG@10 loss on both sets; a static variant >= 50x keeping >= 85% of fp32's
NDCG@10 on ESCO. Reports go to bench/out/optimize/<set>/report.html.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
import warnings
from pathlib import Path

from embedlab import load_model
from embedlab.adapt import TrainingSet
from embedlab.evaluate import load_beir
from embedlab.evaluate.data import BenchmarkWarning
from embedlab.optimize import KINDS, OptimizeReport, optimize

DATASETS = {"esco": "esco_jobtitles", "scifact": "scifact_beir"}  # ESCO first: the static goal is on it
TRANSFORMER_GOAL = (4.0, 0.01)  # docs/s ratio, largest relative NDCG@10 loss, on every set
STATIC_GOAL = (50.0, 0.85)  # docs/s ratio, NDCG@10 kept, on ESCO


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--datasets", nargs="+", choices=list(DATASETS), default=list(DATASETS))
    parser.add_argument("--variants", nargs="+", choices=KINDS[1:], default=list(KINDS[1:]))
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out" / "optimize")
    args = parser.parse_args()
    source = load_model()
    reports: dict[str, OptimizeReport] = {}
    for name in args.datasets:
        root = args.shared / DATASETS[name]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", BenchmarkWarning)
            test = load_beir(root, split="test")
            train = TrainingSet.from_benchmark(load_beir(root, split="train")) if "static" in args.variants else None
        work = args.out / name / "variants"
        shutil.rmtree(work, ignore_errors=True)
        started = time.perf_counter()
        print(f"== {name}: {len(test.queries)} test queries, {len(test.corpus)} documents", flush=True)
        reports[name] = optimize(source, test, work_dir=work, kinds=args.variants, train=train,
                                 progress=lambda line: print(f"   {line}", flush=True))  # fmt: skip
        reports[name].save(args.out / name)
        print(f"   {time.perf_counter() - started:.0f} s; report: {args.out / name / 'report.html'}")
        print_table(name, reports[name])
    print_goals(reports)
    (args.out / "summary.json").write_text(json.dumps({n: r.to_dict() for n, r in reports.items()}, indent=1))


def print_table(name: str, report: OptimizeReport) -> None:
    source = report.source
    print(f"\n{name} (CPU {report.cpu}); ratios to sentence-transformers torch fp32 in this run")
    print(f"{'variant':15} {'docs/s':>8} {'x':>6} {'q p50 ms':>9} {'x':>6} {'NDCG@10 [95% CI]':>26} {'ratio':>6} "
          f"{'p':>6} {'parity':>22} {'build s':>8}")  # fmt: skip
    for c in report.candidates:
        if not c.ok:
            print(f"{c.kind:15} skipped: {c.error}")
            continue
        e = c.quality["ndcg@10"]
        parity = f"own space top10 {c.parity['top10_own']:.2f}"
        if c.parity.get("cosine_mean") is not None:
            parity = f"cos {c.parity['cosine_mean']:.4f} top10 {c.parity['top10_cross']:.2f}"
        print(f"{c.kind:15} {c.speed['docs_per_s']:8.1f} {c.ratio(source, 'docs_per_s'):6.2f} "
              f"{c.speed['query_p50_ms']:9.2f} {c.ratio(source, 'query_p50_ms'):6.2f} "
              f"{e['value']:.4f} [{e['low']:.4f}, {e['high']:.4f}] {c.quality['ratio']:6.4f} "
              f"{c.quality['test']['p_value']:6.4f} {parity:>22} {c.build_seconds:8.1f}")  # fmt: skip
    buckets = list(dict.fromkeys(b for c in report.candidates if c.ok for b in c.speed["by_bucket"]))
    print("docs/s (batch 32) | query p50 ms (batch 1) by token-length bucket:")
    for c in report.candidates:
        if c.ok:
            cells = []
            for b in buckets:
                v = c.speed["by_bucket"].get(b, {})
                cells.append(
                    f"{b}: {v.get('docs_per_s', float('nan')):.1f} | {v.get('query_p50_ms', float('nan')):.2f}"
                )
            print(f"  {c.kind:15} " + "; ".join(cells))


def print_goals(reports: dict[str, OptimizeReport]) -> None:
    ratio, loss = TRANSFORMER_GOAL
    print("\nGoals")
    transformer = [k for k in ("onnx", "onnx-int8", "openvino", "openvino-int8") if all(
        any(c.kind == k and c.ok for c in r.candidates) for r in reports.values())]  # fmt: skip
    for kind in transformer:
        rows = {n: next(c for c in r.candidates if c.kind == kind) for n, r in reports.items()}
        figures = ", ".join(
            f"{n} {c.ratio(reports[n].source, 'docs_per_s'):.2f}x loss {c.quality['relative_loss']:.2%}"
            for n, c in rows.items()
        )
        met = all(c.ratio(reports[n].source, "docs_per_s") >= ratio and c.quality["relative_loss"] <= loss
                  for n, c in rows.items())  # fmt: skip
        verdict = "MET" if met else "not met"
        print(f"  {kind:15} >= {ratio:.0f}x with <= {loss:.0%} loss on every set: {verdict} ({figures})")
    if "esco" in reports:
        report = reports["esco"]
        static = next((c for c in report.candidates if c.kind == "static" and c.ok), None)
        if static is not None:
            speed, kept = static.ratio(report.source, "docs_per_s"), static.quality["ratio"]
            met = speed >= STATIC_GOAL[0] and kept >= STATIC_GOAL[1]
            print(f"  static on ESCO >= {STATIC_GOAL[0]:.0f}x keeping >= {STATIC_GOAL[1]:.0%}: "
                  f"{'MET' if met else 'not met'} ({speed:.1f}x, {kept:.1%} kept)")  # fmt: skip


if __name__ == "__main__":
    main()
