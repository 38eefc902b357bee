"""Documents for an index read from a file: one read, ids, texts, titles and metadata fields."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import embedlab.io
from embedlab import InputError
from embedlab.index.documents import metadata_types, read_documents

ROWS = [
    {"_id": "d1", "title": "Cats", "text": "The cat sleeps.", "lang": "en", "year": 2020},
    {"_id": "d2", "title": "", "text": "Le chat dort.", "lang": "fr", "year": 2021},
]


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in ROWS), encoding="utf-8")
    return path


def test_documents_with_titles_and_metadata_from_one_read(source: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[Path] = []
    read_text_file = embedlab.io.read_text_file
    monkeypatch.setattr(embedlab.io, "read_text_file", lambda path: reads.append(path) or read_text_file(path))
    documents = read_documents(source, title_field="title", metadata_fields=["lang", "year"])
    assert documents == [
        {"id": "d1", "text": "The cat sleeps.", "title": "Cats", "lang": "en", "year": 2020},
        {"id": "d2", "text": "Le chat dort.", "lang": "fr", "year": 2021},  # an empty title is no title
    ]
    assert reads == [source]  # the CLI read it twice when it had metadata fields


def test_documents_without_metadata_and_from_text_lines(source: Path, tmp_path: Path) -> None:
    assert read_documents(source) == [{"id": "d1", "text": "The cat sleeps."}, {"id": "d2", "text": "Le chat dort."}]
    lines = tmp_path / "docs.txt"
    lines.write_text("first\n\nsecond\n", encoding="utf-8")
    assert read_documents(lines) == [{"id": "1", "text": "first"}, {"id": "3", "text": "second"}]


def test_missing_metadata_fields_and_metadata_from_text_lines_are_refused(source: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no metadata fields \['topic'\]"):
        read_documents(source, metadata_fields=["lang", "topic"])
    lines = tmp_path / "docs.txt"
    lines.write_text("first\n", encoding="utf-8")
    with pytest.raises(
        InputError, match=r"records are read from \.jsonl, \.csv, \.tsv, \.parquet or \.lance, not '\.txt'"
    ):
        read_documents(lines, metadata_fields=["lang"])


def test_metadata_types_default_to_string() -> None:
    assert metadata_types(["lang", "year:int", "odd:"]) == {"lang": "string", "year": "int", "odd": ""}
