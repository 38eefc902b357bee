"""Atomic writes: old versions stay whole, nothing is left aside, threads never tear a file."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from embedlab import atomic
from embedlab.atomic import replace_folder, write_file, write_json


def _names(folder: Path) -> list[str]:
    return sorted(entry.name for entry in folder.iterdir())


def _half_then(error: BaseException) -> Callable[[Path], None]:
    def write(tmp: Path) -> None:
        tmp.write_text('{"half": ', encoding="utf-8")
        raise error

    return write


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()], ids=["error", "interrupt"])
def test_a_failing_writer_leaves_the_old_file_whole_and_no_temp_file(tmp_path: Path, error: BaseException) -> None:
    path = write_json(tmp_path / "settings.json", {"k": 10})
    with pytest.raises(type(error)):
        write_file(path, _half_then(error))
    assert json.loads(path.read_text(encoding="utf-8")) == {"k": 10}
    assert _names(tmp_path) == ["settings.json"]


def test_the_temporary_file_keeps_the_suffix_np_save_needs(tmp_path: Path) -> None:
    path = write_file(tmp_path / "vectors.npy", lambda tmp: np.save(tmp, np.eye(2)))
    assert _names(tmp_path) == ["vectors.npy"]
    np.testing.assert_array_equal(np.load(path), np.eye(2))


_KILLED_WRITER = """
import sys, time
from pathlib import Path
from embedlab.atomic import write_file

def write(tmp):
    tmp.write_text('{"half": ', encoding="utf-8")
    print("writing", flush=True)
    time.sleep(60)

write_file(Path(sys.argv[1]), write)
"""


def test_a_killed_writer_leaves_the_old_file_whole_and_the_next_write_clears_its_temp_file(tmp_path: Path) -> None:
    path = write_json(tmp_path / "settings.json", {"k": 10})
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    writer = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(path)], stdout=subprocess.PIPE, env=env)
    assert writer.stdout is not None and writer.stdout.readline() == b"writing\n"
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    assert json.loads(path.read_text(encoding="utf-8")) == {"k": 10}
    left, name = _names(tmp_path)
    assert name == "settings.json" and left.startswith(f".settings.json.tmp-{writer.pid}-")
    another_host = tmp_path / f".settings.json.tmp-{writer.pid}-1-elsewhere.example.json"
    another_host.write_text("{")  # a live writer on another host sharing the folder, for all this host can tell

    write_json(path, {"k": 20})
    assert _names(tmp_path) == [another_host.name, "settings.json"]
    assert json.loads(path.read_text(encoding="utf-8")) == {"k": 20}


def test_threads_writing_one_file_at_once_never_tear_it(tmp_path: Path) -> None:
    path = write_json(tmp_path / "settings.json", {"writer": -1, "rows": []})
    versions = {i: {"writer": i, "rows": list(range(i * 1000, i * 1000 + 2000))} for i in range(8)}
    errors: list[BaseException] = []
    seen: list[dict[str, object]] = []
    done = threading.Event()

    def writer(i: int) -> None:
        try:
            for _ in range(25):
                write_json(path, versions[i])
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    def reader() -> None:
        while not done.is_set():
            seen.append(json.loads(path.read_text(encoding="utf-8")))

    threads = [threading.Thread(target=writer, args=(i,)) for i in versions]
    watcher = threading.Thread(target=reader)
    watcher.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    watcher.join()
    assert errors == []
    assert seen and all(version in [{"writer": -1, "rows": []}, *versions.values()] for version in seen)
    assert json.loads(path.read_text(encoding="utf-8")) in versions.values()
    assert _names(tmp_path) == ["settings.json"]


def test_a_folder_is_replaced_whole_and_the_old_one_removed(tmp_path: Path) -> None:
    target = tmp_path / "model"
    target.mkdir()
    (target / "old.bin").write_bytes(b"old")
    with replace_folder(target) as staging:
        staging.mkdir()
        (staging / "new.bin").write_bytes(b"new")
        assert _names(target) == ["old.bin"]  # untouched until the block ends
    assert _names(target) == ["new.bin"]
    assert _names(tmp_path) == ["model"]


def test_a_failing_folder_writer_leaves_the_old_folder_whole_and_nothing_aside(tmp_path: Path) -> None:
    target = tmp_path / "model"
    target.mkdir()
    (target / "old.bin").write_bytes(b"old")
    with pytest.raises(OSError, match="disk full"), replace_folder(target) as staging:
        staging.mkdir()
        (staging / "new.bin").write_bytes(b"half")
        raise OSError("disk full")
    assert _names(target) == ["old.bin"]
    assert _names(tmp_path) == ["model"]


def test_a_folder_swap_that_fails_puts_the_old_folder_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "model"
    target.mkdir()
    (target / "old.bin").write_bytes(b"old")
    real_replace = os.replace
    calls: list[tuple[str, str]] = []

    def replace(source: os.PathLike[str], destination: os.PathLike[str]) -> None:
        calls.append((Path(source).name, Path(destination).name))
        if len(calls) == 2:  # the new folder renamed into place
            raise OSError("cross-device link")
        real_replace(source, destination)

    monkeypatch.setattr(atomic.os, "replace", replace)
    with pytest.raises(OSError, match="cross-device"), replace_folder(target) as staging:
        staging.mkdir()
        (staging / "new.bin").write_bytes(b"new")
    assert calls[0][0] == "model" and calls[1][1] == "model" and calls[2][1] == "model"
    assert (target / "old.bin").read_bytes() == b"old"
    assert _names(tmp_path) == ["model"]


def test_a_folder_left_aside_by_a_killed_swap_is_put_back(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    aside = tmp_path / f".model.old-{dead.pid}-1-{host}"
    aside.mkdir()
    (aside / "old.bin").write_bytes(b"old")
    (tmp_path / f".model.tmp-{dead.pid}-1-{host}").mkdir()  # its half-written staging folder
    with pytest.raises(OSError, match="disk full"), replace_folder(tmp_path / "model"):
        raise OSError("disk full")
    assert _names(tmp_path) == ["model"]
    assert (tmp_path / "model" / "old.bin").read_bytes() == b"old"


def test_a_block_that_writes_nothing_leaves_the_target_alone(tmp_path: Path) -> None:
    target = tmp_path / "model"
    target.mkdir()
    with pytest.raises(FileNotFoundError, match="Nothing was written"), replace_folder(target):
        pass
    assert target.is_dir()
    assert _names(tmp_path) == ["model"]
