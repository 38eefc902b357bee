"""``embedlab models recommend``: measure candidate models on your benchmark and pick one for your requirements.

Example:
    $ embedlab models recommend --benchmark scifact_beir -m default -m all-mpnet-base-v2 --max-latency-ms 30
    $ embedlab models recommend --use-case search --latency realtime     # no benchmark: the rule table
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from embedlab.cli.common import console, print_json


def recommend(
    benchmark: Annotated[Path | None, typer.Option(help="A BEIR folder to measure on (else: the rule table).")] = None,
    model: Annotated[
        list[str] | None,
        typer.Option("--model", "-m", help="A candidate (repeat; default: every model `models list` shows)."),
    ] = None,
    split: Annotated[str, typer.Option(help="Which qrels split to score.")] = "test",
    corpus_size: Annotated[int | None, typer.Option(min=1, help="Score against a sample of N documents.")] = None,
    max_latency_ms: Annotated[float | None, typer.Option(help="Longest median query latency allowed.")] = None,
    max_dims: Annotated[int | None, typer.Option(help="Most dimensions allowed.")] = None,
    local_only: Annotated[bool, typer.Option(help="Only models that run on this machine.")] = False,
    max_usd_per_million: Annotated[float | None, typer.Option(help="Highest price per million tokens.")] = None,
    use_case: Annotated[str, typer.Option(help="Rules: search, qa, classification or clustering.")] = "search",
    latency: Annotated[str, typer.Option(help="Rules: realtime, fast, medium or batch.")] = "medium",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Recommend a model: measured on --benchmark (NDCG@10, speed, memory, cost; Pareto front), else by rules."""
    from embedlab.optimize.recommend import Requirements, measure_candidates, recommend, rule_recommendation

    if benchmark is None:
        result = rule_recommendation(use_case, latency=latency, private=local_only or max_usd_per_million == 0)
    else:
        from embedlab.evaluate import load_beir
        from embedlab.registry import available_models

        bench = load_beir(benchmark, split=split)
        bench = bench.sample(corpus_size) if corpus_size else bench
        specs = model or [
            entry.name for entry in available_models() if entry.error is None and "hub" not in entry.source
        ]
        candidates = measure_candidates([None if spec == "default" else spec for spec in specs], bench)
        result = recommend(candidates, Requirements(max_latency_ms, max_dims, local_only, max_usd_per_million))
    if as_json:
        print_json(result.to_dict())
        return
    if result.candidates:
        table = Table("model", "NDCG@10 [95% CI]", "docs/s", "query p50 ms", "GB / 1M vectors", "$ / 1M tokens",
                      "Pareto", title=f"candidates on {benchmark}")  # fmt: skip
        for one in result.candidates:
            price = "?" if one.usd_per_million_tokens is None else f"{one.usd_per_million_tokens:g}"
            table.add_row(one.name, str(one.ndcg), f"{one.docs_per_s:.1f}", f"{one.query_p50_ms:.1f}",
                          f"{one.gb_per_million:.2f}", price, "★" if one.pareto else "")  # fmt: skip
        console.print(table)
    verdict = f"recommended: {result.chosen}" if result.chosen else "no recommendation"
    console.print(f"{verdict} ({result.source}): {result.reason}", markup=False, soft_wrap=True)
