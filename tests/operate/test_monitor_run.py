"""``init_monitor`` and ``run_monitor`` on a real index of a few documents with the bundled model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embedlab import EmbeddingModel, Encoder
from embedlab.errors import InputError
from embedlab.evaluate.data import RetrievalBenchmark
from embedlab.index import Index
from embedlab.operate.monitor import History, QueryRecord, init_monitor, run_monitor

TOPICS = {
    "cats": ["Cats sleep most of the day.", "My cat purrs when she is happy.", "Kittens need vaccinations."],
    "code": ["Python lists are mutable.", "A compiler turns source code into machine code.", "Git tracks changes."],
    "food": ["Bake the bread for forty minutes.", "Pasta should be cooked al dente.", "Add salt to the soup."],
    "space": ["Mars has two small moons.", "The Sun is a main-sequence star.", "Astronauts live on the ISS."],
}
QUERIES = {
    "cats": ["why do cats nap so much", "is my kitten happy", "cat vaccines", "feline sleep", "cat purring"],
    "code": ["what is a compiler", "python list mutability", "version control", "source code", "git history"],
    "food": ["how long to bake bread", "cooking pasta", "seasoning soup", "bread recipe", "al dente meaning"],
    "space": ["moons of mars", "what kind of star is the sun", "space station life", "mars moons", "stars"],
}


def documents() -> list[dict[str, str]]:
    return [{"id": f"{topic}{i}", "text": text} for topic, texts in TOPICS.items() for i, text in enumerate(texts)]


def canary() -> RetrievalBenchmark:
    queries = {f"q{topic}{i}": q for topic, qs in QUERIES.items() for i, q in enumerate(qs)}
    qrels = {
        f"q{topic}{i}": {f"{topic}{j}": 1 for j in range(3)} for topic, qs in QUERIES.items() for i in range(len(qs))
    }
    return RetrievalBenchmark({}, queries, qrels, name="tiny")


@pytest.fixture
def index(model: EmbeddingModel, tmp_path: Path) -> Index:
    return Index.build(tmp_path / "index", documents(), Encoder(model, show_progress=False))


def signals(run: object) -> dict[str, object]:
    return {signal.name: signal for signal in run.signals}  # type: ignore[attr-defined]


@pytest.mark.slow
def test_no_change_no_alarm_and_the_run_is_in_the_history(index: Index) -> None:
    baseline = init_monitor(index, canary=canary(), min_score=0.2)
    assert baseline.corpus.count == 12 and baseline.reference_vectors.shape == (20, 384)
    assert baseline.canary_mean["recall@10"] == 1.0  # 12 documents: every relevant one is in the top 10
    run = run_monitor(index, queries=[q for qs in QUERIES.values() for q in qs], min_queries=10, permutations=199)
    found = signals(run)
    assert not run.alarm, [s for s in run.signals if s.alarm]
    assert found["probe_mismatch"].value < 1e-4  # type: ignore[attr-defined]
    assert found["canary_ndcg@10"].p_value == 1.0  # the same rankings: every difference 0
    assert found["top1_score_ks"].p_value == 1.0 and found["query_mmd"].p_value == 1.0  # the same queries
    assert "empty_rate" in found and found["corpus_coverage"].detail["added"] == 0  # type: ignore[attr-defined]
    history = History(index.path / "monitor")
    assert [r.id for r in history.runs()] == [run.run_id]
    assert len(history.queries(source="log")) == 20


@pytest.mark.slow
def test_shuffled_documents_drop_the_canary_and_another_topic_drifts(index: Index) -> None:
    init_monitor(index, canary=canary())
    texts = [doc["text"] for doc in documents()]
    order = np.random.default_rng(0).permutation(len(texts))
    index.add([{"id": doc["id"], "text": texts[i]} for doc, i in zip(documents(), order, strict=True)])
    other = ["senior java developer", "nurse in intensive care", "truck driver wanted", "accountant job",
             "electrician apprentice", "hotel receptionist", "warehouse picker", "bus driver", "web designer",
             "dental hygienist", "plumber", "sales manager", "chef de partie", "pharmacist", "welder",
             "teacher primary school", "security guard", "data analyst", "forklift operator", "barista"]  # fmt: skip
    run = run_monitor(index, queries=other, permutations=199)
    found = signals(run)
    assert run.alarm
    assert found["canary_ndcg@10"].alarm and found["canary_ndcg@10"].detail["verdict"] == "worse"  # type: ignore[attr-defined]
    assert found["query_mmd"].alarm and found["query_classifier_auc"].alarm  # type: ignore[attr-defined]
    assert not found["probe_mismatch"].alarm  # type: ignore[attr-defined]
    assert found["corpus_coverage"].detail["added"] == 0  # type: ignore[attr-defined]
    assert len(run.drifted) == 10 and all(item["query"] in other for item in run.drifted)
    assert any("threshold" in note for note in run.notes)  # none given: the empty rate is skipped, and said so


@pytest.mark.slow
def test_server_sampled_queries_are_read_when_no_log_is_given(index: Index) -> None:
    init_monitor(index, canary=canary())
    History(index.path / "monitor").log_queries([QueryRecord(time=2e9, query="cats")] * 3)
    run = run_monitor(index)
    assert any("3 queries from the server's log" in note for note in run.notes)
    assert "query_mmd" not in signals(run)


@pytest.mark.slow
def test_a_swapped_model_is_caught_by_the_probes(index: Index, tmp_path: Path) -> None:
    init_monitor(index, canary=canary())
    baseline = np.load(index.path / "monitor" / "baseline.npz")["probes"]
    np.savez(index.path / "monitor" / "baseline.npz", **{**dict(np.load(index.path / "monitor" / "baseline.npz")),
             "probes": np.round(baseline * 20) / 20})  # fmt: skip
    run = run_monitor(index, record=False)
    assert signals(run)["probe_mismatch"].alarm  # type: ignore[attr-defined]
    assert run.run_id == 0 and History(index.path / "monitor").latest() is None


def test_errors(index: Index, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="monitor init"):
        run_monitor(index)
    empty = Index.create(tmp_path / "empty", index.encoder)
    with pytest.raises(InputError, match="empty"):
        init_monitor(empty, canary=canary())
