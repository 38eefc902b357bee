"""The ``--engine``, ``--address`` and ``--actors`` options shared by the commands that can run on Ray.

``--engine ray`` runs ``embedlab encode``, ``index build``, ``index add`` and ``migrate build`` on Ray
(:mod:`embedlab.scale`): a local Ray on 127.0.0.1 by default, or the cluster at ``--address``. Progress goes to
stderr.

Example:
    $ embedlab index build my-index -i docs.jsonl --engine ray --actors 8
    $ embedlab index add my-index -i more.parquet --engine ray --address 10.0.0.5:6379
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from embedlab.cli.common import err

if TYPE_CHECKING:
    from embedlab.scale import Cluster, Progress

EngineOption = Annotated[
    Literal["local", "ray"], typer.Option(help=r"local: this process; ray: an actor pool on Ray (embedlab\[ray]).")
]
AddressOption = Annotated[
    str | None, typer.Option(help="With --engine ray: the head of a running Ray cluster (default: a local Ray).")
]
ActorsOption = Annotated[int | None, typer.Option(help="With --engine ray: encoder actors (default: one per CPU).")]


def cluster(address: str | None, actors: int | None, commit_size: int | None = None) -> Cluster:
    """The :class:`~embedlab.scale.Cluster` of the options (``commit_size``: documents per commit, else the default)."""
    from embedlab.scale import Cluster

    return Cluster(address=address, actors=actors, **({} if commit_size is None else {"commit_size": commit_size}))


@contextmanager
def progress_bar() -> Iterator[Callable[[Progress], None]]:
    """A transient bar on stderr (documents done, documents/s, ETA); yields the callback that moves it."""
    from rich.progress import BarColumn, TextColumn
    from rich.progress import Progress as Bar

    with Bar(BarColumn(), TextColumn("{task.fields[line]}"), console=err, transient=True) as bar:
        task = bar.add_task("ray", total=None, line="starting Ray")

        def show(progress: Progress) -> None:
            bar.update(task, total=progress.total, completed=progress.done, line=progress.line())

        yield show
