"""``embedlab demo``: the end-to-end demo, offline: standard-library docstrings, then adaptation on job titles."""

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
    adapt: Annotated[
        bool, typer.Option(help="Fine-tune on job titles and evaluate base vs adapted (a few minutes).")
    ] = True,
    occupations: Annotated[
        int | None,
        typer.Option(
            min=2, help="Adapt on this many of the 800 ESCO occupations shipped (default 400; fewer is quicker)."
        ),
    ] = None,
    optimize: Annotated[
        bool, typer.Option(help="Build an ONNX int8 variant and measure it against torch fp32 (under a minute).")
    ] = True,
) -> None:
    """Run the end-to-end demo offline: docstrings (search, evaluation, int8), then adaptation to job titles."""
    from embedlab.demo import run_demo

    run_demo(out, limit=limit, adapt=adapt, occupations=occupations, optimize=optimize, console=console)
