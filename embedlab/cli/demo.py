"""``embedlab demo``: the end-to-end demo, offline, on the Python standard library's docstrings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from embedlab.cli.common import console


def register(app: typer.Typer) -> None:
    """Add ``demo`` to the main app."""
    app.command()(demo)


def demo(
    out: Annotated[Path, typer.Option(help="Folder for the demo's outputs.")] = Path("demo-output"),
    limit: Annotated[int | None, typer.Option(help="Use at most this many docstrings (quicker).")] = None,
    adapt: Annotated[bool, typer.Option(help="Fine-tune and evaluate base vs adapted (a few minutes).")] = True,
) -> None:
    """Run the end-to-end demo offline on the Python standard library's docstrings."""
    from embedlab.demo import run_demo

    run_demo(out, limit=limit, adapt=adapt, console=console)
