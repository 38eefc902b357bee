"""An index's ``index.json``: its settings, its exclusive creation, and the row labels it hands out.

``index.json`` holds the model's info and fingerprint, vector settings, chunking, metadata fields, the
accelerator's settings and ``next_label``. It is created atomically and exclusively (written aside, then
hard-linked into place), so of two builds of the same new folder at once exactly one wins and the other
is refused before it writes anything. Labels are reserved under a lock file, so no two processes ever
hand out the same one.

Example:
    >>> check_fields({"lang": "string", "year": "int"})
    {'lang': 'string', 'year': 'int'}
    >>> check_fields(["text"])
    Traceback (most recent call last):
    ...
    embedlab.errors.InputError: Metadata fields ['text'] clash with the index's own columns.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

try:
    import fcntl
except ImportError:  # pragma: no cover  (Windows: labels are reserved without a cross-process lock)
    fcntl = None  # type: ignore[assignment]

from embedlab import __version__
from embedlab.atomic import write_json
from embedlab.errors import IndexMismatchError, InputError
from embedlab.models import ModelInfo

Ann = bool | Literal["auto"]
FORMAT = 1
METADATA_TYPES = ("string", "int", "float", "bool")
RESERVED = {"id", "row_id", "doc_id", "chunk", "start", "end", "text", "title", "fts_text", "vector", "label"}
_CLAIM = ".index.json.new-"  # the settings written aside before they are linked into place


def check_fields(metadata_fields: Sequence[str] | Mapping[str, str]) -> dict[str, str]:
    """``{name: type}`` of metadata fields given as names (strings) or a mapping; refuses clashes and types.

    Raises:
        InputError: a name is one of the index's own columns, or a type is not in :data:`METADATA_TYPES`.
    """
    fields = dict(metadata_fields) if isinstance(metadata_fields, Mapping) else dict.fromkeys(metadata_fields, "string")
    reserved = sorted(set(fields) & RESERVED)
    if reserved:
        raise InputError(f"Metadata fields {reserved} clash with the index's own columns.")
    unknown = {name: kind for name, kind in fields.items() if kind not in METADATA_TYPES}
    if unknown:
        raise InputError(f"Unknown metadata types {unknown}; use one of {', '.join(METADATA_TYPES)}.")
    return fields


def check_ann(ann: Any, ef_search: int) -> None:
    """Refuse an ``ann`` other than ``True``, ``False`` or ``"auto"``, and an ``ef_search`` below 1."""
    if ann not in (True, False, "auto") or not isinstance(ann, bool | str):
        raise InputError(f"ann must be True, False or 'auto'; got {ann!r}.")
    if ef_search < 1:
        raise InputError(f"ef_search must be at least 1, got {ef_search}.")


def new_settings(
    model: ModelInfo, *, normalized: bool, chunk: bool, chunk_tokens: int | None, overlap: int,
    fields: dict[str, str], ann: dict[str, Any], precision: str = "float32", dims: int | None = None,
    rescore: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The settings of a new, empty index (no labels handed out yet).

    ``precision`` and ``dims`` are those of the in-memory search vectors (:mod:`embedlab.index.compact`),
    ``rescore`` the default multiplier of the candidates re-scored with full vectors (``None``: the default).
    """
    return {
        "format": FORMAT,
        "embedlab_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": model.to_dict(),
        "precision": precision,
        "dims": dims,
        **({"rescore": rescore} if rescore is not None else {}),
        "normalized": normalized,
        "chunk": chunk,
        "chunk_tokens": chunk_tokens,
        "overlap": overlap,
        "metadata_fields": fields,
        "ann": ann,
        "next_label": 0,
    }


def check_free(folder: Path) -> None:
    """Refuse a ``folder`` that is a file or holds anything (except another build's settings written aside).

    Raises:
        InputError: ``folder`` is a file, holds an index, or holds other files.
    """
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder} is a file, not a folder: choose a new folder for the index.")
    if (folder / "index.json").exists():
        raise InputError(f"{folder} already holds an index: add documents to it instead, or choose a new folder.")
    if folder.is_dir() and any(not entry.name.startswith(_CLAIM) for entry in folder.iterdir()):
        raise InputError(f"{folder} is not empty: choose a new or empty folder for the index.")


def claim(folder: Path, settings: dict[str, Any]) -> None:
    """Create ``folder/index.json`` with ``settings``, unless ``folder`` holds anything: one winner among racers.

    Raises:
        InputError: ``folder`` is a file, is not empty, or another process claimed it first.
    """
    check_free(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"Cannot create the index folder {folder} ({exc}).") from exc
    check_free(folder)
    aside = folder / f"{_CLAIM}{os.getpid()}-{threading.get_ident()}"
    aside.write_text(json.dumps(settings, indent=1), encoding="utf-8")
    try:
        os.link(aside, folder / "index.json")  # atomic, and fails if the name exists: whole settings or nothing
    except FileExistsError:
        raise InputError(
            f"Another process created an index in {folder} at the same time: this build stops without writing. "
            "Add documents to that index instead, or choose a new folder."
        ) from None
    finally:
        aside.unlink(missing_ok=True)


