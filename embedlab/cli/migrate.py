"""``embedlab migrate``: move a served index to a new model by a dual index, a comparison, a gate and an alias.

Example:
    $ embedlab migrate alias docs.alias.json docs-v1          # serve with --index docs=docs.alias.json
    $ embedlab migrate plan docs.alias.json --model models/adapted
    $ embedlab migrate build docs.alias.json --model models/adapted --out docs-v2   # resumable
    $ embedlab migrate build docs-v1 --model models/adapted --out docs-v2 --engine ray --address HEAD:6379
    $ embedlab migrate compare docs.alias.json docs-v2 --benchmark my-bench --queries shadow.jsonl
    $ embedlab migrate promote docs.alias.json docs-v2        # behind the gate; --force overrides
    $ embedlab migrate rollback docs.alias.json
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from embedlab.cli.common import JsonOption, console, err, print_json
from embedlab.cli.engine import ActorsOption, AddressOption, EngineOption, cluster
from embedlab.errors import InputError

migrate_app = typer.Typer(help="Migrate an index to a new model: plan, build, compare, promote, rollback.",
                          no_args_is_help=True)  # fmt: skip

Source = Annotated[str, typer.Argument(help="The old index: an alias file or an index folder.")]
AliasFile = Annotated[Path, typer.Argument(help="The alias file (JSON).")]
NewModel = Annotated[str | None, typer.Option("--model", "-m", help="The new model (default: the bundled one).")]
ChunkTokens = Annotated[int | None, typer.Option(help="Tokens per chunk (default: the old index's setting).")]


def register(app: typer.Typer) -> None:
    """Add ``migrate`` to the main app."""
    app.add_typer(migrate_app, name="migrate")


@migrate_app.command("alias")
def migrate_alias(alias: AliasFile, index: Annotated[Path, typer.Argument(help="The index it points at.")]) -> None:
    """Create an alias file pointing at an index folder (serve it with --index NAME=ALIAS_FILE)."""
    from embedlab.operate.aliases import create_alias

    create_alias(alias, index)
    console.print(f"{alias} -> {index.resolve()}")


@migrate_app.command("plan")
def migrate_plan(
    source: Source,
    model: NewModel = None,
    sample: Annotated[int, typer.Option(help="Documents re-embedded to measure the time.")] = 64,
    chunk_tokens: ChunkTokens = None,
    as_json: JsonOption = False,
) -> None:
    """Documents, tokens, re-embedding time (measured on a sample here) and disk of a migration."""
    from embedlab.operate.migrate import plan

    found = plan(source, model, sample=sample, chunk_tokens=chunk_tokens)
    if as_json:
        print_json(found.to_dict())
        return
    console.print(
        f"{found.source}: {found.documents} documents, {found.chunks} chunks, {found.tokens:,} tokens "
        f"(new model's tokenizer)\nre-embedding with {found.model}: {found.docs_per_s:.1f} documents/s on a sample "
        f"of {found.sample} here -> about {_duration(found.seconds)}\ndisk: about {found.disk_bytes / 1e6:.1f} MB "
        f"({found.chunks_estimate} vectors); {found.free_bytes / 1e9:.1f} GB free"
    )
    if found.disk_bytes > found.free_bytes:
        raise InputError(f"Not enough disk: the new index needs about {found.disk_bytes / 1e6:.0f} MB.")


@migrate_app.command("build")
def migrate_build(
    source: Source,
    out: Annotated[Path, typer.Option("--out", "-o", help="The new index folder (a stopped build there resumes).")],
    model: NewModel = None,
    batch: Annotated[int | None, typer.Option(help="Documents per commit (default 64; 1,024 with --engine ray).")]
    = None,
    chunk_tokens: ChunkTokens = None,
    engine: EngineOption = "local",
    address: AddressOption = None,
    actors: ActorsOption = None,
) -> None:  # fmt: skip
    """Re-embed the old index's stored texts with the new model into a new index; resumable after a kill."""
    from embedlab.operate.migrate import build

    def progress(done: int, total: int) -> None:
        err.print(f"built {done}/{total} documents", highlight=False)
        sys.stderr.flush()

    on_ray = cluster(address, actors, batch) if engine == "ray" else None
    result = build(source, model, out, batch=batch or 64, chunk_tokens=chunk_tokens, progress=progress, engine=engine,
                   cluster=on_ray)  # fmt: skip
    console.print(f"{result.path}: complete, {result.documents} documents ({result.embedded} embedded by this run, "
                  f"{result.seconds:.1f} s)")  # fmt: skip


