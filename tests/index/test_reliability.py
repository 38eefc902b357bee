"""Racing builds, failed builds and damaged indexes: one winner, nothing of others' removed, clear errors."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from embedlab import Encoder, InputError
from embedlab.errors import IndexDataError
from embedlab.index import Index
from embedlab.index.rows import Rows
from embedlab.index.settings import read_settings
from tests.index.writers import add_at_once
from tests.serve.conftest import free_port

DOCS = [{"id": "cat", "text": "The cat sleeps on the warm windowsill."}, {"id": "bake", "text": "Bake the bread."}]


def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Run ``embedlab ARGS`` in this process as the console script does; its exit code and output."""
    from embedlab.cli import main

    monkeypatch.setattr(sys, "argv", ["embedlab", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    captured = capsys.readouterr()
    return int(exit_.value.code or 0), captured.out + captured.err


@pytest.fixture
def built(tmp_path: Path, encoder: Encoder) -> Path:
    Index.create(tmp_path / "index", encoder).add(DOCS)
    return tmp_path / "index"


@pytest.mark.slow
def test_two_builds_of_one_new_folder_at_once_leave_one_whole_index(tmp_path: Path) -> None:
    for name in ("a", "b"):  # the same options, other documents
        rows = [{"id": f"{name}{i}", "text": f"Document {i} of file {name}."} for i in range(30)]
        (tmp_path / f"{name}.jsonl").write_text("\n".join(json.dumps(row) for row in rows), encoding="utf-8")
    target = tmp_path / "shared-index"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    command = [sys.executable, "-m", "embedlab", "index", "build", str(target), "-i"]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, "env": env}
    # started at once: both check the folder before either has loaded the model
    builds = {name: subprocess.Popen([*command, str(tmp_path / f"{name}.jsonl")], **pipes) for name in ("a", "b")}
    outputs = {name: process.communicate(timeout=300) for name, process in builds.items()}
    results = {name: (builds[name].returncode, out, err) for name, (out, err) in outputs.items()}
    assert sorted(code for code, _, _ in results.values()) == [0, 2], results
    winner = next(name for name, (code, _, _) in results.items() if code == 0)
    loser_output = next(out + err for code, out, err in results.values() if code == 2)
    assert "Traceback" not in loser_output
    assert "already holds an index" in loser_output or "Another process created an index" in loser_output
    index = Index.open(target)
    ids = {hit.doc_id for hit in index.search("document", k=100)}
    assert ids == {f"{winner}{i}" for i in range(30)}  # the winner's rows, whole; none of the loser's
    assert sorted(path.name for path in target.iterdir()) == [".labels.lock", "index.json", "lance"]


def test_two_first_adds_at_once_to_an_empty_index_keep_all_documents(tmp_path: Path, encoder: Encoder) -> None:
    # Both writers found no table and both created it: one failed ("Table 'chunks' already exists") or, worse,
    # overwrote the other's rows while both exited 0 (in about half of the rounds before the fix).
    folders = [Index.create(tmp_path / f"index-{n}", encoder).path for n in range(6)]
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    writers = [context.Process(target=add_at_once, args=(folders, name, barrier)) for name in ("a", "b")]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=180)
    assert [writer.exitcode for writer in writers] == [0, 0]
    for folder in folders:
        table = Rows(folder, read_settings(folder)).table().to_arrow()
        assert sorted(table.column("doc_id").to_pylist()) == ["a0", "a1", "b0", "b1"], folder
        assert sorted(table.column("label").to_pylist()) == [0, 1, 2, 3]  # labels reserved once each
        assert len(Index.open(folder, encoder)) == 4


def test_a_failed_build_removes_only_what_it_made(tmp_path: Path, encoder: Encoder) -> None:
    bad = [*DOCS, {"id": "empty", "text": " "}]
    with pytest.raises(InputError, match="no text"):
        Index.build(tmp_path / "new", bad, encoder)
    assert not (tmp_path / "new").exists()  # it made the folder: the folder goes
    (tmp_path / "mine").mkdir()
    with pytest.raises(InputError, match="no text"):
        Index.build(tmp_path / "mine", bad, encoder)
    assert (tmp_path / "mine").is_dir() and not any((tmp_path / "mine").iterdir())  # it was there: it stays
    Index.build(tmp_path / "theirs", DOCS, encoder)
    with pytest.raises(InputError, match="already holds an index"):
        Index.build(tmp_path / "theirs", bad, encoder)
    assert len(Index.open(tmp_path / "theirs", encoder)) == 2  # another's index is never touched


@pytest.mark.parametrize("content", ["{}", "[]", '{"model": {"name": "m"}, "metadata_fields": []}'])
def test_malformed_index_json_is_a_clear_error(
    built: Path, content: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (built / "index.json").write_text(content, encoding="utf-8")
    code, output = cli(monkeypatch, capsys, "index", "info", str(built))
    assert code == 2 and "does not hold an index's settings" in output, output


def test_build_onto_a_file_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "docs.jsonl").write_text(json.dumps(DOCS[0]), encoding="utf-8")
    (tmp_path / "a-file").write_text("not a folder", encoding="utf-8")
    code, output = cli(
        monkeypatch, capsys, "index", "build", str(tmp_path / "a-file"), "-i", str(tmp_path / "docs.jsonl")
    )
    assert code == 2 and "is a file, not a folder" in output, output
    assert (tmp_path / "a-file").read_text(encoding="utf-8") == "not a folder"
    code, output = cli(monkeypatch, capsys, "index", "search", str(tmp_path / "a-file"), "anything")
    assert code == 2 and "a-file is a file, not an index folder" in output, output  # not "unreadable (Not a dir...)"


def test_deleted_lance_folder_is_missing_data_not_an_empty_index(built: Path, encoder: Encoder) -> None:
    shutil.rmtree(built / "lance")
    with pytest.raises(IndexDataError, match="missing"):
        Index.open(built, encoder).search("cat")
    assert not (built / "lance").exists()  # nothing was re-created in its place


def test_missing_lancedb_manifests_are_a_clear_error(built: Path, encoder: Encoder) -> None:
    for manifest in (built / "lance" / "chunks.lance" / "_versions").iterdir():
        manifest.unlink()
    with pytest.raises(IndexDataError, match="cannot be read"):
        Index.open(built, encoder)


def test_io_errors_are_not_blamed_on_a_filter(built: Path, encoder: Encoder) -> None:
    index = Index.open(built, encoder)
    with pytest.raises(InputError, match="The filter 'no_such_column = 1' cannot be applied"):
        index.search("cat", filter="no_such_column = 1")  # a bad filter is still named
    for data in (built / "lance" / "chunks.lance" / "data").iterdir():
        data.unlink()
    for options in ({}, {"filter": "chunk = 0"}, {"mode": "bm25"}):
        with pytest.raises(IndexDataError, match="cannot be read") as error:
            Index.open(built, encoder).search("cat", **options)
        assert "filter" not in str(error.value), options


def test_serve_with_a_missing_index_fails_before_serving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port = str(free_port())
    code, output = cli(monkeypatch, capsys, "serve", "--index", f"docs={tmp_path / 'missing'}", "--port", port)
    assert code == 2 and "No embedlab index" in output and "serving on" not in output, output
