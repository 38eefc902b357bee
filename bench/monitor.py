"""Monitoring, calibrated: false alarms, detection, silent model swaps, a broken index, the server's cost.

On ESCO job titles (test split queries, a sample) and SciFact (train split queries), with the bundled model:

(a) false alarms: --trials null trials per data set, reference and current --n queries each drawn from the
    same split (disjoint); every test (query MMD, domain classifier, top-1 and top-k score KS, empty rate)
    at alpha 0.05; the rate of each must be <= 5% (within sampling error: the 95% upper bound is printed);
    and the rate of runs where any of them alarms (family-wise): each test at 0.05 on its own (about 16%)
    vs Holm-corrected together as ``monitor run`` does (must be <= 5%);
(b) detection: the same with 10%, 30%, 50% of the current queries from the other data set (per test
    uncorrected; any test, uncorrected and Holm-corrected);
(c) probes: the bundled model re-encoding the probe sentences in shuffled orders and batch sizes (must never
    alarm) vs all-mpnet-base-v2 (pack), a tiny fine-tune of the bundled model and its ONNX int8 variant
    (must alarm in 100% of trials);
(d) canary: SciFact's corpus in a real index, canary = SciFact test; a run without change, then a run after
    the documents' texts and vectors are shuffled among their ids (NDCG@10 must drop, significantly);
(e) serving: searches of a monitored index with the query log on vs off (monitor_sample 1 vs 0), alternated.

Queries and corpora are encoded once (cached); trials then only draw indices.

    python bench/monitor.py [--trials 100] [--detect-trials 50] [--n 200] [--permutations 500] [--skip c,d,e]

Writes bench/out/monitor.json. Needs ../shared/data.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"
ALPHA = 0.05


def top_scores(queries: np.ndarray, corpus: np.ndarray, k: int = 10) -> np.ndarray:
    """Each query's k best cosine scores, best first."""
    scores = queries @ corpus.T
    top = -np.partition(-scores, k - 1, axis=1)[:, :k]
    return -np.sort(-top, axis=1)


