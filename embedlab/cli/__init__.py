"""The ``embedlab`` command line: a thin layer over the Python API, one module per command group.

Each command parses its options, calls one library function and prints what it returns. The groups:
:mod:`~embedlab.cli.encode` (encode, similarity, check, cache), :mod:`~embedlab.cli.models` (models,
packs), :mod:`~embedlab.cli.evaluate` (eval, benchmark), :mod:`~embedlab.cli.index`,
:mod:`~embedlab.cli.adapt` (adapt, negatives), :mod:`~embedlab.cli.bias`, :mod:`~embedlab.cli.optimize`,
:mod:`~embedlab.cli.serve`, :mod:`~embedlab.cli.label`, the production rooms (:mod:`~embedlab.cli.threshold`,
:mod:`~embedlab.cli.migrate`, :mod:`~embedlab.cli.monitor`, :mod:`~embedlab.cli.compress`) and
:mod:`~embedlab.cli.demo`; what they share is in :mod:`~embedlab.cli.common`.
A new group is a module with a ``register(app)`` function, added to ``GROUPS``.

Example:
    $ embedlab encode corpus.jsonl --text-field text --id-field _id -o corpus.parquet
    $ embedlab similarity "The weather is lovely today." "It's so sunny outside!"
    $ embedlab models show
    $ embedlab check corpus.parquet
"""

from __future__ import annotations

from typing import Annotated

import typer

from embedlab import __version__
from embedlab.cli import (
    adapt,
    bias,
    compress,
    demo,
    encode,
    evaluate,
    index,
    label,
    migrate,
    models,
    monitor,
    optimize,
    serve,
    threshold,
)
from embedlab.cli.common import console, run

GROUPS = (
    encode,
    models,
    evaluate,
    index,
    adapt,
    label,
    bias,
    optimize,
    threshold,
    migrate,
    monitor,
    compress,
    serve,
    demo,
)

app = typer.Typer(
    help="embedlab: local-first custom text embeddings. Every command works offline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
for group in GROUPS:
    group.register(app)


def _version(value: bool) -> None:
    if value:
        console.print(f"embedlab {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """embedlab: local-first custom text embeddings."""


def main() -> None:
    """Console-script entry point: run the app, turning embedlab errors into a message and exit code 2."""
    run(app)
