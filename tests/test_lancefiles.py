"""Lance datasets as input to one process: read through LanceDB like a parquet file, refused clearly when absent."""

from __future__ import annotations

import json
from pathlib import Path

import lancedb
import numpy as np
import pyarrow as pa
import pytest

from embedlab import EmbeddingModel, Encoder
from embedlab.encode.files import encode_file
from embedlab.errors import InputError
from embedlab.index import Index
from embedlab.index.documents import read_documents
from embedlab.io import read_embeddings, read_texts
from embedlab.lancefiles import lance_name, lance_records

DOCS = [
    {"id": "a", "text": "The cat sleeps.", "lang": "en", "year": 2020},
    {"id": "b", "text": "Il pleut.", "lang": "fr", "year": 2021},
    {"id": "c", "text": "Rain again today.", "lang": None, "year": 2022},
]


def write_lance(folder: Path, docs: list[dict], fragments: int = 2) -> Path:
    """A Lance dataset ``folder/docs.lance`` written by LanceDB in ``fragments`` appends (one data file each)."""
    size = -(-len(docs) // fragments)
    table = lancedb.connect(str(folder)).create_table("docs", data=pa.Table.from_pylist(docs[:size]))
    for first in range(size, len(docs), size):
        table.add(pa.Table.from_pylist(docs[first : first + size]))
    return folder / "docs.lance"


def test_a_lance_dataset_reads_as_records_texts_and_documents(tmp_path: Path) -> None:
    source = write_lance(tmp_path, DOCS)
    rows = lance_records(source)
    assert list(rows) == DOCS and rows.where(1) == f"{source}: row 2"
    assert read_texts(source).ids == ["a", "b", "c"]
    assert read_documents(source, metadata_fields=["lang"]) == [
        {"id": "a", "text": "The cat sleeps.", "lang": "en"},
        {"id": "b", "text": "Il pleut.", "lang": "fr"},
        {"id": "c", "text": "Rain again today.", "lang": None},
    ]


def test_a_lance_dataset_is_encoded_and_indexed_as_its_jsonl_twin(tmp_path: Path, model: EmbeddingModel) -> None:
    source = write_lance(tmp_path, DOCS)
    encoder = Encoder(model, show_progress=False)
    (tmp_path / "docs.jsonl").write_text("".join(json.dumps(doc) + "\n" for doc in DOCS), encoding="utf-8")
    for name in ("docs.lance", "docs.jsonl"):
        assert encode_file(tmp_path / name, tmp_path / f"{name}.parquet", encoder=encoder).texts == 3
    lance, jsonl = (read_embeddings(tmp_path / f"{name}.parquet") for name in ("docs.lance", "docs.jsonl"))
    assert lance.ids == jsonl.ids == ["a", "b", "c"] and np.array_equal(lance.vectors, jsonl.vectors)
    index = Index.create(tmp_path / "index", model, metadata_fields={"lang": "string", "year": "int"})
    index.add(read_documents(source, metadata_fields=["lang", "year"]))
    assert [hit.doc_id for hit in index.search("a sleeping cat", k=1, filter="year = 2020")] == ["a"]


def test_missing_or_misnamed_datasets_are_refused_without_making_folders(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such Lance dataset folder"):
        read_texts(tmp_path / "nowhere" / "docs.lance")
    assert not (tmp_path / "nowhere").exists()
    (tmp_path / "empty.lance").mkdir()
    with pytest.raises(InputError, match="not a Lance dataset that LanceDB can read"):
        read_texts(tmp_path / "empty.lance")
    with pytest.raises(InputError, match=r"a folder named NAME\.lance"):
        lance_name(tmp_path / "docs")
    assert lance_name("s3://bucket/corpus/docs.lance/") == ("s3://bucket/corpus", "docs")
