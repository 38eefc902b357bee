"""``--engine ray`` from the command line, on a local Ray: the same vectors as one process, a re-run adds nothing."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from embedlab.cli import app
from embedlab.errors import InputError
from embedlab.extras import missing
from embedlab.index import Index
from embedlab.io import read_embeddings

pytestmark = [pytest.mark.slow, pytest.mark.skipif(bool(missing("ray")), reason="needs embedlab[ray]")]


def words(output: str) -> str:
    return " ".join(output.split())  # the console wraps long lines


def test_encode_and_index_with_the_ray_engine(tmp_path):
    source = tmp_path / "docs.csv"
    source.write_text("id,text,lang\n" + "".join(f"00{i},Text {i} about cats.,{'en' if i % 2 else 'fr'}\n"
                                                  for i in range(40)))  # fmt: skip
    runner = CliRunner()
    ray = ["--engine", "ray", "--actors", "1"]
    for engine, out in (([], "local.parquet"), (ray, "ray.parquet")):
        result = runner.invoke(app, ["encode", str(source), "-o", str(tmp_path / out), "--no-cache", *engine])
        assert result.exit_code == 0, result.output
    local, distributed = read_embeddings(tmp_path / "local.parquet"), read_embeddings(tmp_path / "ray.parquet")
    assert distributed.ids == local.ids == [f"00{i}" for i in range(40)]  # CSV ids stay strings, in order
    assert np.abs(distributed.vectors - local.vectors).max() < 1e-5
    index = str(tmp_path / "index")
    built = runner.invoke(app, ["index", "build", index, "-i", str(source), "--metadata-field", "lang", *ray])
    assert built.exit_code == 0 and "added or replaced 40 documents" in words(built.output), built.output
    again = runner.invoke(app, ["index", "add", index, "-i", str(source), *ray])
    assert again.exit_code == 0 and "added or replaced 0 documents" in words(again.output), again.output
    assert "skipped 40 already committed" in words(again.output)
    assert len(Index.open(index)) == 40
    (tmp_path / "bad.jsonl").write_text(json.dumps({"id": "x", "body": "no text field"}) + "\n")
    refused = runner.invoke(app, ["index", "add", index, "-i", str(tmp_path / "bad.jsonl"), *ray])
    assert isinstance(refused.exception, InputError) and "no text field 'text'" in str(refused.exception)
