"""A migration end to end: plan, a build killed (SIGKILL) and resumed, compare, the gate refusing and passing,
a promote while a real server answers concurrent searches (none failing), and a rollback to identical results.

Three real models: the bundled MiniLM (the old index), a random one-layer transformer (a migration the gate
must refuse) and the bundled model with one bias nudged (another fingerprint, the same quality: a migration
the gate lets through; it stands in for an adapted model).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

from embedlab import EmbeddingModel, Encoder
from embedlab.cli import app
from embedlab.index import Index
from embedlab.operate.aliases import read_alias
from embedlab.operate.migrate import read_marker
from embedlab.operate.promote import GateError
from embedlab.operate.thresholds import Threshold
from embedlab.scale import Ledger
from embedlab.serve import ServeConfig, create_app
from tests.serve.conftest import running

from .conftest import QUERIES, documents, write_benchmark

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def kill_mid_build(alias: Path, model: Path, out: Path, after: int) -> None:
    """Run ``embedlab migrate build`` in a subprocess and SIGKILL it once ``after`` documents are committed."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    command = [sys.executable, "-m", "embedlab", "migrate", "build", str(alias), "--model", str(model), "--out",
               str(out), "--batch", "2"]  # fmt: skip
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    assert process.stderr is not None
    lines = []
    for line in process.stderr:
        lines.append(line)
        if line.startswith("built ") and int(line.split()[1].split("/")[0]) >= after:
            process.send_signal(signal.SIGKILL)
            break
    process.wait(60)
    assert process.returncode == -signal.SIGKILL, "".join(lines)


def search_all(url: str, queries: list[str]) -> list[list[tuple[str, float]]]:
    found = []
    for query in queries:
        response = httpx.post(f"{url}/v1/search", json={"index": "docs", "query": query, "k": 5}, timeout=60)
        assert response.status_code == 200, response.text
        found.append([(hit["doc_id"], hit["score"]) for hit in response.json()["data"]])
    return found


async def load(url: str, queries: list[str], stop: threading.Event, clients: int = 8) -> list[int]:
    """Searches from ``clients`` concurrent clients until ``stop``; every status code."""
    statuses: list[int] = []

    async def client(session: httpx.AsyncClient, seed: int) -> None:
        rng = random.Random(seed)
        while not stop.is_set():
            response = await session.post("/v1/search", json={"index": "docs", "query": rng.choice(queries), "k": 5})
            statuses.append(response.status_code)

    async with httpx.AsyncClient(base_url=url, timeout=120) as session:
        await asyncio.gather(*(client(session, seed) for seed in range(clients)))
    return statuses


def promote_under_load(
    url: str, queries: list[str], action: list[str], probe: str, before: list[tuple[str, float]]
) -> list[int]:
    """Run ``action`` (a CLI command) while clients search; keep the load until ``probe``'s results change."""
    stop = threading.Event()
    statuses: list[int] = []
    loader = threading.Thread(target=lambda: statuses.extend(asyncio.run(load(url, queries, stop))))
    loader.start()
    try:
        time.sleep(1.0)
        cli(*action)
        deadline = time.time() + 120
        while search_all(url, [probe])[0] == before and time.time() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)  # and some more requests on the new target
    finally:
        stop.set()
        loader.join(120)
    return statuses


