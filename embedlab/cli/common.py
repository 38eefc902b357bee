"""What every command group shares: the consoles, the option types, error handling and the results table.

An :class:`~embedlab.errors.EmbedlabError` (bad input, a missing model, an index of another model) ends
the command with ``error: MESSAGE`` on stderr and exit code 2, never a traceback (:func:`run`).
"""

from __future__ import annotations

import inspect
import json
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, get_args, get_origin

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from embedlab.errors import EmbedlabError

if TYPE_CHECKING:
    from embedlab.evaluate.suite import EvaluationReport

console = Console()
err = Console(stderr=True)

ModelOption = Annotated[
    str | None,
    typer.Option("--model", "-m", help="Model directory or hub id; default: the bundled all-MiniLM-L6-v2."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
SeedOption = Annotated[int, typer.Option(help="Random seed (data order, sampling, initialisation).")]

Command = TypeVar("Command", bound=Callable[..., Any])


def run(app: typer.Typer) -> None:
    """Run ``app``, turning an embedlab error into ``error: MESSAGE`` on stderr and exit code 2."""
    try:
        app()
    except EmbedlabError as exc:
        err.print("[red]error:[/]", escape(str(exc)), soft_wrap=True)
        sys.exit(2)


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON (values JSON does not know, such as paths, as strings)."""
    console.print_json(json.dumps(data, default=str))


def warn(message: str) -> None:
    """A ``warning:`` line on stderr."""
    err.print("[yellow]warning:[/]", escape(message), soft_wrap=True)


def options_from(
    fields: Mapping[str, tuple[Any, Any, str]], types: Mapping[str, Any] | None = None
) -> Callable[[Command], Command]:
    """Give a command that takes ``**options`` one Typer option per field: its type, default and help.

    ``fields`` maps a name to ``(type, default, description)``, as
    :func:`~embedlab.index.options.option_fields` gives them; ``types`` replaces a field's type on the
    command line (a path for an object, say). Bounds in the type stay with the library, which checks them
    and names the option. The options go before the command's keyword-only parameters.
    """
    cli_types = dict(types or {})

    def decorate(command: Command) -> Command:
        signature = inspect.signature(command, eval_str=True)
        own = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
        at = next((i for i, p in enumerate(own) if p.kind is p.KEYWORD_ONLY), len(own))
        added = [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                              annotation=Annotated[cli_types.get(name, _bare(kind)), typer.Option(help=_sentence(doc))])
            for name, (kind, default, doc) in fields.items()
        ]  # fmt: skip
        command.__signature__ = signature.replace(parameters=[*own[:at], *added, *own[at:]])  # type: ignore[attr-defined]
        return command

    return decorate


def _sentence(text: str) -> str:
    """``text`` with a capital first letter, as every help text of the command line starts."""
    return text[:1].upper() + text[1:]


def _bare(kind: Any) -> Any:
    """``kind`` without its ``Annotated`` constraints."""
    return get_args(kind)[0] if get_origin(kind) is Annotated else kind


def results_table(report: EvaluationReport, task: str, metrics: list[str] | None = None) -> Table:
    """One task of an evaluation as a table: a row per system, each metric with its 95% interval."""
    info = report.tasks[task]
    shown = metrics or info["headline"]
    table = Table(title=f"{info['data'].get('name', info['title'])} (95% CI; vs {report.baseline})")
    for column in ("system", *shown):
        table.add_column(column, justify="left" if column == "system" else "right")
    for row in report.rows(task, shown):
        table.add_row(*row)
    return table
