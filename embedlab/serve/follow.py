"""A served index that follows an alias: a promote or a rollback takes effect without a restart.

:class:`FollowedIndex` has the index's ``search``. Each call looks at the alias file (one ``stat``; the
file is read only when its size or modification time changed) and searches the index it points at.
When the target changed, the first request to see it opens the new index (with its own model when that
is not the served one) while other requests keep the old index; the switch is one assignment once the new
index is open, and a request that started on the old index finishes on it (it holds its own reference).
The last two indexes stay open, so a rollback is immediate. A target that cannot be opened is logged and
the current index keeps serving.

With ``shadow`` (a :class:`Shadow`), each search is also run on a candidate index in the background and
the comparison of the two rankings is appended to a JSON-lines log, which
``embedlab migrate compare --queries LOG`` reads.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from embedlab.encode import Encoder
from embedlab.errors import EmbedlabError, InputError

logger = logging.getLogger("embedlab.serve")


def open_index(folder: str | Path, encoder: Encoder) -> Any:
    """Open an index with the served ``encoder`` when it is the index's model, else with the index's own."""
    from embedlab.index import Index
    from embedlab.index.settings import read_settings

    same = read_settings(Path(folder))["model"]["fingerprint"] == encoder.info.fingerprint
    return Index.open(folder, encoder if same else None)


def open_served(folders: dict[str, str], encoder: Encoder) -> dict[str, Any]:
    """The served indexes: folders opened with the served model, aliases followed (modules loaded only if needed)."""
    if not folders:
        return {}
    from embedlab.index import Index
    from embedlab.operate.aliases import is_alias

    return {name: FollowedIndex(path, encoder) if is_alias(path) else Index.open(path, encoder)
            for name, path in folders.items()}  # fmt: skip


def open_shadows(shadow: dict[str, str], served: dict[str, str], encoder: Encoder, log: str | Path) -> dict[str, Any]:
    """The shadow candidates (``{served name: candidate folder}``), all logging to ``log``.

    Raises:
        InputError: a shadow for an index that is not served.
    """
    unknown = sorted(set(shadow) - set(served))
    if unknown:
        raise InputError(f"Shadow indexes {unknown} are not served; serve them with --index NAME=FOLDER.")
    return {name: Shadow(folder, encoder, log) for name, folder in shadow.items()}


def serving(index: Any) -> str:
    """The name of the folder a served index (or the index an alias points at, looked at now) answers from."""
    return (index.index if isinstance(index, FollowedIndex) else index).path.name


class FollowedIndex:
    """The index an alias points at, re-resolved at every search (see the module)."""

    def __init__(self, alias: str | Path, encoder: Encoder) -> None:
        from embedlab.operate.aliases import read_alias

        self.alias = Path(alias)
        self.encoder = encoder
        self._read = read_alias
        self._stamp = self._stat()
        target = self._read(self.alias).target
        self._current: tuple[Path, Any] = (target, open_index(target, encoder))  # a bad target fails the start
        self._open = dict([self._current])  # the current index and the one before it (for a quick rollback)
        self._switching = threading.Lock()

    @property
    def target(self) -> Path:
        """The folder serving now."""
        return self._current[0]

    @property
    def path(self) -> Path:
        """The folder serving now, as ``Index.path`` (monitoring reads the index folder from it)."""
        return self.target

    @property
    def index(self) -> Any:
        """The index serving now (after a look at the alias)."""
        self._follow()
        return self._current[1]

    def search(self, query: str, k: int = 10, **options: Any) -> Any:
        """``Index.search`` on the alias's current target."""
        return self.index.search(query, k, **options)

    def _stat(self) -> tuple[int, int]:
        try:
            status = os.stat(self.alias)
        except OSError:
            return (-1, -1)
        return (status.st_mtime_ns, status.st_size)

    def _follow(self) -> None:
        stamp = self._stat()
        if stamp == self._stamp or not self._switching.acquire(blocking=False):
            return  # unchanged, or another request is opening the new target: serve the current one meanwhile
        try:
            target = self._read(self.alias).target
            if target not in self._open:
                started = time.perf_counter()
                self._open[target] = open_index(target, self.encoder)
                logger.info("alias %s: opened %s in %.2f s", self.alias, target, time.perf_counter() - started)
            if target != self.target:
                logger.info("alias %s: now serving %s (was %s)", self.alias, target, self.target)
            self._open = {path: index for path, index in self._open.items() if path in (target, self.target)}
            self._current = (target, self._open[target])  # one assignment: a request sees the old or the new
            self._stamp = stamp
        except (EmbedlabError, OSError) as exc:
            logger.warning("alias %s: cannot switch (%s); still serving %s", self.alias, exc, self.target)
            self._stamp = stamp  # not retried until the alias changes again
        finally:
            self._switching.release()


class Shadow:
    """Run each served search on a candidate index too, in the background, and log both rankings (JSON lines)."""

    def __init__(self, folder: str | Path, encoder: Encoder, log: str | Path, *, p: float = 0.9) -> None:
        self.index = open_index(folder, encoder)
        self.log = Path(log)
        self.p = p
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedlab-shadow")
        self._writing = threading.Lock()

    def submit(self, query: str, k: int, served: list[Any], options: dict[str, Any]) -> None:
        """Search the candidate for ``query`` later and log it against ``served`` (the hits answered)."""
        self._pool.submit(self._run, query, k, [hit.doc_id for hit in served], options)

    def close(self) -> None:
        """Finish the queued shadow searches."""
        self._pool.shutdown(wait=True)

    def _run(self, query: str, k: int, served: list[str], options: dict[str, Any]) -> None:
        from embedlab.operate.compare import agreement

        try:
            started = time.perf_counter()
            shadow = [hit.doc_id for hit in self.index.search(query, k, **options)]
            record = {"query": query, "k": k, "served": served, "shadow": shadow,
                      "ms": round(1000 * (time.perf_counter() - started), 2),
                      **agreement(served, shadow, k=k, p=self.p)}  # fmt: skip
            line = json.dumps(record, ensure_ascii=False) + "\n"
            with self._writing, self.log.open("a", encoding="utf-8") as handle:
                handle.write(line)
        except Exception:  # a shadow search never affects serving; it is logged
            logger.exception("shadow search failed for a query")
