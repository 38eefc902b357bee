"""The server logs every search of a monitored index to its history (none lost under load) and exports gauges."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import httpx
import pytest

from embedlab import EmbeddingModel, Encoder
from embedlab.index import Index
from embedlab.operate.monitor import History, QueryRecord
from embedlab.operate.monitor.querylog import QueryLogger
from embedlab.serve import ServeConfig, create_app

from .conftest import running

DOCS = ["Cats sleep all day.", "Python lists are mutable.", "Bake bread for forty minutes.", "Mars has two moons."]


def monitored_index(model: EmbeddingModel, folder: Path) -> Index:
    index = Index.create(folder, Encoder(model, show_progress=False))
    index.add([{"id": str(i), "text": text} for i, text in enumerate(DOCS)])
    (folder / "monitor").mkdir()
    (folder / "monitor" / "baseline.json").write_text("{}")  # what makes the server log: a baseline is there
    (folder / "threshold.json").write_text('{"value": 0.3}')  # the calibrated threshold: under it, abstained
    return index


def test_every_search_under_load_is_logged_and_the_latest_run_is_on_metrics(
    model: EmbeddingModel, tmp_path: Path
) -> None:
    index = monitored_index(model, tmp_path / "docs")
    history = History(index.path / "monitor")
    history.append_run(True, [{"name": "query_mmd", "value": 0.25, "p_value": 0.001, "adjusted_p": 0.005,
                               "alarm": True},
                              {"name": "probe_mismatch", "value": 0.0, "p_value": None, "alarm": False}])  # fmt: skip
    queries = [f"question {i} about {DOCS[i % 4].split()[0].lower()}" for i in range(120)]
    config = ServeConfig(indexes={"docs": str(index.path), "plain": str(tmp_path / "plain")}, max_batch=16)
    Index.create(tmp_path / "plain", Encoder(model)).add([{"id": "a", "text": "unmonitored"}])

    async def load(url: str) -> list[int]:
        limits = httpx.Limits(max_connections=20)
        async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as session:
            answers = await asyncio.gather(*(session.post("/v1/search", json={"index": "docs", "query": q, "k": 2})
                                             for q in queries))  # fmt: skip
            await session.post("/v1/search", json={"index": "plain", "query": "not logged", "k": 1})
            return [answer.status_code for answer in answers]

    with running(create_app(config, encoder=Encoder(model))) as url:
        assert asyncio.run(load(url)) == [200] * 120
        metrics = httpx.get(f"{url}/metrics").text
    assert 'embedlab_monitor_alarm{index="docs",signal="query_mmd"} 1.0' in metrics
    assert 'embedlab_monitor_signal{index="docs",signal="query_mmd"} 0.25' in metrics
    assert 'embedlab_monitor_p_value{index="docs",signal="probe_mismatch"}' not in metrics  # a check has no p-value
    assert 'embedlab_monitor_adjusted_p_value{index="docs",signal="query_mmd"} 0.005' in metrics
    assert 'embedlab_monitor_adjusted_p_value{index="docs",signal="probe_mismatch"}' not in metrics
    assert 'embedlab_monitor_queries{index="docs",state="offered"} 120.0' in metrics
    assert 'embedlab_monitor_queries{index="docs",state="dropped"} 0.0' in metrics
    logged = history.queries(source="server")  # the server has stopped: everything queued was written
    assert Counter(r.query for r in logged) == Counter(queries)
    assert all(r.top_score is not None and not r.empty for r in logged)
    assert all(r.abstained == (r.top_score < 0.3) for r in logged)  # type: ignore[operator]
    assert not (tmp_path / "plain" / "monitor").exists()


def test_a_full_queue_drops_and_counts_never_waits(tmp_path: Path) -> None:
    logger = QueryLogger(History(tmp_path / "monitor"), capacity=2)
    kept = [logger.offer(QueryRecord(time=1.0 + i, query=str(i))) for i in range(5)]  # the writer is not running
    assert kept == [True, True, False, False, False]
    assert (logger.offered, logger.dropped) == (5, 3)
    logger.start()
    logger.stop()
    assert logger.written == 2
    assert [r.query for r in History(tmp_path / "monitor").queries()] == ["0", "1"]


def test_sampling_keeps_about_the_share_asked(tmp_path: Path) -> None:
    logger = QueryLogger(History(tmp_path / "monitor"), sample=0.0)
    assert not logger.offer(QueryRecord(time=1.0, query="x")) and logger.dropped == 0  # not sampled is not dropped
    with pytest.raises(Exception, match="monitor_sample"):
        ServeConfig(monitor_sample=1.5)
