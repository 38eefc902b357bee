"""Read texts from txt/jsonl/csv/parquet files and write or read embeddings as parquet or npy.

Embedding files carry the model's :class:`~embedlab.models.ModelInfo` (fingerprint included), the
precision and the ids, so a later step can refuse vectors from another model. Writes are atomic: a
temporary file renamed into place (:mod:`embedlab.atomic`), so a killed process never leaves a half-written
file under the name.

Example:
    >>> records = read_texts("corpus.jsonl", text_field="text", id_field="_id")  # needs a corpus file  # doctest: +SKIP
    >>> write_embeddings("corpus.parquet", records.ids, vectors, info=model.info)  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embedlab import __version__
from embedlab.atomic import write_file, write_json
from embedlab.encode.encoder import PRECISIONS
from embedlab.errors import InputError
from embedlab.models import ModelInfo

TEXT_SUFFIXES = (".txt", ".jsonl", ".ndjson", ".csv", ".tsv", ".parquet", ".lance")
EMBEDDING_SUFFIXES = (".parquet", ".npy")
_ID_FIELDS = ("id", "_id")
_META_KEY = b"embedlab"


@dataclass
class TextRecords:
    """Texts read from a file with their ids (and titles, when a title field was asked for)."""

    ids: list[str]
    texts: list[str]
    titles: list[str | None] | None = None
    skipped_blank_lines: int = 0


class Records(list[dict[str, Any]]):
    """The rows of a records file as dicts, each with the line it starts on (for error messages).

    Example:
        >>> rows = read_records("pairs.jsonl")  # needs a pairs file  # doctest: +SKIP
        >>> rows.where(0)  # doctest: +SKIP
        'pairs.jsonl:1'
    """

    def __init__(self, path: Path, rows: Iterable[tuple[int, dict[str, Any]]], *, unit: str = "line") -> None:
        numbered = list(rows)
        super().__init__(row for _, row in numbered)
        self.path = path
        self.lines = [number for number, _ in numbered]
        self.unit = unit

    def where(self, index: int) -> str:
        """Where the record at ``index`` (0-based) is: ``path:line``, or ``path: row N`` for parquet."""
        if self.unit == "line":
            return f"{self.path}:{self.lines[index]}"
        return f"{self.path}: {self.unit} {self.lines[index]}"


@dataclass
class EmbeddingFile:
    """Vectors read back from an embeddings file, with their ids and the metadata written beside them."""

    ids: list[str]
    vectors: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)


def read_texts(
    path: str | Path,
    *,
    text_field: str | None = None,
    id_field: str | None = None,
    title_field: str | None = None,
) -> TextRecords:
    """Read texts (and ids) from a .txt, .jsonl, .csv/.tsv or .parquet file, or a Lance dataset folder.

    A .txt file holds one text per line, blank lines skipped, ids are line numbers. Other formats hold
    records: the text comes from ``text_field`` (default ``"text"``), the id from ``id_field`` (default
    ``"id"`` or ``"_id"`` when present, else the row number).

    Raises:
        InputError: unknown format, bytes that are not UTF-8 (with the line), a malformed JSON line,
            a missing field or a non-string text (with the record), duplicate ids.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TEXT_SUFFIXES:
        raise InputError(f"{path}: unknown input format {suffix!r}; use one of {', '.join(TEXT_SUFFIXES)}.")
    if suffix == ".txt":
        lines = _lines(read_text_file(path))
        kept = [(str(number), line) for number, line in enumerate(lines, start=1) if line.strip()]
        return TextRecords(
            ids=[i for i, _ in kept], texts=[t for _, t in kept], skipped_blank_lines=len(lines) - len(kept)
        )
    return text_records(read_records(path), text_field=text_field or "text", id_field=id_field, title_field=title_field)


