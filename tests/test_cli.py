from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from embedlab import EmbeddingModel, EmbedlabError, Encoder, read_embeddings, write_embeddings
from embedlab.cli import app

runner = CliRunner()


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


@pytest.mark.parametrize(
    "command", [[], ["encode"], ["similarity"], ["models"], ["models", "list"], ["models", "show"], ["check"],
                ["cache"], ["cache", "info"], ["cache", "clear"], ["demo"]],
)  # fmt: skip
def test_every_command_has_help(command: list[str]) -> None:
    code, output = _run(*command, "--help")
    assert code == 0
    assert "Usage" in output


def test_encode_jsonl_to_parquet_equals_the_api(tmp_path: Path, encoder: Encoder) -> None:
    source = tmp_path / "docs.jsonl"
    rows = [{"_id": "d1", "text": "The weather is lovely today."}, {"_id": "d2", "text": "He drove to the stadium."}]
    source.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    code, output = _run("encode", str(source), "--cache-path", str(tmp_path / "c.sqlite3"))
    assert code == 0, output
    written = read_embeddings(tmp_path / "docs.embeddings.parquet")
    assert written.ids == ["d1", "d2"]
    np.testing.assert_allclose(written.vectors, encoder.encode([r["text"] for r in rows]), atol=1e-6)
    assert written.meta["model"]["fingerprint"] == encoder.info.fingerprint

    code, output = _run("encode", str(source), "-o", str(tmp_path / "docs.npy"), "--cache-path",
                        str(tmp_path / "c.sqlite3"), "--precision", "ubinary")  # fmt: skip
    assert code == 0, output
    assert "cache hits 2/2" in output
    assert read_embeddings(tmp_path / "docs.npy").vectors.shape == (2, 48)


def test_encode_with_chunking_and_titles(tmp_path: Path) -> None:
    source = tmp_path / "docs.csv"
    source.write_text('id,title,text\n1,Long,"' + "many words here " * 200 + '"\n2,Short,tiny\n', encoding="utf-8")
    code, output = _run("encode", str(source), "--title-field", "title", "--no-cache", "--max-tokens", "100")
    assert code == 0, output
    assert "chunks" in output
    assert read_embeddings(tmp_path / "docs.embeddings.parquet").vectors.shape == (2, 384)


def test_encode_reports_truncation(tmp_path: Path) -> None:
    source = tmp_path / "long.txt"
    source.write_text("word " * 400 + "\nshort\n", encoding="utf-8")
    code, output = _run("encode", str(source), "--no-cache")
    assert code == 0
    assert "1 of 2 texts are longer" in output


def test_similarity_json() -> None:
    code, output = _run("similarity", "The weather is lovely today.", "It's so sunny outside!", "--json")
    assert code == 0
    matrix = json.loads(output)["similarity"]
    assert matrix[0][1] == pytest.approx(0.666, abs=5e-4)


def test_models_show_and_list() -> None:
    code, output = _run("models", "show", "--json")
    assert code == 0
    info = json.loads(output)
    assert (info["dimension"], info["max_seq_length"], len(info["fingerprint"])) == (384, 256, 64)
    code, output = _run("models", "list", "--json")
    assert code == 0
    assert json.loads(output)[0]["source"] == "bundled"


def test_check_exit_codes(tmp_path: Path, model: EmbeddingModel) -> None:
    good = np.eye(8, dtype=np.float32)
    write_embeddings(tmp_path / "good.parquet", [str(i) for i in range(8)], good, info=model.info)
    code, output = _run("check", str(tmp_path / "good.parquet"), "--json")
    assert code == 0
    assert json.loads(output)["ok"] is True
    bad = good.copy()
    bad[3, 3] = np.nan
    write_embeddings(tmp_path / "bad.npy", [str(i) for i in range(8)], bad, info=model.info)
    code, output = _run("check", str(tmp_path / "bad.npy"))
    assert code == 1
    assert "non_finite" in output


def test_cache_info_and_clear(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    source = tmp_path / "t.txt"
    source.write_text("one\ntwo\n", encoding="utf-8")
    assert _run("encode", str(source), "--cache-path", str(path))[0] == 0
    stats = json.loads(_run("cache", "info", "--path", str(path), "--json")[1])
    assert (stats["entries"], stats["models"]) == (2, 1)
    assert "deleted 2 vectors" in _run("cache", "clear", "--path", str(path))[1]


def test_errors_become_a_message_and_exit_code_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok\n\xff\xfe broken\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "embedlab", "encode", str(bad), "--no-cache"], capture_output=True, text=True, env=env
    )
    assert result.returncode == 2
    assert "not valid UTF-8 at byte 3 (line 2)" in result.stderr
    assert "Traceback" not in result.stderr


