"""The demo's adaptation step: job titles, the guidance's own example, where adapting to the domain pays off.

A sample of the ESCO classification ships inside the package (``embedlab/data/esco_jobtitles.jsonl.gz``,
CC BY 4.0, European Commission; attribution in ``embedlab/data/ESCO-ATTRIBUTION.md``; made by
``scripts/esco_sample.py``): occupations (preferred label and the start of the description) and their
alternative labels, the titles people actually write ("wire drawer" for "metal drawing machine
operator"). :func:`job_title_benchmark` turns it into a BEIR folder: every occupation's labels are split
into train and test queries (70/30, seeded per occupation), so each test query asks for an occupation
seen in training under other names. :func:`adapt_job_titles` runs ``adapt_auto`` on that folder with fast
fine-tuning settings and prints base vs adapted vs BM25 with intervals and the paired test.

Example:
    >>> folder = job_title_benchmark(Path("demo-output/jobs"), occupations=200)  # doctest: +SKIP
    >>> adapt_job_titles(Path("demo-output"), load_model(), Console())["adapted_vs_base"]["p_value"]  # doctest: +SKIP
    0.0002
"""

from __future__ import annotations

import gzip
import json
import random
import shutil
import time
from importlib import resources
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from embedlab.errors import InputError
from embedlab.models import EmbeddingModel

#: The shipped sample (package data).
SAMPLE = "esco_jobtitles.jsonl.gz"
_TEST_SHARE = 0.3
#: In-batch MNRL, one pass: the fast recipe (bench/adapt.py esco trains the same way, longer, on the full set).
DEMO_TRAINING = {"negatives": None, "epochs": 1, "batch_size": 64, "lr": 1e-4}
#: Occupations the demo adapts on by default: half the sample keeps the whole demo near 5 minutes on 2 cores,
#: and the lift stays far beyond noise (all 800: +0.077, p = 0.0002, in twice the time).
DEMO_OCCUPATIONS = 400


def job_titles(occupations: int | None = None) -> list[dict[str, Any]]:
    """The shipped ESCO sample: ``{"id", "title", "text", "labels"}`` per occupation, sorted by id (the first N)."""
    data = resources.files("embedlab").joinpath("data", SAMPLE).read_bytes()
    rows = [json.loads(line) for line in gzip.decompress(data).decode("utf-8").splitlines() if line]
    return rows[:occupations]