def read_settings(folder: Path) -> dict[str, Any]:
    """The settings in ``folder/index.json``, checked for what opening an index needs.

    Raises:
        InputError: no ``index.json``, or one that is unreadable or not an index's settings.
    """
    path = folder / "index.json"
    if folder.is_file():
        raise InputError(f"{folder} is a file, not an index folder.")
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"No embedlab index at {folder} (no index.json).") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path} is unreadable ({exc}).") from exc
    problem = _problem(settings)
    if problem:
        raise InputError(f"{path} does not hold an index's settings ({problem}); restore it, or rebuild the index.")
    return settings


def _problem(settings: Any) -> str | None:
    """What makes ``settings`` unusable as an index's settings, or ``None``."""
    if not isinstance(settings, dict):
        return f"a JSON {type(settings).__name__}, not an object"
    model = settings.get("model")
    if not isinstance(model, dict):
        return "no 'model'"
    missing = [key for key in ("name", "source", "path", "fingerprint", "dimension") if key not in model]
    if missing or not isinstance(model["dimension"], int) or isinstance(model["dimension"], bool):
        return f"the model lacks {missing}" if missing else "the model's dimension is not a number"
    if not isinstance(settings.get("metadata_fields"), list | dict):
        return "no 'metadata_fields'"
    if not isinstance(settings.get("ann", {}), dict) or not isinstance(settings.get("next_label", 0), int):
        return "'ann' or 'next_label' is malformed"
    return None


def same_space(stored: Mapping[str, Any], given: Mapping[str, Any], *, what: str) -> None:
    """Refuse vectors or a model (``what``) whose fingerprint is not the index's, naming both models.

    Raises:
        IndexMismatchError: the fingerprints differ.
    """
    if stored.get("fingerprint") != given.get("fingerprint"):
        raise IndexMismatchError(
            f"The index was built with {stored.get('name')} (fingerprint {str(stored.get('fingerprint'))[:12]}, "
            f"{stored.get('dimension')} dims) but {what} come from {given.get('name')} (fingerprint "
            f"{str(given.get('fingerprint'))[:12]}, {given.get('dimension')} dims). Vectors of different models "
            "are incomparable: use the index's model, or build a new index for the other model."
        )


def update_settings(folder: Path, settings: dict[str, Any], changes: Mapping[str, Any]) -> None:
    """Write ``changes`` into ``folder/index.json`` (atomically, under the writers' lock) and into ``settings``."""
    with _locked(folder / ".labels.lock"):
        stored = read_settings(folder)
        stored.update(changes)
        settings.update(changes)
        write_json(folder / "index.json", stored)


class Labels:
    """Row labels (int64, never reused) handed out from ``next_label`` in ``index.json``, across processes.

    ``settings`` is the index's settings dict, kept in step with what is reserved.
    """

    def __init__(self, folder: Path, settings: dict[str, Any]) -> None:
        self.folder = folder
        self.settings = settings

    def reserve(self, count: int, *, above: int = -1, held: bool = False) -> int:
        """Reserve ``count`` new labels, all greater than ``above``; return the first.

        A lock file serialises the read-modify-write of ``index.json``, so the accelerator can tell a new row
        from a replaced one by its label alone. ``held``: the caller holds :meth:`locked` already.
        """
        with nullcontext() if held else self.locked():
            stored = self._stored()
            first = max(int(stored.get("next_label", 0)), int(self.settings.get("next_label", 0)), above + 1)
            stored["next_label"] = self.settings["next_label"] = first + count
            write_json(self.folder / "index.json", stored)
        return first

    def locked(self) -> AbstractContextManager[None]:
        """The lock of the index's writers, across processes: held to reserve labels and to create the table."""
        return _locked(self.folder / ".labels.lock")

    def in_use(self, highest: int) -> None:
        """Make sure no label up to ``highest`` (seen in the table) is handed out again.

        The settings in memory may be stale (another writer), or ``index.json`` rolled back to an old copy.
        """
        if highest < self.settings.get("next_label", 0):
            return
        self.settings["next_label"] = max(self.settings.get("next_label", 0), self._stored().get("next_label", 0))
        if highest >= self.settings["next_label"]:
            self.reserve(0, above=highest)

    def _stored(self) -> dict[str, Any]:
        return read_settings(self.folder)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` across processes (flock; released when the process dies)."""
    with path.open("a") as handle:
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_UN)


def model_spec(stored: Mapping[str, Any]) -> str | None:
    """What :func:`~embedlab.models.load_model` loads an index's model from: its recorded source (``None``: bundled)."""
    return None if stored["source"] == "bundled" else stored["path"] or stored["name"]