@pytest.mark.slow
def test_migration_end_to_end(
    model: EmbeddingModel, tiny_model: EmbeddingModel, perturbed_model: EmbeddingModel, tmp_path: Path
) -> None:
    bench = write_benchmark(tmp_path / "bench")
    old = Index.build(tmp_path / "v1", documents(), Encoder(model), metadata_fields=["topic"]).path
    alias = tmp_path / "docs.alias.json"
    cli("migrate", "alias", str(alias), str(old))

    planned = json.loads(cli("migrate", "plan", str(alias), "--model", str(tiny_model.info.path), "--sample", "4",
                             "--json"))  # fmt: skip
    assert planned["documents"] == 24 and planned["tokens"] > 24 and planned["seconds"] > 0

    # a build killed after 6 of 24 documents keeps them, is refused for promotion, and resumes
    tiny = tmp_path / "v2-tiny"
    kill_mid_build(alias, Path(tiny_model.info.path), tiny, after=6)
    kept = len(Index.open(tiny, Encoder(tiny_model)))
    assert 6 <= kept < 24 and read_marker(tiny)["status"] == "building"
    refused = runner.invoke(app, ["migrate", "promote", str(alias), str(tiny), "--force"])
    assert "half-built" in str(refused.exception)
    recorded = len(Ledger(tiny, Encoder(tiny_model).info.fingerprint).committed())  # a kill may split add and record
    assert kept - 2 <= recorded <= kept
    assert f"{24 - recorded} embedded by this run" in cli("migrate", "build", str(alias), "--model",
                                                             str(tiny_model.info.path), "--out", str(tiny))  # fmt: skip
    resumed = Index.open(tiny, Encoder(tiny_model))
    reference = Index.build(tmp_path / "reference", documents(), Encoder(tiny_model), metadata_fields=["topic"])
    assert resumed.info()["chunks"] == reference.info()["chunks"] and len(resumed) == 24  # no document twice
    _, mine = resumed._rows.document_vectors(None)
    _, theirs = reference._rows.document_vectors(None)
    np.testing.assert_allclose(np.sort(mine, axis=0), np.sort(theirs, axis=0), atol=1e-5)

    # the random model is far worse: the gate refuses, naming the figures
    output = cli("migrate", "compare", str(alias), str(tiny), "--benchmark", str(bench), "-k", "5")
    assert "NDCG@10 old" in output and "p = " in output and "RBO" in output
    refused = runner.invoke(app, ["migrate", "promote", str(alias), str(tiny)])
    assert isinstance(refused.exception, GateError)
    assert "NDCG@10 is significantly worse" in str(refused.exception) and "p = " in str(refused.exception)
    assert read_alias(alias).target == old.resolve()

    # the nudged model: served in shadow, compared on the benchmark and the shadow log, promoted under load
    close = tmp_path / "v2-close"
    cli("migrate", "build", str(alias), "--model", str(perturbed_model.info.path), "--out", str(close))
    queries = [text for texts in QUERIES.values() for text in texts]
    log = tmp_path / "shadow.jsonl"
    config = ServeConfig(indexes={"docs": str(alias)}, shadow={"docs": str(close)}, shadow_log=str(log))
    with running(create_app(config, encoder=Encoder(model))) as url:
        assert httpx.get(f"{url}/health").json()["indexes"] == {"docs": old.name}  # what the alias serves now
        before = search_all(url, queries)
        deadline = time.time() + 60
        while (not log.exists() or len(log.read_text().splitlines()) < len(queries)) and time.time() < deadline:
            time.sleep(0.2)
        shadowed = [json.loads(line) for line in log.read_text().splitlines()]
        assert [record["query"] for record in shadowed] == queries and all(0 <= r["rbo"] <= 1 for r in shadowed)
        output = cli("migrate", "compare", str(alias), str(close), "--benchmark", str(bench), "--queries", str(log))
        assert f"log ({len(queries)} queries)" in output and "threshold: calibrated" in output
        assert Threshold.load(close / "threshold.json").check(Index.open(close, Encoder(perturbed_model)))

        statuses = promote_under_load(url, queries, ["migrate", "promote", str(alias), str(close)],
                                      queries[0], before[0])  # fmt: skip
        assert read_alias(alias).target == close.resolve()
        assert len(statuses) > 20 and set(statuses) == {200}, statuses
        assert search_all(url, queries) != before  # the new index answers
        assert httpx.get(f"{url}/health").json()["indexes"] == {"docs": close.name}

        statuses = promote_under_load(url, queries, ["migrate", "rollback", str(alias)], queries[0],
                                      search_all(url, queries[:1])[0])  # fmt: skip
        assert set(statuses) == {200}
        assert search_all(url, queries) == before  # the old index again: the same documents and scores
        assert httpx.get(f"{url}/health").json()["indexes"] == {"docs": old.name}
    assert read_alias(alias).target == old.resolve() and close.is_dir()  # the new index is kept