def job_title_benchmark(folder: Path, *, occupations: int | None = None, seed: int = 0) -> Path:
    """Write the sample as a BEIR folder: corpus = occupations, queries = labels, train/test 70/30 per occupation."""
    rows = job_titles(occupations)
    if len(rows) < 2:
        raise InputError("The job-title benchmark needs at least two occupations.")
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "qrels").mkdir(parents=True)
    queries: list[dict[str, str]] = []
    splits: dict[str, list[str]] = {"train": [], "test": []}
    for row in rows:
        labels = list(row["labels"])
        random.Random(f"{seed}:{row['id']}").shuffle(labels)
        n_test = max(1, round(len(labels) * _TEST_SHARE))
        for number, label in enumerate(labels):
            query_id = f"{row['id']}#{number}"
            queries.append({"_id": query_id, "text": label})
            splits["test" if number < n_test else "train"].append(f"{query_id}\t{row['id']}\t1")
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps({"_id": r["id"], "title": r["title"], "text": r["text"]}) + "\n" for r in rows)
    with open(folder / "queries.jsonl", "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(query) + "\n" for query in queries)
    for split, lines in splits.items():
        (folder / "qrels" / f"{split}.tsv").write_text("\n".join(["query-id\tcorpus-id\tscore", *lines]) + "\n")
    return folder


def adapt_job_titles(
    out: Path, model: EmbeddingModel, console: Console, *, occupations: int | None = None
) -> dict[str, Any]:
    """Adapt ``model`` to the job-title benchmark (written to ``out/jobs``) and report base vs adapted vs BM25."""
    from embedlab.adapt import FinetuneConfig, adapt_auto

    folder = job_title_benchmark(out / "jobs", occupations=occupations)
    target = out / "adapted-model"
    shutil.rmtree(target, ignore_errors=True)
    shutil.rmtree(out / "adapt", ignore_errors=True)
    train = (folder / "qrels" / "train.tsv").read_text().count("\n") - 1
    test = (folder / "qrels" / "test.tsv").read_text().count("\n") - 1
    console.print(
        f"ESCO job titles (CC BY 4.0, European Commission): {len(job_titles(occupations))} occupations; their "
        f"alternative labels are the queries: {train} to train on, {test} held out -> {folder}. The same as: "
        f"embedlab adapt auto --benchmark {folder} --out {target}"
    )
    config = FinetuneConfig(**DEMO_TRAINING)  # type: ignore[arg-type]
    started = time.perf_counter()
    result = adapt_auto(folder, out=target, report=out / "adapt", base=model, config=config)
    seconds = time.perf_counter() - started
    console.print(
        f"fine-tuning: in-batch MNRL, {config.epochs} epoch, batch {config.batch_size}, lr {config.lr:g} "
        f"(the demo's fast settings; the table would say {result.strategy}); {seconds / 60:.1f} min with evaluation"
    )
    table = Table("system", "NDCG@10 (95% CI)", "MRR@10", "Recall@100")
    scores: dict[str, Any] = {}
    for system, label in zip(result.report.systems, ("base", "adapted", "BM25"), strict=True):
        if system.retrieval is not None:
            ci = system.retrieval.ci
            table.add_row(label, str(ci["ndcg@10"]), f"{ci['mrr@10'].value:.4f}", f"{ci['recall@100'].value:.4f}")
            scores[label] = ci["ndcg@10"].to_dict()
    console.print(table)
    comparison, decision = result.comparison, result.decision
    console.print(
        f"adapted vs base NDCG@10: {comparison['difference']['value']:+.4f} "
        f"[{comparison['difference']['low']:+.4f}, {comparison['difference']['high']:+.4f}], "
        f"p={comparison['p_value']:.4f}: {comparison['verdict']}"
    )
    colour = "green" if decision.adapted else "yellow"
    console.print(f"[{colour}]decision: {decision.reason}; model: {result.adapted.path}")
    if result.coverage is not None:  # what the lift covers: here every held-out title's occupation was trained on
        console.print(result.coverage.sentence())
    _show_examples(result.adapted.path, model, folder, console)
    return {"strategy": result.strategy, "seconds": seconds, "ndcg@10": scores, "adapted_vs_base": comparison,
            "decision": decision.to_dict(), "train_queries": train, "test_queries": test}  # fmt: skip


def _show_examples(adapted_path: Path, base: EmbeddingModel, folder: Path, console: Console, count: int = 5) -> None:
    """A few held-out titles the adapted model ranks right and the base does not."""
    from embedlab.encode import Encoder
    from embedlab.evaluate import load_beir
    from embedlab.evaluate.retrieval import ExactSearch
    from embedlab.models import load_model

    test = load_beir(folder, split="test")
    query_ids = sorted(test.queries)[:400]
    texts = [test.queries[q] for q in query_ids]
    rankings = {
        name: ExactSearch(Encoder(model, show_progress=False, cache=True), test.corpus)(texts, 1)
        for name, model in (("base", base), ("adapted", load_model(adapted_path)))
    }
    titles = {row["id"]: row["title"] for row in job_titles()}
    table = Table("held-out job title", "base's first hit", "adapted's first hit")
    for number, query_id in enumerate(query_ids):
        right = next(iter(test.qrels[query_id]))
        base_hit, adapted_hit = rankings["base"][number][0][0], rankings["adapted"][number][0][0]
        if adapted_hit == right != base_hit:
            table.add_row(texts[number], f"[red]{titles[base_hit]}", f"[green]{titles[adapted_hit]}")
        if table.row_count == count:
            break
    console.print(table)