def test_encode_never_overwrites_its_input(tmp_path: Path) -> None:
    source = tmp_path / "docs.parquet"
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": ["a"], "text": ["hello"]}), source)
    code, output = _run("encode", str(source), "--no-cache")
    assert code == 0, output
    assert pq.read_table(source).column_names == ["id", "text"]  # the texts are still there
    assert read_embeddings(tmp_path / "docs.embeddings.parquet").ids == ["a"]
    result = runner.invoke(app, ["encode", str(source), "-o", str(source), "--no-cache"])
    assert "is the input file" in str(result.exception)


def test_models_list_shows_an_unreadable_registry_entry_beside_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EMBEDLAB_HOME", str(tmp_path))
    for name, content in (("good", '{"method": "m", "base": "b", "base_fingerprint": "f"}'), ("bad", "[1, 2]")):
        (tmp_path / "models" / name).mkdir(parents=True)
        (tmp_path / "models" / name / "embedlab.json").write_text(content)
    code, output = _run("models", "list", "--json")
    assert code == 0, output
    rows = {row["name"]: row for row in json.loads(output)}
    assert rows["good"]["source"] == "registry (m of b)"
    assert rows["bad"]["source"] == "registry (unreadable)" and "not list" in rows["bad"]["error"]


def test_a_benchmark_cannot_be_built_into_a_file(tmp_path: Path) -> None:
    (tmp_path / "corpus.jsonl").write_text('{"id": "d1", "text": "a"}\n')
    (tmp_path / "log.jsonl").write_text('{"query": "q", "doc_id": "d1"}\n')
    (tmp_path / "taken").write_text("mine")
    result = runner.invoke(app, ["benchmark", "build", "--corpus", str(tmp_path / "corpus.jsonl"), "--log",
                                 str(tmp_path / "log.jsonl"), "--out", str(tmp_path / "taken")])  # fmt: skip
    assert isinstance(result.exception, EmbedlabError) and "is a file" in str(result.exception)
    assert (tmp_path / "taken").read_text() == "mine"


def test_encode_refuses_an_output_folder_before_encoding(tmp_path: Path) -> None:
    (tmp_path / "t.txt").write_text("one\n")
    (tmp_path / "out.parquet").mkdir()
    result = runner.invoke(app, ["encode", str(tmp_path / "t.txt"), "-o", str(tmp_path / "out.parquet")])
    assert isinstance(result.exception, EmbedlabError) and "is a folder" in str(result.exception)


@pytest.mark.parametrize("content", ["", "\n\n", "id,text\n"])
def test_encoding_a_file_without_texts_is_an_error(tmp_path: Path, content: str) -> None:
    source = tmp_path / ("t.csv" if "," in content else "t.txt")
    source.write_text(content)
    result = runner.invoke(app, ["encode", str(source), "--no-cache"])
    assert isinstance(result.exception, EmbedlabError) and "no texts to encode" in str(result.exception)
    assert not (tmp_path / "t.embeddings.parquet").exists()


@pytest.mark.parametrize(
    "command",
    [["eval", "--sts", "pairs.csv", "--out"], ["bias", "audit", "--pairs", "pairs.json", "--out"],
     ["bias", "debias", "--pairs", "pairs.json", "-o", "m", "--report"]],
)  # fmt: skip
def test_an_output_folder_that_is_a_file_is_refused_before_any_work(tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "pairs.csv").write_text("a,b,1\n" * 10)
    (tmp_path / "pairs.json").write_text('[["she", "he"], ["woman", "man"]]')
    (tmp_path / "taken").write_text("mine")
    args = [str(tmp_path / arg) if arg in ("pairs.csv", "pairs.json", "m") else arg for arg in command]
    result = runner.invoke(app, [*args, str(tmp_path / "taken")])
    assert isinstance(result.exception, EmbedlabError) and "taken is a file, not a folder" in str(result.exception)
    assert (tmp_path / "taken").read_text() == "mine" and not (tmp_path / "m").exists()


def test_clustering_as_many_texts_as_labels_is_an_error(tmp_path: Path) -> None:
    labels = tmp_path / "labels.jsonl"
    labels.write_text('{"text": "a cat", "label": "x"}\n{"text": "a stock", "label": "y"}\n')
    result = runner.invoke(app, ["eval", "--labels", str(labels), "--no-cache", "--out", str(tmp_path / "out")])
    assert isinstance(result.exception, EmbedlabError), result.output  # was sklearn's ValueError
    assert "needs more texts than labels" in str(result.exception)
