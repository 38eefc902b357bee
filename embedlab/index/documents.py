"""Documents for an index from a file: id, text, title and metadata fields, from one read of the file.

What ``embedlab index build`` and ``index add`` give :meth:`~embedlab.index.Index.add`. Importing this
module loads neither LanceDB nor faiss.

Example:
    >>> metadata_types(["lang", "year:int"])
    {'lang': 'string', 'year': 'int'}
    >>> read_documents("docs.jsonl", metadata_fields=["lang"])[0]  # doctest: +SKIP
    {'id': 'd1', 'text': 'The cat sat on the mat.', 'lang': 'en'}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from embedlab.errors import InputError
from embedlab.io import TEXT_SUFFIXES, TextRecords, read_records, read_texts, text_records


def metadata_types(specs: Sequence[str]) -> dict[str, str]:
    """``NAME`` or ``NAME:TYPE`` specs (as ``--metadata-field`` takes them) as ``{name: type}``, string by default."""
    types = {}
    for spec in specs:
        name, colon, kind = spec.partition(":")
        types[name] = kind if colon else "string"
    return types


def read_documents(
    path: str | Path,
    *,
    text_field: str | None = None,
    id_field: str | None = None,
    title_field: str | None = None,
    metadata_fields: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Documents ``{"id", "text"[, "title"], *metadata_fields}`` from a file, read once.

    The fields are those of :func:`~embedlab.io.read_texts` (a .txt file holds a document a line, and no
    metadata); a title is kept when the document has one.

    Raises:
        InputError: what :func:`~embedlab.io.read_texts` refuses; metadata fields from a .txt file or that
            the records do not have.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    rows = read_records(path) if metadata_fields or (suffix in TEXT_SUFFIXES and suffix != ".txt") else None
    if rows is None:
        records = read_texts(path, text_field=text_field, id_field=id_field, title_field=title_field)
    else:
        records = text_records(rows, text_field=text_field or "text", id_field=id_field, title_field=title_field)
    missing = sorted(set(metadata_fields) - set(rows[0])) if rows else []
    if missing:
        raise InputError(f"{path}: no metadata fields {missing}.")
    return as_documents(records, rows or [{} for _ in records.ids], metadata_fields)


def as_documents(
    records: TextRecords, rows: Sequence[Mapping[str, Any]], metadata_fields: Sequence[str]
) -> list[dict[str, Any]]:
    """Documents from checked ``records`` and the ``rows`` they came from (for the metadata fields).

    Example:
        >>> as_documents(TextRecords(ids=["1"], texts=["Hi."], titles=["T"]), [{"lang": "en"}], ["lang"])
        [{'id': '1', 'text': 'Hi.', 'title': 'T', 'lang': 'en'}]
    """
    titles = records.titles or [None] * len(records.ids)
    return [
        {"id": doc_id, "text": text, **({"title": title} if title else {}), **{f: row.get(f) for f in metadata_fields}}
        for doc_id, text, title, row in zip(records.ids, records.texts, titles, rows, strict=True)
    ]