def upper95(rate: float, n: int) -> float:
    """Wilson 95% upper bound of a rate."""
    z = 1.96
    centre = (rate + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre + half


def bound(rate: float, trials: int, null: bool) -> str:
    """The 95% upper bound of a false-alarm rate (``null``), to print after it; nothing for a detection rate."""
    return f" (95% upper {upper95(rate, trials):.3f})" if null else ""


def trial(pool: dict[str, np.ndarray], other: dict[str, np.ndarray], n: int, mix: float, threshold: float,
          permutations: int, rng: np.random.Generator, seed: int) -> dict[str, float]:  # fmt: skip
    """One reference/current draw; the current has ``mix`` of its queries from ``other``: each test's p-value."""
    from embedlab.operate.monitor import classifier_test, mmd_test, rate_shift, score_shift

    order = rng.permutation(len(pool["vectors"]))
    foreign = round(mix * n)
    ref, cur = order[:n], order[n : 2 * n - foreign]
    picked = rng.choice(len(other["vectors"]), foreign, replace=False)
    vectors = np.vstack([pool["vectors"][cur], other["vectors"][picked]])
    scores = np.vstack([pool["scores"][cur], other["scores"][picked]])
    ref_scores = pool["scores"][ref]

    def empty(table: np.ndarray) -> tuple[int, int]:
        return int(np.count_nonzero(table[:, 0] < threshold)), len(table)

    signals = [
        mmd_test(pool["vectors"][ref], vectors, permutations=permutations, seed=seed),
        classifier_test(pool["vectors"][ref], vectors, permutations=permutations, seed=seed),
        score_shift(ref_scores[:, 0], scores[:, 0]),
        score_shift(ref_scores.mean(1), scores.mean(1), name="topk_score_ks"),
        rate_shift(empty(ref_scores), empty(scores)),
    ]
    return {signal.name: float(signal.p_value) for signal in signals if signal.p_value is not None}


def drift(args: argparse.Namespace, encoder: Any) -> dict[str, Any]:
    """(a) and (b)."""
    from embedlab.evaluate import load_beir
    from embedlab.operate.monitor import DRIFT_FAMILY as TESTS  # the tests `monitor run` corrects together
    from embedlab.operate.monitor import holm

    rng = np.random.default_rng(0)
    sets = {}
    for name, folder, split, size in (
        ("esco", "esco_jobtitles", "test", 2000),
        ("scifact", "scifact_beir", "train", None),
    ):
        bench = load_beir(DATA / folder, split=split)
        texts = list(bench.queries.values())
        if size is not None and len(texts) > size:
            texts = [texts[i] for i in sorted(rng.choice(len(texts), size, replace=False))]
        started = time.perf_counter()
        corpus = encoder.encode(list(bench.corpus.values()))
        vectors = encoder.encode(texts)
        print(f"{name}: {len(texts)} queries, {len(corpus)} documents encoded in {time.perf_counter() - started:.0f} s",
              flush=True)  # fmt: skip
        sets[name] = {"vectors": vectors, "corpus": corpus}
    for data in sets.values():
        data["scores"] = top_scores(data["vectors"], data["corpus"])
    results: dict[str, Any] = {}
    for name, other_name in (("esco", "scifact"), ("scifact", "esco")):
        pool = sets[name]
        # the other set's queries searched in this set's index: their scores there
        other = {"vectors": sets[other_name]["vectors"],
                 "scores": top_scores(sets[other_name]["vectors"], pool["corpus"])}  # fmt: skip
        threshold = float(np.quantile(pool["scores"][:, 0], 0.05))  # a calibrated threshold stands in: 5% empty
        results[name] = {"threshold": threshold}
        for mix, trials in ((0.0, args.trials), (0.1, args.detect_trials), (0.3, args.detect_trials),
                            (0.5, args.detect_trials)):  # fmt: skip
            if not trials:
                continue
            started = time.perf_counter()
            p_values = np.array([
                [found[test] for test in TESTS]
                for found in (trial(pool, other, args.n, mix, threshold, args.permutations, rng, seed)
                              for seed in range(trials))
            ])  # fmt: skip
            raw = p_values < ALPHA
            rates = dict(zip(TESTS, raw.mean(0).tolist(), strict=True))
            any_rate = float(raw.any(1).mean())  # each test at alpha on its own
            holm_rate = float(np.mean([(holm(row) < ALPHA).any() for row in p_values]))  # as `monitor run` decides
            results[name][f"mix_{mix:.1f}"] = {"trials": trials, "rates": rates, "any": any_rate, "any_holm": holm_rate,
                                               "p_values": p_values.tolist()}  # fmt: skip
            label = "false-alarm rate" if mix == 0 else f"detection at {mix:.0%} {other_name}"
            null = mix == 0
            shown = ", ".join(f"{test} {rate:.3f}{bound(rate, trials, null)}" for test, rate in rates.items())
            print(f"{name} {label} over {trials} trials ({time.perf_counter() - started:.0f} s): {shown}; "
                  f"any test, each at {ALPHA}: {any_rate:.3f}{bound(any_rate, trials, null)}; any test, "
                  f"Holm-corrected: {holm_rate:.3f}{bound(holm_rate, trials, null)}", flush=True)  # fmt: skip
    return results


def probes(args: argparse.Namespace) -> dict[str, Any]:
    """(c): the probe check on the bundled model (shuffled orders, batch sizes) and three swapped models."""
    from embedlab import Encoder, load_model
    from embedlab.adapt import FinetuneConfig, TrainingSet, finetune
    from embedlab.evaluate import load_beir
    from embedlab.operate.monitor import PROBES, probe_check
    from embedlab.optimize.variants import build_variant

    base = load_model(device="cpu")
    baseline = Encoder(base, show_progress=False).encode(list(PROBES))
    work = Path(tempfile.mkdtemp(prefix="monitor-bench-"))
    started = time.perf_counter()
    esco = load_beir(DATA / "esco_jobtitles", split="train")
    train = TrainingSet.from_benchmark(esco)
    keep = list(train.positives)[:64]
    small = TrainingSet({q: train.queries[q] for q in keep}, train.corpus, {q: train.positives[q] for q in keep})
    finetune(base, small, out=work / "adapted", config=FinetuneConfig(batch_size=16, max_steps=4),
             show_progress=False)  # fmt: skip
    build_variant(base, "onnx-int8", work / "onnx-int8")
    print(f"adapted (4 MNRL steps) and ONNX int8 variant built in {time.perf_counter() - started:.0f} s", flush=True)
    models = {"bundled (same model)": base, "all-mpnet-base-v2": load_model("all-mpnet-base-v2", device="cpu"),
              "adapted (4 steps)": load_model(work / "adapted", device="cpu"),
              "onnx-int8": load_model(work / "onnx-int8")}  # fmt: skip
    rng = np.random.default_rng(1)
    plans = [(rng.permutation(len(PROBES)), int(rng.choice([1, 2, 3, 7, 20]))) for _ in range(args.probe_trials)]
    results = {}
    for name, model in models.items():
        distances, alarms = [], 0
        for order, batch in plans:
            vectors = Encoder(model, batch_size=batch, show_progress=False).encode([PROBES[i] for i in order])
            restored = np.empty_like(vectors)
            restored[order] = vectors
            signal = probe_check(baseline, restored)
            distances.append(signal.value)
            alarms += signal.alarm
        results[name] = {"trials": len(plans), "alarms": alarms, "min_distance": min(distances),
                         "max_distance": max(distances)}  # fmt: skip
        print(f"probes, {name}: {alarms}/{len(plans)} trials alarm; 1 - cos from {min(distances):.2e} to "
              f"{max(distances):.2e} (tolerance 1e-4)", flush=True)  # fmt: skip
    return results


def canary(args: argparse.Namespace, encoder: Any) -> dict[str, Any]:
    """(d): SciFact in a real index; a run without change, then one with the documents shuffled among their ids."""
    from embedlab.evaluate import load_beir
    from embedlab.index import Index
    from embedlab.operate.monitor import init_monitor, run_monitor

    bench = load_beir(DATA / "scifact_beir", split="test")
    ids, texts = list(bench.corpus), list(bench.corpus.values())
    vectors = encoder.encode(texts)
    folder = Path(tempfile.mkdtemp(prefix="monitor-canary-")) / "scifact"
    index = Index.create(folder, encoder, chunk=False)
    index.add_vectors([{"id": i, "text": t} for i, t in zip(ids, texts, strict=True)], vectors, model=encoder.info)
    started = time.perf_counter()
    baseline = init_monitor(index, canary=bench)
    print(f"canary baseline: NDCG@10 {baseline.canary_mean['ndcg@10']:.4f} ({time.perf_counter() - started:.0f} s)")
    results = {}
    for step in ("unchanged", "shuffled"):
        if step == "shuffled":
            order = np.random.default_rng(0).permutation(len(ids))
            index.add_vectors([{"id": i, "text": texts[j]} for i, j in zip(ids, order, strict=True)], vectors[order],
                              model=encoder.info)  # fmt: skip
        run = run_monitor(index, permutations=args.permutations)
        signals = {s.name: s for s in run.signals}
        ndcg = signals["canary_ndcg@10"]
        results[step] = {"ndcg@10": ndcg.value, "p_value": ndcg.p_value, "alarm": ndcg.alarm, "run_alarm": run.alarm,
                         "coverage": signals["corpus_coverage"].to_dict()}  # fmt: skip
        print(
            f"canary, {step}: NDCG@10 {ndcg.value:.4f} (baseline {ndcg.detail['baseline']:.4f}), p {ndcg.p_value:.4g}, "
            f"alarm {ndcg.alarm}; run alarm {run.alarm} ({[s.name for s in run.signals if s.alarm]})",
            flush=True,
        )
    return results


def serving(args: argparse.Namespace, encoder: Any) -> dict[str, Any]:
    """(e): searches/s and p50 latency of a monitored index with the query log on and off, alternated."""
    import httpx

    from embedlab.evaluate import load_beir
    from embedlab.index import Index
    from embedlab.operate.monitor import History, init_monitor
    from embedlab.serve import ServeConfig, create_app
    from tests.serve.conftest import running

    bench = load_beir(DATA / "esco_jobtitles", split="test")
    ids, texts = list(bench.corpus), list(bench.corpus.values())
    folder = Path(tempfile.mkdtemp(prefix="monitor-serve-")) / "esco"
    index = Index.create(folder, encoder, chunk=False)
    index.add_vectors([{"id": i, "text": t} for i, t in zip(ids, texts, strict=True)], encoder.encode(texts),
                      model=encoder.info)  # fmt: skip
    canary_ids = list(bench.queries)[:100]
    small = type(bench)({}, {q: bench.queries[q] for q in canary_ids}, {q: bench.qrels[q] for q in canary_ids})
    init_monitor(index, canary=small)
    queries = list(bench.queries.values())[100 : 100 + args.requests]

    async def load(url: str) -> list[float]:
        latencies: list[float] = []
        gate = asyncio.Semaphore(args.clients)
        async with httpx.AsyncClient(base_url=url, timeout=120) as session:

            async def one(query: str) -> None:
                async with gate:
                    started = time.perf_counter()
                    answer = await session.post("/v1/search", json={"index": "esco", "query": query, "k": 10})
                    answer.raise_for_status()
                    latencies.append(time.perf_counter() - started)

            await asyncio.gather(*(one(q) for q in queries))
        return latencies

    measured: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
    for round_ in range(args.rounds):
        for state in ("off", "on") if round_ % 2 == 0 else ("on", "off"):  # alternated: drift cancels out
            config = ServeConfig(indexes={"esco": str(folder)}, monitor_sample=1.0 if state == "on" else 0.0)
            with running(create_app(config, encoder=encoder)) as url:
                asyncio.run(load(url))  # warm-up round: the first searches open the table
                started = time.perf_counter()
                latencies = asyncio.run(load(url))
                seconds = time.perf_counter() - started
            measured[state].append({"per_s": len(latencies) / seconds, "p50_ms": 1000 * float(np.median(latencies))})
    logged = len(History(folder / "monitor").queries(source="server"))
    summary = {state: {key: float(np.median([m[key] for m in rounds])) for key in ("per_s", "p50_ms")}
               for state, rounds in measured.items()}  # fmt: skip
    # each round's off/on pair ran back to back: the median of the pairs' ratios, and their range
    ratios = [off["per_s"] / on["per_s"] - 1 for off, on in zip(measured["off"], measured["on"], strict=True)]
    overhead = float(np.median(ratios))
    expected = 2 * args.requests * args.rounds
    print(f"serving: off {summary['off']['per_s']:.1f} searches/s (p50 {summary['off']['p50_ms']:.1f} ms), on "
          f"{summary['on']['per_s']:.1f}/s (p50 {summary['on']['p50_ms']:.1f} ms): overhead {overhead:+.1%} (median "
          f"of {len(ratios)} back-to-back pairs, from {min(ratios):+.1%} to {max(ratios):+.1%}); "
          f"{logged} of {expected} searches logged", flush=True)  # fmt: skip
    return {"rounds": measured, "summary": summary, "overhead": overhead, "ratios": ratios, "logged": logged,
            "expected": expected}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--detect-trials", type=int, default=50)
    parser.add_argument("--probe-trials", type=int, default=20)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--permutations", type=int, default=500)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--skip", default="", help="Sections to skip, comma-separated (a,b are one section: drift).")
    args = parser.parse_args()
    skip = set(args.skip.split(","))
    from embedlab import Encoder

    encoder = Encoder(cache=True, show_progress=False)
    results: dict[str, Any] = {"args": vars(args)}
    if "a" not in skip:
        results["drift"] = drift(args, encoder)
    if "c" not in skip:
        results["probes"] = probes(args)
    if "d" not in skip:
        results["canary"] = canary(args, encoder)
    if "e" not in skip:
        results["serving"] = serving(args, encoder)
    out = ROOT / "bench" / "out" / "monitor.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
