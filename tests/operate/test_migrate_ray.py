"""``migrate build`` on a local Ray: the index one process builds, resumable after a stop, a re-run adds nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from typer.testing import CliRunner

import embedlab.extras as extras
from embedlab import EmbeddingModel, Encoder
from embedlab.cli import app
from embedlab.errors import InputError, MissingExtraError
from embedlab.extras import missing
from embedlab.index import Index
from embedlab.operate.migrate import build, document_ids, read_marker
from embedlab.scale import Cluster, Ledger
from embedlab.scale.cluster import connected

from .conftest import documents


class Stop(Exception):
    """Raised from the progress callback: the build stops after a commit, as a killed driver would."""


def rows(folder: Path, encoder: Encoder) -> pa.Table:
    table = Index.open(folder, encoder)._table().to_arrow()
    return table.drop_columns(["label"]).sort_by([("doc_id", "ascending"), ("chunk", "ascending")])


def test_without_ray_or_with_an_unknown_engine_nothing_is_made(
    model: EmbeddingModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = tmp_path / "old"
    Index.build(old, documents()[:2], Encoder(model), metadata_fields=["topic"])
    with pytest.raises(InputError, match="engine must be 'local' or 'ray'"):
        build(old, model, tmp_path / "new", engine="spark")  # type: ignore[arg-type]
    real = extras._importable
    monkeypatch.setattr(extras, "_importable", lambda module: module != "ray" and real(module))
    with pytest.raises(MissingExtraError, match=r"pip install 'embedlab\[ray\]'"):
        build(old, model, tmp_path / "new", engine="ray")
    assert not (tmp_path / "new").exists()


@pytest.mark.slow
@pytest.mark.skipif(bool(missing("ray")), reason="needs embedlab[ray]")
def test_a_ray_build_equals_the_local_one_resumes_and_adds_nothing_twice(
    model: EmbeddingModel, perturbed_model: EmbeddingModel, tmp_path: Path
) -> None:
    old = tmp_path / "old"
    Index.build(old, documents(), Encoder(model), metadata_fields=["topic"], chunk_tokens=8, overlap=2)
    encoder = Encoder(perturbed_model, show_progress=False)  # the new model, loaded by the actors from its folder
    local = build(old, encoder, tmp_path / "local")
    commits: list[int] = []

    def stop_after_one_commit(done: int, total: int) -> None:
        commits.append(done)
        raise Stop

    with connected(Cluster(actors=1)):  # one local Ray for the whole test; each build joins it
        ray = Cluster(actors=1, batch_size=4, commit_size=5)
        with pytest.raises(Stop):
            build(old, encoder, tmp_path / "ray", engine="ray", cluster=ray, progress=stop_after_one_commit)
        assert commits == [5] and len(document_ids(tmp_path / "ray")) == 5
        assert read_marker(tmp_path / "ray")["status"] == "building"
        resumed = CliRunner().invoke(app, ["migrate", "build", str(old), "--out", str(tmp_path / "ray"), "--model",
                                           perturbed_model.info.path, "--engine", "ray", "--actors", "1",
                                           "--batch", "5"])  # fmt: skip
        assert resumed.exit_code == 0, resumed.output
        assert "complete, 24 documents (19 embedded by this run" in " ".join(resumed.output.split())  # 5 were kept
        assert build(old, encoder, tmp_path / "ray", engine="ray", cluster=ray).embedded == 0

    assert local.documents == 24 and read_marker(tmp_path / "ray")["status"] == "complete"
    expected, found = rows(tmp_path / "local", encoder), rows(tmp_path / "ray", encoder)
    for name in ("row_id", "doc_id", "chunk", "start", "end", "title", "text", "fts_text", "topic"):
        assert found.column(name).to_pylist() == expected.column(name).to_pylist(), name
    assert expected.num_rows > 24  # 8-token chunks: several per document
    a, b = (np.stack(table.column("vector").to_numpy(zero_copy_only=False)) for table in (found, expected))
    assert (a * b).sum(axis=1).min() >= 0.9999
    ledger = Ledger(tmp_path / "ray", perturbed_model.fingerprint).committed()
    assert sorted(ledger) == document_ids(old)  # every document recorded by id, content hash and model
