"""Reading a run's input with Ray Data: which files, which fields, and the documents of a batch of rows.

Ray Data reads .jsonl/.ndjson, .csv/.tsv and .parquet files (a file, or a folder or object-store prefix of them)
on the cluster's workers, and Lance datasets (a folder ``NAME.lance``) through LanceDB in ranges of rows
(:func:`read_lance`); :func:`documents` turns a batch of rows into documents as one process reads a file.

Example:
    >>> Fields(text="body", id="_id").metadata
    ()
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embedlab.errors import InputError
from embedlab.index.documents import as_documents
from embedlab.io import Records, text_records
from embedlab.lancefiles import SUFFIX as LANCE
from embedlab.lancefiles import is_lance, open_lance

if TYPE_CHECKING:
    import pyarrow as pa

FORMATS = (".jsonl", ".ndjson", ".csv", ".tsv", ".parquet")
#: Rows of a Lance dataset per read task (Ray's parallelism decides within these bounds), and per block of a task.
MIN_RANGE_ROWS, RANGE_ROWS, BLOCK_ROWS = 1_000, 100_000, 10_000


@dataclass(frozen=True)
class Fields:
    """Which fields of the input hold the text, the id, the title and the metadata."""

    text: str = "text"
    id: str | None = None  # None: id or _id when present, else the row number (encoding only)
    title: str | None = None
    metadata: tuple[str, ...] = ()


def read_dataset(source: str | Path, fields: Fields) -> tuple[Any, Fields]:
    """The Ray dataset of ``source``'s rows and ``fields`` with the id field resolved against its columns.

    CSV/TSV columns are read as strings, as :func:`~embedlab.io.read_records` reads them; a Lance dataset is read
    at the version it has now, its fields only.

    Raises:
        InputError: another format, no such file, or a field that the rows do not have.
    """
    import ray.data

    logging.getLogger("ray.data").setLevel(logging.WARNING)  # embedlab reports progress itself
    ray.data.DataContext.get_current().enable_progress_bars = False
    filesystem, first, suffix = check_source(source)
    if suffix == LANCE:
        dataset = None
    elif suffix == ".parquet":
        dataset = ray.data.read_parquet(str(source))
    elif suffix in (".csv", ".tsv"):
        with filesystem.open_input_stream(first) as stream:
            header = next(csv.reader(io.TextIOWrapper(stream, encoding="utf-8", newline=""), delimiter="\t"
                                     if suffix == ".tsv" else ","), [])  # fmt: skip
        dataset = _read_csv(str(source), "\t" if suffix == ".tsv" else ",", header)
    else:
        dataset = ray.data.read_json(str(source), lines=True)
    names = open_lance(source).schema.names if dataset is None else dataset.schema().names
    resolved = Fields(fields.text, fields.id or next((n for n in ("id", "_id") if n in names), None), fields.title,
                      fields.metadata)  # fmt: skip
    wanted = [(resolved.text, "text"), (resolved.id, "id"), (resolved.title, "title")]
    wanted += [(name, "metadata") for name in resolved.metadata]
    for name, role in wanted:
        if name is not None and name not in names:
            raise InputError(f"{source}: no {role} field {name!r}; fields are: {', '.join(names)}.")
    if dataset is None:
        dataset = read_lance(source, [name for name, _ in wanted if name is not None])
    return dataset, resolved


def read_lance(source: str | Path, columns: Sequence[str]) -> Any:
    """A Ray dataset of ``columns`` of the Lance dataset ``source``: LanceDB reads ranges of rows on Ray's workers.

    Every task reads the version the dataset has now, in row order, so the rows are those of that version once
    each even when the dataset changes during the run (Ray Data's own ``read_lance`` needs pylance).
    """
    import pyarrow as pa
    import ray.data
    from ray.data.block import BlockMetadata
    from ray.data.datasource import Datasource, ReadTask

    table = open_lance(source)
    version, total = table.version, table.count_rows()
    schema = pa.schema([table.schema.field(name) for name in columns])

    class LanceRanges(Datasource):
        def estimate_inmemory_data_size(self) -> int | None:
            return None

        def get_read_tasks(self, parallelism: int, per_task_row_limit: int | None = None,
                           data_context: Any = None) -> list[ReadTask]:  # fmt: skip
            step = min(RANGE_ROWS, max(MIN_RANGE_ROWS, -(-total // max(parallelism, 1))))
            return [
                ReadTask(partial(_read_range, str(source), version, list(columns), first, min(step, total - first)),
                         BlockMetadata(num_rows=min(step, total - first), size_bytes=None, input_files=None,
                                       exec_stats=None), schema=schema, per_task_row_limit=per_task_row_limit)
                for first in range(0, total, step)
            ]  # fmt: skip

    return ray.data.read_datasource(LanceRanges())


def _read_range(source: str, version: int, columns: list[str], first: int, count: int) -> Iterator[pa.Table]:
    """Rows ``first`` to ``first + count`` of ``version`` of a Lance dataset, in blocks of at most ``BLOCK_ROWS``."""
    import pyarrow as pa

    query = open_lance(source, version).search().select(columns).offset(first).limit(count)
    for batch in query.to_batches(BLOCK_ROWS):
        yield pa.Table.from_batches([batch])


def check_source(source: str | Path) -> tuple[Any, str, str]:
    """The file system of ``source``, its (first) file and that file's suffix; checked before Ray starts.

    Raises:
        InputError: nothing at ``source``, an empty folder, or a format the Ray engine does not read.
    """
    filesystem, first = _first_file(str(source))
    suffix = LANCE if is_lance(source) else Path(first).suffix.lower()
    if suffix not in (*FORMATS, LANCE):
        raise InputError(f"{source}: the Ray engine reads {', '.join(FORMATS)} files and {LANCE} datasets, "
                         f"not {suffix or 'this'!r}.")  # fmt: skip
    return filesystem, first, suffix


def _first_file(source: str) -> tuple[Any, str]:
    """The file system of ``source`` and ``source`` itself, or its first file when it is a folder or prefix.

    Raises:
        InputError: nothing at ``source``, or a folder without files.
    """
    from pyarrow import fs

    if "://" in source:
        filesystem, path = fs.FileSystem.from_uri(source)
    else:
        filesystem, path = fs.LocalFileSystem(), str(Path(source).resolve())
    info = filesystem.get_file_info(path)
    if info.type == fs.FileType.NotFound:
        raise InputError(f"{source}: no such file or folder.")
    if info.type == fs.FileType.Directory:
        files = sorted(found.path for found in filesystem.get_file_info(fs.FileSelector(path, recursive=True))
                       if found.type == fs.FileType.File)  # fmt: skip
        if not files:
            raise InputError(f"{source}: the folder holds no files.")
        path = files[0]
    return filesystem, path


def _read_csv(source: str, delimiter: str, header: list[str]) -> Any:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import ray.data

    return ray.data.read_csv(
        source,
        parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(header, pa.string()),
                                             strings_can_be_null=False, quoted_strings_can_be_null=False),
    )  # fmt: skip


def documents(batch: pa.Table, fields: Fields) -> list[dict[str, Any]]:
    """The documents of a batch of rows (id, text, title, metadata), checked as one process checks a file.

    Without an id field, ids are the rows' positions in the batch (the driver renumbers them).
    """
    rows = Records(Path("input"), enumerate(batch.to_pylist(), start=1), unit="batch row")
    records = text_records(rows, text_field=fields.text, id_field=fields.id, title_field=fields.title)
    return as_documents(records, rows, fields.metadata)
