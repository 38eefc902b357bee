"""Search options, defined once and light to import; the index modules' layout (no import circle, small)."""

from __future__ import annotations

import ast
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from embedlab import InputError
from embedlab.index import SearchOptions
from embedlab.index.options import option_fields, search_options

PACKAGE = Path(__file__).resolve().parents[2] / "embedlab" / "index"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"mode": "fuzzy"}, "mode must be vector, bm25 or hybrid; got 'fuzzy'"),
        ({"fusion": "max"}, "fusion must be rrf or weighted"),
        ({"rerank_fusion": "max"}, "rerank_fusion must be rrf or replace"),
        ({"alpha": 1.5}, "alpha must be between 0 and 1, got 1.5"),
        ({"alpha": float("nan")}, "alpha must be between 0 and 1"),
        ({"candidates": 0}, "candidates must be at least 1, got 0"),
        ({"rerank_top": 0}, "rerank_top must be at least 1, got 0"),
        ({"rerank_topp": 3, "fuzz": 1}, "Unknown search option 'fuzz', 'rerank_topp'. Options: mode, filter"),
    ],
)
def test_options_are_checked_with_clear_messages(options: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        search_options(options)


def test_every_option_is_described_for_the_api() -> None:
    fields = option_fields()
    assert list(fields) == [field.name for field in dataclasses.fields(SearchOptions)]
    assert all(description for _, _, description in fields.values())
    assert fields["alpha"][1] == 0.5 and fields["rerank_fusion"][2].startswith("rrf fuses the cross-encoder's")


def test_server_and_cli_start_without_lancedb_or_faiss() -> None:
    code = "import sys, embedlab.serve.app, embedlab.cli; print(sorted({'lancedb', 'faiss'} & set(sys.modules)))"
    env = {**os.environ, "PYTHONPATH": str(PACKAGE.parents[1])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.strip() == "[]"


def test_index_modules_are_small_and_import_no_circle() -> None:
    imports: dict[str, set[str]] = {}
    for path in PACKAGE.glob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert len(source.splitlines()) <= 450, path.name
        if path.stem != "__init__":
            imports[path.stem] = _module_level_imports(ast.parse(source))
    for start in imports:  # depth-first from each module: coming back to it is a circle
        stack, seen = [(start, [start])], set()
        while stack:
            module, trail = stack.pop()
            for other in imports.get(module, set()):
                assert other != start, " -> ".join([*trail, other])
                if other not in seen:
                    seen.add(other)
                    stack.append((other, [*trail, other]))


def _module_level_imports(tree: ast.Module) -> set[str]:
    """The ``embedlab.index`` modules imported at module level, ``TYPE_CHECKING`` blocks included."""
    found: set[str] = set()
    statements = list(tree.body)
    while statements:
        node = statements.pop()
        if isinstance(node, ast.If):
            statements += [*node.body, *node.orelse]
        elif isinstance(node, ast.ImportFrom) and node.module == "embedlab.index":
            found |= {alias.name for alias in node.names if (PACKAGE / f"{alias.name}.py").exists()}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("embedlab.index."):
            found.add(node.module.split(".")[2])
    return found
