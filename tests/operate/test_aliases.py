"""Aliases: created once, switched and rolled back atomically, history kept, bad input refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from embedlab.errors import InputError
from embedlab.operate.aliases import create_alias, is_alias, read_alias, resolve, rollback, switch_alias


def fake_index(folder: Path) -> Path:
    folder.mkdir()
    (folder / "index.json").write_text("{}")
    return folder


def test_switch_keeps_previous_targets_and_rollback_walks_back(tmp_path: Path) -> None:
    v1, v2, v3 = (fake_index(tmp_path / name) for name in ("v1", "v2", "v3"))
    alias = create_alias(tmp_path / "docs.alias.json", v1)
    assert is_alias(alias) and not is_alias(v1) and resolve(alias) == v1.resolve() and resolve(v2) == v2
    switch_alias(alias, v2, note={"gate": "passed"})
    state = switch_alias(alias, v3)
    assert state.target == v3.resolve() and state.previous == [v2.resolve(), v1.resolve()]
    assert rollback(alias).target == v2.resolve()
    assert rollback(alias).target == v1.resolve()
    with pytest.raises(InputError, match="no previous target"):
        rollback(alias)
    history = read_alias(alias).history
    assert [entry["action"] for entry in history] == ["create", "promote", "promote", "rollback", "rollback"]
    assert history[1]["note"] == {"gate": "passed"}
    assert not [entry.name for entry in tmp_path.iterdir() if ".tmp-" in entry.name]  # nothing left aside


def test_switching_to_the_current_target_changes_nothing(tmp_path: Path) -> None:
    v1 = fake_index(tmp_path / "v1")
    alias = create_alias(tmp_path / "a.json", v1)
    assert switch_alias(alias, v1).previous == []


def test_bad_aliases_are_refused(tmp_path: Path) -> None:
    v1 = fake_index(tmp_path / "v1")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no embedlab index"):
        create_alias(tmp_path / "a.json", tmp_path / "empty")
    alias = create_alias(tmp_path / "a.json", v1)
    with pytest.raises(InputError, match="exists already"):
        create_alias(alias, v1)
    with pytest.raises(InputError, match="No alias"):
        read_alias(tmp_path / "missing.json")
    (tmp_path / "other.json").write_text(json.dumps({"target": "x"}))
    with pytest.raises(InputError, match="not an embedlab alias"):
        read_alias(tmp_path / "other.json")
    with pytest.raises(InputError, match="holds no embedlab index"):
        switch_alias(alias, tmp_path / "empty")
    assert read_alias(alias).target == v1.resolve()  # a refused switch leaves the alias as it was