def read_records(path: str | Path) -> Records:
    """The rows of a .jsonl/.ndjson, .csv/.tsv (with header) or .parquet file or a .lance dataset, as dicts.

    :meth:`Records.where` gives the line each row starts on, for messages about a row.

    Raises:
        InputError: unknown format, missing file, bytes that are not UTF-8, a malformed JSON line, a
            malformed CSV row (an unclosed quote, say) or a row with another number of fields than the header.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TEXT_SUFFIXES or suffix == ".txt":
        raise InputError(f"{path}: records are read from .jsonl, .csv, .tsv, .parquet or .lance, not {suffix!r}.")
    if suffix == ".lance":
        from embedlab.lancefiles import lance_records

        return lance_records(path)
    _existing_file(path)
    if suffix == ".parquet":
        return _parquet_rows(path)
    if suffix in (".csv", ".tsv"):
        return _table_rows(path)
    return _jsonl_rows(path)


def write_records(path: str | Path, rows: Sequence[dict[str, Any]]) -> Path:
    """Write dict rows to .jsonl, .csv or .parquet (columns from the first row), atomically.

    Example:
        >>> write_records(tmp / "pairs.jsonl", [{"anchor": "q", "positive": "d"}]).name
        'pairs.jsonl'
    """
    path = writable_path(path, (".jsonl", ".csv", ".parquet"))
    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    fields = list(rows[0]) if rows else []

    def write(tmp: Path) -> None:
        if suffix == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.Table.from_pylist(list(rows)), tmp)
            return
        with tmp.open("w", encoding="utf-8", newline="") as out:
            if suffix == ".csv":
                writer = csv.DictWriter(out, fieldnames=fields)
                writer.writeheader()
                writer.writerows(rows)
            else:
                out.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)

    return write_file(path, write)


def write_embeddings(
    path: str | Path,
    ids: Sequence[str],
    vectors: np.ndarray,
    *,
    info: ModelInfo,
    precision: str = "float32",
) -> Path:
    """Write vectors with ids and model metadata to ``.parquet`` or ``.npy`` (+ ``.meta.json``), atomically.

    Parquet holds columns ``id`` and ``embedding`` (a fixed-size list) and the metadata in the schema.
    ``.npy`` holds the matrix; its sidecar ``<name>.meta.json`` holds the ids and the metadata.
    """
    path = writable_path(path, EMBEDDING_SUFFIXES)
    if len(ids) != len(vectors):
        raise InputError(f"{len(ids)} ids for {len(vectors)} vectors.")
    if precision not in PRECISIONS:
        raise InputError(f"Unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}.")
    meta = {"embedlab_version": __version__, "model": info.to_dict(), "precision": precision, "count": len(ids)}
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        flat = pa.array(np.ascontiguousarray(vectors).reshape(-1))
        column = pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1] if vectors.ndim == 2 else 0)
        table = pa.table({"id": pa.array([str(i) for i in ids], pa.string()), "embedding": column})
        table = table.replace_schema_metadata({_META_KEY: json.dumps(meta).encode()})
        write_file(path, lambda tmp: pq.write_table(table, tmp))
    else:
        write_file(path, lambda tmp: np.save(tmp, vectors, allow_pickle=False))
        write_json(_sidecar(path), {**meta, "ids": [str(i) for i in ids]}, indent=None)
    return path


def writable_path(path: str | Path, suffixes: Sequence[str] = EMBEDDING_SUFFIXES) -> Path:
    """``path`` as a :class:`Path` when a file with one of ``suffixes`` can be written there.

    Check it before long work (encoding) so that a bad output fails at once.

    Raises:
        InputError: another suffix, a folder at ``path``, or a file where one of its folders should be.
    """
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise InputError(f"{path}: write as {' or '.join(suffixes)}, not {path.suffix.lower()!r}.")
    if path.is_dir():
        raise InputError(f"{path} is a folder; give a file name, e.g. {path / ('output' + suffixes[0])}.")
    writable_folder(path.parent)
    return path


def read_embeddings(path: str | Path) -> EmbeddingFile:
    """Read a file written by :func:`write_embeddings` (a bare .npy without sidecar works too)."""
    path = _existing_file(path)
    suffix = path.suffix.lower()
    ids: list[str] | None = None
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(path)
            if "embedding" not in table.column_names:
                raise InputError(f"{path}: no 'embedding' column (columns: {', '.join(table.column_names)}).")
            raw = (table.schema.metadata or {}).get(_META_KEY)
            meta = json.loads(raw) if raw else {}
            column = table.column("embedding").combine_chunks()
            width = getattr(column.type, "list_size", None)
            if width is None:
                raise InputError(f"{path}: 'embedding' must be a fixed-size list column, got {column.type}.")
            vectors = column.flatten().to_numpy(zero_copy_only=False).reshape(len(column), width)
            ids = [str(i) for i in table.column("id").to_pylist()] if "id" in table.column_names else []
        elif suffix == ".npy":
            vectors = np.load(path, allow_pickle=False)
            sidecar = _sidecar(path)
            meta = json.loads(sidecar.read_text(encoding="utf-8")) if sidecar.is_file() else {}
        else:
            raise InputError(f"{path}: embeddings are read from .parquet or .npy, not {suffix!r}.")
    except (OSError, ValueError, EOFError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(
            f"{path}: cannot read embeddings ({type(exc).__name__}: {exc}); the file is corrupt or not an "
            "embeddings file."
        ) from exc
    meta = _checked_meta(path, meta)
    ids = ids if ids is not None else [str(i) for i in meta.pop("ids", [])]
    if vectors.ndim != 2:
        raise InputError(f"{path}: expected a 2-D matrix of vectors, got shape {vectors.shape}.")
    if vectors.dtype.kind not in "fiu":
        raise InputError(f"{path}: vectors must be real numbers (floats or integers), not {vectors.dtype}.")
    expected = meta.get("count", len(vectors))
    if (ids and len(ids) != len(vectors)) or expected != len(vectors):
        raise InputError(
            f"{path}: {len(vectors)} vectors but {len(ids) or expected} ids; the file and its metadata are out of "
            "step (an interrupted write?). Encode again."
        )
    return EmbeddingFile(ids=ids or [str(i) for i in range(len(vectors))], vectors=vectors, meta=meta)


def read_text_file(path: str | Path) -> str:
    """A UTF-8 text file's content (a BOM is dropped).

    Raises:
        InputError: no such file, or bytes that are not UTF-8 (naming the byte and the line).
    """
    data = _existing_file(path).read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(
            f"{path}: not valid UTF-8 at byte {exc.start} (line {line}): {data[exc.start : exc.start + 4]!r}. "
            "Convert the file first, e.g. `iconv -f latin1 -t utf-8 in.txt > out.txt`."
        ) from exc


def _lines(text: str) -> list[str]:
    """Lines split at line feeds only: str.splitlines also splits at U+2028, form feeds and others."""
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    return lines[:-1] if lines and lines[-1] == "" else lines


def read_table(path: str | Path) -> list[tuple[int, list[str]]]:
    """The rows of a .csv (quoted fields allowed) or .tsv (tabs separate, quotes are text) file as lists of cells.

    Each row comes with the line it starts on (a quoted field can span lines); blank lines are skipped.

    Raises:
        InputError: no such file, bytes that are not UTF-8, a malformed CSV row (an unclosed quote, text
            after a closing quote), with its line.
    """
    path = Path(path)
    tsv = path.suffix.lower() == ".tsv"
    reader = csv.reader(
        io.StringIO(read_text_file(path)),
        delimiter="\t" if tsv else ",",
        quoting=csv.QUOTE_NONE if tsv else csv.QUOTE_MINIMAL,
        strict=True,
    )
    rows = []
    start = 1  # the line the next row starts on
    try:
        for row in reader:
            if row:
                rows.append((start, row))
            start = reader.line_num + 1
    except csv.Error as exc:
        unclosed = "a quote opened in this row is never closed; " if "end of data" in str(exc) else ""
        raise InputError(
            f"{path}:{start}: malformed {'TSV' if tsv else 'CSV'} ({exc}): {unclosed}a field with commas, quotes or "
            'line breaks must be wholly in double quotes, with quotes inside it doubled ("").'
        ) from exc
    return rows


def _table_rows(path: Path) -> Records:
    """CSV or TSV rows under their header; each must have every column."""
    table = read_table(path)
    if not table:
        return Records(path, [])
    (first, header), rows = table[0], table[1:]
    repeated = sorted(name for name, count in Counter(header).items() if count > 1)
    if repeated:
        raise InputError(f"{path}:{first}: the header repeats the columns {', '.join(repeated)}.")
    for line, row in rows:
        if len(row) != len(header):
            raise InputError(f"{path}:{line}: expected {len(header)} fields ({', '.join(header)}), got {len(row)}.")
    return Records(path, ((line, dict(zip(header, row, strict=True))) for line, row in rows))


def _jsonl_rows(path: Path) -> Records:
    rows = []
    for number, line in enumerate(_lines(read_text_file(path)), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{number}: not valid JSON ({exc.msg}).") from exc
        if not isinstance(row, dict):
            raise InputError(f"{path}:{number}: each line must be a JSON object, got {type(row).__name__}.")
        rows.append((number, row))
    return Records(path, rows)


def _parquet_rows(path: Path) -> Records:
    import pyarrow.parquet as pq

    try:
        rows = pq.read_table(path).to_pylist()
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read parquet ({exc}).") from exc
    return Records(path, enumerate(rows, start=1), unit="row")


def text_records(
    rows: Records, *, text_field: str = "text", id_field: str | None = None, title_field: str | None = None
) -> TextRecords:
    """The texts, ids (and titles) of records already read, checked as :func:`read_texts` checks them."""
    path = rows.path
    if not rows:
        return TextRecords(ids=[], texts=[], titles=[] if title_field else None)
    fields = list(rows[0])
    if id_field is None:
        id_field = next((name for name in _ID_FIELDS if name in fields), None)
    for wanted, role in ((text_field, "text"), (id_field, "id"), (title_field, "title")):
        if wanted is not None and wanted not in fields:
            raise InputError(f"{path}: no {role} field {wanted!r}; fields are: {', '.join(fields)}.")
    ids, texts, titles = [], [], []
    for number, row in enumerate(rows):
        text, doc_id = row.get(text_field), row.get(id_field) if id_field else number
        if not isinstance(text, str):
            raise InputError(f"{rows.where(number)}: {type(text).__name__} in {text_field!r}, not a string.")
        if isinstance(doc_id, bool) or not isinstance(doc_id, str | int):
            raise InputError(
                f"{rows.where(number)}: {type(doc_id).__name__} in {id_field!r}, not a string or an integer."
            )
        texts.append(text)
        ids.append(str(doc_id))
        if title_field:
            title = row.get(title_field)
            if isinstance(title, list | dict):
                raise InputError(f"{rows.where(number)}: {type(title).__name__} in {title_field!r}, not a title.")
            titles.append(str(title) if title else None)
    repeated = sorted(i for i, count in Counter(ids).items() if count > 1)
    if repeated:
        raise InputError(f"{path}: ids must be unique; repeated: {', '.join(repeated[:10])}.")
    return TextRecords(ids=ids, texts=texts, titles=titles if title_field else None)


def writable_folder(path: str | Path) -> Path:
    """``path`` as a :class:`Path` when a folder can be made (or is) there; check it before long work.

    Raises:
        InputError: a file at ``path`` or where one of its folders should be.
    """
    path = Path(path)
    blocking = next((folder for folder in (path, *path.parents) if folder.exists() and not folder.is_dir()), None)
    if blocking is not None:
        raise InputError(f"{blocking} is a file, not a folder." if blocking == path else
                         f"{path}: {blocking} is a file, not a folder.")  # fmt: skip
    return path


def writable_files(folder: str | Path, *names: str) -> list[Path]:
    """The paths of the files ``names`` in ``folder``, once each can be written there; the folder is made.

    Everything is checked before the folder is made, so a report never half-writes into a bad place.

    Example:
        >>> writable_files("eval-out", "results.json", "report.html")  # doctest: +SKIP
        [PosixPath('eval-out/results.json'), PosixPath('eval-out/report.html')]

    Raises:
        InputError: a file at ``folder`` or where one of its folders should be, or a folder at one of the names.
    """
    base = writable_folder(folder)
    paths = [writable_path(base / name, (Path(name).suffix.lower(),)) for name in names]
    base.mkdir(parents=True, exist_ok=True)
    return paths


def _existing_file(path: str | Path) -> Path:
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a folder; give a file.")
    if not path.is_file():
        raise InputError(f"{path}: no such file.")
    return path


def _checked_meta(path: Path, meta: object) -> dict[str, Any]:
    """The metadata written beside embeddings, refused when damaged (another tool's file, a hand edit)."""
    if not isinstance(meta, dict):
        raise InputError(f"{path}: its embedlab metadata is not a JSON object; encode the texts again.")
    problems = []
    if not isinstance(meta.get("ids", []), list):
        problems.append("'ids' is not a list")
    if not isinstance(meta.get("count", 0), int) or isinstance(meta.get("count"), bool):
        problems.append("'count' is not a whole number")
    if meta.get("precision", "float32") not in PRECISIONS:
        problems.append(f"unknown precision {meta.get('precision')!r}")
    if not isinstance(meta.get("model", {}), dict):
        problems.append("'model' is not an object")
    if problems:
        raise InputError(f"{path}: its embedlab metadata is damaged ({'; '.join(problems)}); encode the texts again.")
    return meta


def _sidecar(path: Path) -> Path:
    return path.with_name(path.stem + ".meta.json")
