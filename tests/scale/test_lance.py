"""A Lance dataset as input to the Ray engine (read by LanceDB in row ranges on the workers): the one-process result."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import embedlab.scale.read as read
from embedlab import EmbeddingModel, Encoder
from embedlab.encode.files import encode_file
from embedlab.extras import missing
from embedlab.index import Index
from embedlab.index.documents import read_documents
from embedlab.io import read_embeddings
from embedlab.lancefiles import open_lance
from embedlab.scale import Cluster, add_with_ray
from embedlab.scale.cluster import connected

from ..test_lancefiles import write_lance

DOCS = [{"id": f"d{i:02d}", "text": f"Text {i} about {'cats' if i % 3 else 'rain'}.", "lang": ["en", "fr"][i % 2]}
        for i in range(60)]  # fmt: skip


def test_a_range_is_read_from_one_version_in_row_order(tmp_path: Path) -> None:
    source = write_lance(tmp_path, DOCS[:30], fragments=3)
    version = open_lance(source).version
    open_lance(source).add(pa.Table.from_pylist(DOCS[30:]))  # written after the run planned its ranges
    ranges = [read._read_range(str(source), version, ["id"], first, 8) for first in range(0, 30, 8)]
    ids = [doc_id for blocks in ranges for block in blocks for doc_id in block.column("id").to_pylist()]
    assert ids == [doc["id"] for doc in DOCS[:30]]


@pytest.mark.slow
@pytest.mark.skipif(bool(missing("ray")), reason="needs embedlab[ray]")
def test_a_lance_dataset_is_indexed_and_encoded_as_one_process_does(
    tmp_path: Path, model: EmbeddingModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_lance(tmp_path, DOCS, fragments=3)
    monkeypatch.setattr(read, "RANGE_ROWS", 7)  # 9 read tasks over 3 fragments
    reference = Index.create(tmp_path / "one", model, metadata_fields=["lang"])
    reference.add(read_documents(source, metadata_fields=["lang"]))
    index = Index.create(tmp_path / "ray", model, metadata_fields=["lang"])
    encoder = Encoder(model, show_progress=False, cache=False)
    with connected(Cluster(actors=1)):  # one local Ray for the test
        added = add_with_ray(index, source, cluster=Cluster(actors=1, commit_size=16))
        encode_file(source, tmp_path / "ray.parquet", encoder=encoder, engine="ray", cluster=Cluster(actors=1))
    assert (added.documents, added.skipped, added.commits) == (60, 0, 4)
    mine, theirs = (i._table().to_arrow().drop_columns(["label"]).sort_by("row_id") for i in (index, reference))
    for name in ("row_id", "doc_id", "chunk", "text", "lang"):
        assert mine.column(name).to_pylist() == theirs.column(name).to_pylist(), name
    a, b = (np.stack(table.column("vector").to_numpy(zero_copy_only=False)) for table in (mine, theirs))
    assert len(a) == 60 and (a * b).sum(axis=1).min() >= 0.9999
    encode_file(source, tmp_path / "one.parquet", encoder=encoder)
    distributed, local = read_embeddings(tmp_path / "ray.parquet"), read_embeddings(tmp_path / "one.parquet")
    assert distributed.ids == local.ids == [doc["id"] for doc in DOCS]  # input order kept across the ranges
    assert np.abs(distributed.vectors - local.vectors).max() < 1e-5