@migrate_app.command("compare")
def migrate_compare(
    old: Source,
    new: Annotated[Path, typer.Argument(help="The new index folder.")],
    benchmark: Annotated[Path | None, typer.Option(help="A BEIR folder (quality, agreement, thresholds).")] = None,
    split: Annotated[str, typer.Option(help="The benchmark's split.")] = "test",
    queries: Annotated[
        Path | None, typer.Option(help="A query log: JSON lines with a 'query' field (e.g. the shadow log).")
    ] = None,
    k: Annotated[int, typer.Option("-k", help="Depth of the agreement measures.")] = 10,
    objective: Annotated[str, typer.Option(help="Threshold objective to recalibrate ('none': skip).")] = "f1",
    out: Annotated[Path | None, typer.Option(help="Folder for compare.json and report.html (default NEW/compare).")]
    = None,
) -> None:  # fmt: skip
    """Compare two indexes: overlap, Jaccard, RBO, top-1 agreement, NDCG@10 of both with the paired test."""
    from embedlab.evaluate import load_beir
    from embedlab.index import Index
    from embedlab.operate.aliases import resolve
    from embedlab.operate.compare import compare, save
    from embedlab.operate.promote import default_comparison

    bench = load_beir(benchmark, split=split) if benchmark else None
    texts = _log_queries(queries) if queries else []
    result = compare(Index.open(resolve(old)), Index.open(new), benchmark=bench, queries=texts, k=k,
                     objective=None if objective == "none" else objective)  # fmt: skip
    path = save(result, out or default_comparison(new).parent)
    quality = result.get("retrieval")
    if quality:
        test = quality["ndcg@10_test"]
        before, after = _estimate(quality["old"]["ndcg@10"]), _estimate(quality["new"]["ndcg@10"])
        console.print(f"NDCG@10 old {before}, new {after}; difference {test['difference']['value']:+.4f}, "
                      f"p = {test['p_value']:.4f} ({test['verdict']})")  # fmt: skip
    for source, values in result["agreement"].items():
        console.print(f"{source} ({values['queries']} queries): overlap@{k} {_estimate(values['overlap'])}, "
                      f"Jaccard {_estimate(values['jaccard'])}, RBO {_estimate(values['rbo'])}, "
                      f"top-1 {_estimate(values['top1'])}")  # fmt: skip
    thresholds = result.get("thresholds", {})
    if thresholds:
        console.print(f"threshold: {thresholds.get('status')} {thresholds.get('path') or thresholds.get('reason', '')}")
    console.print(f"saved {path} and {path.with_name('report.html')}")


@migrate_app.command("promote")
def migrate_promote(
    alias: AliasFile,
    new: Annotated[Path, typer.Argument(help="The new index folder.")],
    comparison: Annotated[Path | None, typer.Option(help="compare.json (default NEW/compare/compare.json).")] = None,
    force: Annotated[bool, typer.Option(help="Promote even when the gate fails (never a half-built index).")] = False,
    threshold: Annotated[bool, typer.Option(help="Require a calibrated threshold for the new index.")] = True,
) -> None:
    """Point the alias at the new index if the gate passes: not significantly worse, threshold calibrated."""
    from embedlab.operate.promote import promote

    state, gate = promote(alias, new, comparison=comparison, force=force, require_threshold=threshold)
    for failure in gate.failures:
        err.print(f"[yellow]forced past:[/] {failure}", highlight=False)
    console.print(f"{alias} -> {state.target} (was {state.previous[0]}; 'embedlab migrate rollback {alias}' goes back)")


@migrate_app.command("rollback")
def migrate_rollback(alias: AliasFile) -> None:
    """Point the alias back at its previous index."""
    from embedlab.operate.aliases import rollback

    state = rollback(alias)
    console.print(f"{alias} -> {state.target}")


@migrate_app.command("status")
def migrate_status(alias: AliasFile) -> None:
    """Show what the alias points at, what it pointed at before, and its history."""
    from embedlab.operate.aliases import read_alias

    print_json(read_alias(alias).to_dict())


def _log_queries(path: Path) -> list[str]:
    """The ``query`` of each record of a log (the shadow log, or any log with that field), none blank."""
    from embedlab.operate.monitor.baseline import read_queries

    queries = read_queries(path)
    if not queries or not all(query.strip() for query in queries):
        raise InputError(f"The query log {path} holds no queries, or a blank one.")
    return queries


def _estimate(values: dict[str, float]) -> str:
    return f"{values['value']:.4f} [{values['low']:.4f}, {values['high']:.4f}]"


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"
