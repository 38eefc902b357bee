"""The command line as a package: small modules, search options from their one definition, shared library calls."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from embedlab import Encoder, InputError
from embedlab.cli import app
from embedlab.index import Index
from embedlab.index.options import option_fields
from embedlab.registry import available_models

PACKAGE = Path(__file__).resolve().parents[2] / "embedlab"
runner = CliRunner()


def test_one_small_module_per_command_group() -> None:
    modules = {path.stem: len(path.read_text(encoding="utf-8").splitlines()) for path in (PACKAGE / "cli").glob("*.py")}
    assert {"common", "encode", "models", "evaluate", "index", "adapt", "bias", "serve", "optimize"} <= set(modules)
    assert max(modules.values()) <= 450, modules
    assert not list(PACKAGE.glob("cli*.py"))  # no module beside the package


def test_index_search_has_an_option_for_every_search_option() -> None:
    result = runner.invoke(app, ["index", "search", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for name, (_, default, _) in option_fields().items():
        assert f"--{name.replace('_', '-')}" in result.output, name
        if default not in (None, False):
            assert f"[default: {default}]" in result.output, name


def test_index_search_passes_candidates_to_the_library(tmp_path: Path, encoder: Encoder) -> None:
    index = Index.create(tmp_path / "i", encoder)
    index.add([{"id": str(i), "text": f"Document number {i} about topic {i % 3}."} for i in range(8)])
    args = ["index", "search", str(tmp_path / "i"), "topic 1", "-k", "3", "--mode", "hybrid", "--json"]
    result = runner.invoke(app, [*args, "--candidates", "5"])
    assert result.exit_code == 0, result.output
    expected = index.search("topic 1", 3, mode="hybrid", candidates=5)
    assert [hit["doc_id"] for hit in json.loads(result.output)] == [hit.doc_id for hit in expected]
    refused = runner.invoke(app, [*args, "--candidates", "0"])
    assert isinstance(refused.exception, InputError) and "candidates must be at least 1, got 0" in str(
        refused.exception
    )


def test_available_models_lists_the_bundled_model_first_and_unreadable_entries_with_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EMBEDLAB_HOME", str(tmp_path))
    for name, content in (("good", '{"method": "m", "base": "b", "base_fingerprint": "f"}'), ("bad", "{")):
        (tmp_path / "models" / name).mkdir(parents=True)
        (tmp_path / "models" / name / "embedlab.json").write_text(content)
    models = [model for model in available_models() if model.source != "hub cache"]
    assert [(model.name, model.source) for model in models] == [
        ("sentence-transformers/all-MiniLM-L6-v2", "bundled"),
        ("good", "registry (m of b)"),
        ("bad", "registry (unreadable)"),
    ]
    assert "error" not in models[1].to_dict() and models[2].to_dict()["error"] == models[2].error
    assert models[2].error and str(tmp_path / "models" / "bad") in models[2].to_dict()["path"]
