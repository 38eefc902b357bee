"""A real two-node Ray cluster on loopback: an actor SIGKILLed mid-run loses and duplicates nothing.

The head and a worker node are started with ``ray start --block`` in their own process groups (their own
temp folders and a token of their own), and stopped by signalling those groups: ``ray stop`` would stop
every Ray on the machine, other sessions' too.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from embedlab import EmbeddingModel
from embedlab.extras import missing
from embedlab.index import Index
from embedlab.index.documents import read_documents
from embedlab.scale import Cluster, Progress, add_with_ray
from embedlab.scale.cluster import LOOPBACK

pytestmark = [
    pytest.mark.slow,
    pytest.mark.own_process,  # another Ray in this process before (the CLI tests) leaves its auth token behind
    pytest.mark.skipif(bool(missing("ray")), reason="needs embedlab[ray]"),
]

ROOT = Path(__file__).resolve().parents[2]
RAY = Path(sys.executable).with_name("ray")
# `ray start` refuses a second node unless clusters are enabled, and then turns --node-ip-address 127.0.0.1
# into the machine's address; this launcher keeps the worker node on loopback, like the head.
WORKER = (
    "import sys, ray._private.services as services; services.resolve_ip_for_localhost = lambda host: host; "
    "from ray.scripts.scripts import main; sys.argv[0] = 'ray'; main()"
)
DOCUMENTS = 2000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, "the Ray head exited"
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"no Ray head on 127.0.0.1:{port}")


def stop(process: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(wait)
        except subprocess.TimeoutExpired:
            continue
        if sig == signal.SIGTERM:  # the group's daemons (raylet, gcs) may outlive `ray start`
            time.sleep(2)


@pytest.fixture
def cluster(monkeypatch) -> Iterator[tuple[str, Path]]:
    """``(address, worker temp dir)`` of a head (1 CPU) and a worker node (2 CPUs) on 127.0.0.1."""
    temp = Path(tempfile.mkdtemp(prefix="eray", dir="/tmp"))  # short: Ray's socket paths must fit in 107 bytes
    port = free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}  # fmt: skip
    for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", *LOOPBACK):
        monkeypatch.setenv(name, {**env, **LOOPBACK}[name])
    common = ["--block", "--node-ip-address", "127.0.0.1", "--object-store-memory", str(80 * 2**20),
              "--disable-usage-stats"]  # fmt: skip
    processes = []
    try:
        with open(temp / "head.log", "w") as log:
            head = subprocess.Popen(
                [str(RAY), "start", "--head", "--port", str(port), "--num-cpus", "1", "--include-dashboard", "false",
                 "--temp-dir", str(temp / "h"), *common],
                env={**env, **LOOPBACK}, stdout=log, stderr=log, start_new_session=True,
            )  # fmt: skip
        processes.append(head)
        wait_for_port(port, head)
        with open(temp / "worker.log", "w") as log:
            worker = subprocess.Popen([sys.executable, "-c", WORKER, "start", "--address", f"127.0.0.1:{port}",
                                       "--num-cpus", "2", "--temp-dir", str(temp / "w"), *common],
                                      env={**env, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "1"}, stdout=log, stderr=log,
                                      start_new_session=True)  # fmt: skip
        processes.append(worker)
        yield f"127.0.0.1:{port}", temp / "w"
    finally:
        for process in reversed(processes):
            stop(process)
        shutil.rmtree(temp, ignore_errors=True)


def actor_pids(worker_temp: Path) -> list[int]:
    """Pids of the encoder actors (``ray::MapWorker...``) whose raylet is the worker node's."""
    import psutil

    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        try:
            if not " ".join(process.info["cmdline"] or []).startswith("ray::MapWorker"):
                continue
            parents = " ".join(" ".join(parent.cmdline()) for parent in process.parents())
        except psutil.Error:
            continue
        if str(worker_temp) in parents:
            found.append(process.info["pid"])
    return found


def wait_for_nodes(count: int, seconds: float = 90) -> None:
    import ray

    deadline = time.monotonic() + seconds
    while sum(node["Alive"] for node in ray.nodes()) < count:
        assert time.monotonic() < deadline, "the worker node did not join"
        time.sleep(0.5)


def test_a_killed_worker_loses_and_duplicates_nothing(cluster, tmp_path, model: EmbeddingModel):
    import ray

    address, worker_temp = cluster
    source = tmp_path / "docs.jsonl"
    rows = [{"id": f"doc-{i}", "text": f"Note {i}: the {i % 13}th cat naps.", "lang": "en" if i % 3 else "fr"}
            for i in range(DOCUMENTS)]  # fmt: skip
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    reference = Index.build(tmp_path / "one", read_documents(source, metadata_fields=["lang"]), model,
                            metadata_fields=["lang"])  # fmt: skip
    index = Index.create(tmp_path / "ray", model, metadata_fields=["lang"])
    ray.init(address=address, log_to_driver=False)
    try:
        wait_for_nodes(2)
        killed: list[int] = []

        def kill_once(progress: Progress) -> None:
            if not killed and progress.done < DOCUMENTS:
                pids = actor_pids(worker_temp)
                assert pids, "no encoder actor on the worker node"
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])

        settings = Cluster(address=address, actors=2, batch_size=100, commit_size=200)
        first = add_with_ray(index, source, cluster=settings, on_progress=kill_once)
        again = add_with_ray(index, source, cluster=settings)
    finally:
        ray.shutdown()
    assert killed and first.documents == DOCUMENTS and first.commits == DOCUMENTS // 200
    assert (again.documents, again.skipped) == (0, DOCUMENTS)
    table = index._table().to_arrow()
    assert sorted(table.column("doc_id").to_pylist()) == sorted(f"doc-{i}" for i in range(DOCUMENTS))
    ids, vectors = index._rows.document_vectors(None)
    expected = dict(zip(*reference._rows.document_vectors(None), strict=True))
    assert np.min(np.sum(vectors * np.stack([expected[i] for i in ids]), axis=1)) >= 0.9999
