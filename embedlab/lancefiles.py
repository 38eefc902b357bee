"""Lance datasets as input: a folder ``NAME.lance`` (what LanceDB and pylance write), read through LanceDB.

LanceDB, already part of embedlab's stack, reads the Lance format itself, so reading a Lance dataset needs no
other package (pylance, which Ray Data's own ``read_lance`` needs, pins an older lance-namespace than LanceDB
0.40's). One process reads a dataset whole (:func:`lance_records`, as a parquet file); the Ray engine reads
ranges of rows of one version on its workers (:func:`embedlab.scale.read.read_lance`).

Example:
    >>> lance_name("s3://bucket/docs.lance/")
    ('s3://bucket', 'docs')
    >>> lance_name("corpus/docs.lance")
    ('corpus', 'docs')
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from embedlab.errors import InputError
from embedlab.io import Records

SUFFIX = ".lance"


def is_lance(source: str | Path) -> bool:
    """Whether ``source`` names a Lance dataset folder (``NAME.lance``)."""
    return str(source).rstrip("/").lower().endswith(SUFFIX)


def lance_name(source: str | Path) -> tuple[str, str]:
    """The database (the dataset's parent folder or prefix) and the table name of ``.../NAME.lance``, for LanceDB."""
    parent, _, name = str(source).rstrip("/").rpartition("/")
    if not name.lower().endswith(SUFFIX):
        raise InputError(f"{source}: a Lance dataset is a folder named NAME{SUFFIX}.")
    return parent or ".", name[: -len(SUFFIX)]


def open_lance(source: str | Path, version: int | None = None) -> Any:
    """The LanceDB table of the Lance dataset ``source``, at ``version`` (default: its latest).

    Raises:
        InputError: not a Lance dataset folder, or one that LanceDB cannot open.
    """
    import lancedb

    parent, name = lance_name(source)
    if "://" not in str(source) and not Path(source).is_dir():  # LanceDB would make the parent folder
        raise InputError(f"{source}: no such Lance dataset folder.")
    try:
        table = lancedb.connect(parent).open_table(name)
        if version is not None:
            table.checkout(version)
    except (ValueError, OSError, RuntimeError) as exc:
        raise InputError(f"{source}: not a Lance dataset that LanceDB can read ({exc}).") from exc
    return table


def lance_records(source: str | Path) -> Records:
    """The rows of the Lance dataset ``source`` as records (``where`` names the row), read whole at its latest version.

    Raises:
        InputError: what :func:`open_lance` refuses.
    """
    rows = open_lance(source).search().limit(None).to_arrow().to_pylist()
    return Records(Path(source), enumerate(rows, start=1), unit="row")
