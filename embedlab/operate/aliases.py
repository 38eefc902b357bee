"""Named aliases: a small JSON file that points at an index folder, switched atomically, with its history.

An alias file (``docs.alias.json``, any name) holds ``{"kind": "embedlab-alias", "target": FOLDER,
"previous": [FOLDER, ...], "updated": ISO time, "history": [...]}``. Readers (the server, ``migrate``)
resolve it at each use; a writer replaces it whole (:func:`embedlab.atomic.write_json`), under a lock
file beside it so that two switches never interleave. ``previous`` keeps the targets it pointed at
before, most recent first: :func:`rollback` goes back to the first one. An old index is never deleted
here; remove its folder when you no longer want to roll back to it.

Example:
    >>> for name in ("index-v1", "index-v2"):  # two index folders (an index.json is what marks one)
    ...     (tmp / name).mkdir()
    ...     _ = (tmp / name / "index.json").write_text("{}")
    >>> alias = create_alias(tmp / "docs.alias.json", tmp / "index-v1")
    >>> switch_alias(alias, tmp / "index-v2").target.name
    'index-v2'
    >>> rollback(alias).target.name, read_alias(alias).previous
    ('index-v1', [])
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from embedlab.atomic import write_json
from embedlab.errors import InputError
from embedlab.index.settings import _locked as locked

KIND = "embedlab-alias"
_KEEP = 20  # history entries kept in the file


@dataclass(frozen=True)
class AliasState:
    """What an alias points at now, what it pointed at before (most recent first), and when it changed."""

    path: Path
    target: Path
    previous: list[Path] = field(default_factory=list)
    updated: str = ""
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The file's JSON content."""
        return {"kind": KIND, "target": str(self.target), "previous": [str(p) for p in self.previous],
                "updated": self.updated, "history": self.history}  # fmt: skip


def is_alias(path: str | Path) -> bool:
    """Whether ``path`` is an alias file (a JSON file of kind ``embedlab-alias``), not an index folder."""
    candidate = Path(path)
    if not candidate.is_file():
        return False
    try:
        data = json.loads(candidate.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(data, dict) and data.get("kind") == KIND


def read_alias(path: str | Path) -> AliasState:
    """The alias at ``path``.

    Raises:
        InputError: no file, or one that is not an alias.
    """
    file = Path(path)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"No alias at {file}: create it with 'embedlab migrate alias {file} INDEX'.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"The alias {file} is unreadable ({exc}).") from exc
    if not isinstance(data, dict) or data.get("kind") != KIND or not isinstance(data.get("target"), str):
        raise InputError(f"{file} is not an embedlab alias (no kind {KIND!r} with a target).")
    return AliasState(file, Path(data["target"]), [Path(p) for p in data.get("previous", [])],
                      str(data.get("updated", "")), list(data.get("history", [])))  # fmt: skip


def resolve(spec: str | Path) -> Path:
    """The index folder ``spec`` names: an alias's target, or ``spec`` itself when it is not an alias."""
    return read_alias(spec).target if is_alias(spec) else Path(spec)


def create_alias(path: str | Path, target: str | Path) -> Path:
    """Make a new alias at ``path`` pointing at the index folder ``target``; return ``path``.

    Raises:
        InputError: ``path`` exists, or ``target`` holds no index.
    """
    file = Path(path)
    with locked(_lock(file)):
        if file.exists():
            raise InputError(f"{file} exists already: switch it with 'embedlab migrate promote'.")
        _write(AliasState(file, _index_folder(target)), "create")
    return file


def switch_alias(path: str | Path, target: str | Path, *, note: dict[str, Any] | None = None) -> AliasState:
    """Point the alias at ``target`` (the current target becomes the first of ``previous``), atomically.

    ``note`` (e.g. the gate's figures) is kept in the alias's history.
    """
    file = Path(path)
    new = _index_folder(target)
    with locked(_lock(file)):
        state = read_alias(file)
        if new == state.target:
            return state
        previous = [state.target, *[p for p in state.previous if p not in (new, state.target)]]
        return _write(AliasState(file, new, previous, history=state.history), "promote", note)


def rollback(path: str | Path) -> AliasState:
    """Point the alias back at its previous target (which leaves ``previous``).

    Raises:
        InputError: the alias has no previous target, or that folder no longer holds an index.
    """
    file = Path(path)
    with locked(_lock(file)):
        state = read_alias(file)
        if not state.previous:
            raise InputError(f"The alias {file} has no previous target to roll back to (it points at {state.target}).")
        back = _index_folder(state.previous[0])
        return _write(AliasState(file, back, state.previous[1:], history=state.history), "rollback")


def _write(state: AliasState, action: str, note: dict[str, Any] | None = None) -> AliasState:
    updated = datetime.now(UTC).isoformat(timespec="milliseconds")
    entry = {"action": action, "target": str(state.target), "at": updated, **({"note": note} if note else {})}
    final = AliasState(state.path, state.target, state.previous, updated, [*state.history, entry][-_KEEP:])
    write_json(state.path, final.to_dict())
    return final


def _index_folder(target: str | Path) -> Path:
    folder = Path(target).resolve()
    if not (folder / "index.json").is_file():
        raise InputError(f"{target} holds no embedlab index (no index.json).")
    return folder


def _lock(file: Path) -> Path:
    file.parent.mkdir(parents=True, exist_ok=True)
    return file.with_name(f".{file.name}.lock")
