"""Atomic writes: a file or a folder is replaced whole, or not at all.

A writer writes aside, into a hidden sibling of the target named after it, this process, this thread and
this host (``.NAME.tmp-PID-THREAD-HOST``, the suffix kept), flushes it to disk and renames it over the
target in one step: a reader sees the old version or the new one, never a mix, and two threads or
processes writing the same target never share a temporary file (the last rename wins). A writer that
fails or is interrupted removes what it wrote aside and leaves the old version as it was. What a killed
process (SIGKILL, power loss) left aside is cleared by the next write of the same target on the same host
(a process of another host sharing the folder is never taken for dead).

A folder is staged aside the same way and swapped in with two renames (the old folder set aside, the new
one renamed into place, then the old one removed): the old folder is back if the second rename fails, and
between the two renames (microseconds) the name is briefly absent.

Example:
    >>> path = write_json(tmp / "settings.json", {"k": 10})
    >>> json.loads(path.read_text())
    {'k': 10}
    >>> with replace_folder(tmp / "model") as staging:
    ...     staging.mkdir()
    ...     _ = (staging / "weights.bin").write_bytes(b"new")
    >>> [entry.name for entry in tmp.iterdir() if entry.name.startswith(".")]  # nothing left aside
    []
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

_HOST = socket.gethostname().replace(os.sep, "_")


def write_file(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Replace ``path`` with what ``write(tmp)`` writes into a temporary sibling; return ``path``.

    ``tmp`` ends with ``path``'s suffix (``np.save`` adds ``.npy`` to a name without it). The file and its
    folder are synced to disk before and after the rename. If ``write`` raises, ``path`` is untouched.

    Example:
        >>> import numpy as np
        >>> write_file(tmp / "vectors.npy", lambda aside: np.save(aside, np.eye(2))).name
        'vectors.npy'
    """
    path = Path(path)
    _clear_dead(path)
    tmp = _aside(path, "tmp")
    try:
        write(tmp)
        _sync(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _sync_folder(path.parent)
    return path


def write_json(path: str | Path, data: Any, *, indent: int | None = 1) -> Path:
    """Replace ``path`` with ``data`` as JSON (UTF-8), atomically; ``data`` is serialised before anything is written."""
    text = json.dumps(data, indent=indent)
    return write_file(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


@contextmanager
def replace_folder(target: str | Path) -> Iterator[Path]:
    """Yield a staging path beside ``target`` for the block to create its folder at; then it replaces ``target``.

    The staging folder does not exist yet, so writers that create their folder (``st.save``,
    ``shutil.copytree``, a function that refuses an existing folder) write straight into it. The old
    ``target`` (a folder or a file), if any, stays whole until the new one is in place, and is put back if
    the swap fails. If the block raises, the staging folder is removed and ``target`` is untouched.
    Concurrent replacements of one target are not serialised: use a lock around them.

    Raises:
        FileNotFoundError: the block did not create the staging folder (``target`` is untouched).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _clear_dead(target)
    staging = _aside(target, "tmp")
    _remove(staging)
    try:
        yield staging
        if not staging.is_dir():
            raise FileNotFoundError(f"Nothing was written to the staging folder {staging} of {target}.")
        old = _aside(target, "old")
        if target.exists() or target.is_symlink():
            os.replace(target, old)
        try:
            os.replace(staging, target)
        except BaseException:
            if old.exists() or old.is_symlink():
                os.replace(old, target)
            raise
        _sync_folder(target.parent)
        _remove(old)
    finally:
        _remove(staging)


def _aside(path: Path, kind: str) -> Path:
    """The name this process, thread and host write ``path`` under before renaming (``kind``: tmp or old)."""
    return path.with_name(f".{path.name}.{kind}-{os.getpid()}-{threading.get_ident()}-{_HOST}{path.suffix}")


def _clear_dead(path: Path) -> None:
    """Remove what writers of ``path`` on this host that died without cleaning up left aside; put back a folder."""
    if os.name != "posix" or not path.parent.is_dir():  # liveness is read from process ids on POSIX only
        return
    for entry in path.parent.iterdir():
        for kind in ("tmp", "old"):
            prefix = f".{path.name}.{kind}-"
            pid, _, rest = entry.name[len(prefix) :].partition("-") if entry.name.startswith(prefix) else ("", "", "")
            ours = rest.partition("-")[2] == f"{_HOST}{path.suffix}"
            if ours and pid.isdigit() and not _alive(int(pid)):
                if kind == "old" and not (path.exists() or path.is_symlink()):
                    os.replace(entry, path)  # killed between the two renames of a folder swap
                else:
                    _remove(entry)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _sync(path: Path) -> None:
    with path.open("rb+") as handle:
        os.fsync(handle.fileno())


def _sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; some file systems refuse it, which changes nothing else)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
