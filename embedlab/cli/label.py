"""``embedlab label``: judge hybrid-search candidates for your queries in the terminal; BEIR qrels; resumable.

Example:
    $ embedlab label queries.txt --index my-index --out my-labels      # writes my-labels/qrels/test.tsv
    $ embedlab label queries.txt --index my-index --out my-labels --answers answers.txt   # scripted
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from embedlab.cli.common import console
from embedlab.errors import InputError


def register(app: typer.Typer) -> None:
    """Add ``label`` to the main app."""
    app.command("label")(label)


def label(
    queries: Annotated[Path, typer.Argument(help="Your queries: .txt (one a line) or .jsonl/.csv with id and text.")],
    index: Annotated[Path, typer.Option(help="The index whose documents are proposed (`embedlab index build`).")],
    out: Annotated[Path, typer.Option(help="Benchmark folder: qrels/SPLIT.tsv and queries.jsonl are written here.")],
    split: Annotated[str, typer.Option(help="The qrels file's name: qrels/SPLIT.tsv.")] = "test",
    k: Annotated[int, typer.Option("-k", min=1, help="Candidates shown per query.")] = 10,
    mode: Annotated[str, typer.Option(help="How candidates are found: hybrid, vector or bm25.")] = "hybrid",
    answers: Annotated[
        Path | None,
        typer.Option(help="Read the answers from this file, one a line ('-': standard input) instead of prompts."),
    ] = None,
    width: Annotated[int, typer.Option(min=20, help="Characters of each candidate shown.")] = 300,
) -> None:
    """Judge the candidates hybrid search proposes for each query; answers are saved at once, a rerun resumes.

    Answer with the ranks that are relevant (1,3), nothing (or 0) when none is, s to skip, q to stop.
    """
    from embedlab.evaluate.labels import ENOUGH_PAIRS, label_queries, read_queries
    from embedlab.index import Index

    asked = read_queries(queries)
    opened = Index.open(index)
    scripted = _lines(answers) if answers is not None else None

    def propose(query: str, count: int) -> list[tuple[str, str]]:
        return [(hit.doc_id, hit.text) for hit in opened.search(query, count, mode=mode)]

    def answer(query: str, candidates: list[tuple[str, str]]) -> str:
        table = Table("#", "document", "text", title=f"[bold]{escape(query)}", title_justify="left")
        for rank, (doc_id, text) in enumerate(candidates, start=1):
            shown = text if len(text) <= width else text[: width - 1] + "…"
            table.add_row(str(rank), escape(doc_id), escape(shown))
        console.print(table)
        if scripted is None:
            return str(typer.prompt("relevant ranks (e.g. 1,3; empty: none; s: skip; q: quit)", default="",
                                    show_default=False))  # fmt: skip
        reply = next(scripted, "q")
        console.print(f"answer: {reply}")
        return reply

    def complain(message: str) -> None:
        if scripted is not None:
            raise InputError(message)
        console.print(f"[yellow]{escape(message)}")

    qrels = out / "qrels" / f"{split}.tsv"
    summary = label_queries(asked, propose, qrels, answer=answer, k=k, on_error=complain)
    console.print(
        f"{summary.judged} queries judged now, {summary.already_judged} before, {summary.skipped} skipped"
        + (f"; stopped with {summary.remaining} to go (run again to resume)" if summary.stopped else "")
    )
    more = max(0, ENOUGH_PAIRS - summary.relevant_pairs)
    console.print(
        f"{summary.relevant_pairs} relevant pairs in {qrels}"
        + (f": {more} more and `adapt auto` fine-tunes on real pairs" if more else ": enough to fine-tune on")
    )


def _lines(path: Path) -> Iterator[str]:
    """The answers, one a line, from a file or standard input ('-')."""
    if str(path) == "-":
        yield from (line.rstrip("\n") for line in sys.stdin)
        return
    with open(path, encoding="utf-8") as handle:
        yield from (line.rstrip("\n") for line in handle)
