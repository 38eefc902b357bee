"""A model migration on SciFact: index with the bundled model, adapt on the train split, plan, build, compare,
promote through the gate while a real server answers concurrent searches, roll back.

    python bench/migrate.py                    # the whole corpus (5,183 abstracts; ~30 min on 2 cores)
    python bench/migrate.py --docs 1000        # every judged test document plus a seeded sample of the others

Uses embedlab's own path end to end: ``Index.build`` (one vector per abstract, as the reference runs),
``finetune`` on the train split (in-batch MNRL), ``migrate.plan`` / ``migrate.build`` (from the texts the
old index stores), ``compare`` (overlap@10, Jaccard, RBO, top-1, NDCG@10 of both with the paired test, the
threshold recalibrated when :mod:`embedlab.operate.thresholds` is there), ``promote`` behind the gate while
8 clients search a uvicorn server on 127.0.0.1 that follows the alias, then ``rollback``; prints each figure
and the failed requests. Writes everything to bench/out/migrate/.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import socket
import threading
import time
import warnings
from pathlib import Path

import httpx
import uvicorn

from embedlab import Encoder, load_model
from embedlab.adapt import FinetuneConfig, TrainingSet, finetune
from embedlab.evaluate import load_beir
from embedlab.evaluate.data import BenchmarkWarning
from embedlab.index import Index
from embedlab.operate.aliases import create_alias, read_alias, rollback
from embedlab.operate.compare import compare, save
from embedlab.operate.migrate import build, plan
from embedlab.operate.promote import GateError, promote
from embedlab.serve import ServeConfig, create_app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--docs", type=int, help="Corpus sample size (default: the whole corpus).")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--max-seq-length", type=int, default=128, help="Tokens per text while training.")
    parser.add_argument("--train-queries", type=int, help="Train on a seeded sample of this many train queries.")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--reuse", action="store_true", help="Keep an index v1 of the same size from a last run.")
    args = parser.parse_args()
    out = Path(__file__).parent / "out" / "migrate"
    for entry in out.iterdir() if out.is_dir() else []:
        if not (args.reuse and entry.name == "v1"):
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    root = args.shared / "scifact_beir"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BenchmarkWarning)
        test = load_beir(root, split="test")
        train = TrainingSet.from_benchmark(load_beir(root, split="train"))
    if args.docs:
        test = test.sample(args.docs, seed=0)
    if args.train_queries:
        _, train = train.split(min(args.train_queries / len(train.queries), 1.0), seed=0)
    print(f"SciFact: corpus {len(test.corpus)} documents{' (sample)' if args.docs else ''}, test {len(test.queries)} "
          f"queries, train {len(train.queries)} queries / {train.n_pairs} pairs")  # fmt: skip
    base = load_model(device="cpu")
    started = time.perf_counter()
    documents = [{"id": doc_id, "text": text} for doc_id, text in test.corpus.items()]
    reused = args.reuse and (out / "v1").is_dir() and len(Index.open(out / "v1", Encoder(base))) == len(documents)
    if not reused:
        shutil.rmtree(out / "v1", ignore_errors=True)
    encoder = Encoder(base, show_progress=False)
    old = Index.open(out / "v1", encoder) if reused else Index.build(out / "v1", documents, encoder, chunk=False)
    print(f"index v1 (bundled model): {len(old)} documents {'reused' if reused else 'built'} in "
          f"{time.perf_counter() - started:.0f} s")  # fmt: skip
    alias = create_alias(out / "scifact.alias.json", old.path)

    started = time.perf_counter()
    base.st.max_seq_length = args.max_seq_length
    config = FinetuneConfig(negatives=None, epochs=args.epochs, batch_size=32, lr=5e-5)
    adapted_path = finetune(base, train, out=out / "adapted", config=config, show_progress=False).path
    adapted = load_model(adapted_path, device="cpu")
    adapted.st.max_seq_length = 256  # read as the base does
    print(f"adapted on the train split ({config}) in {(time.perf_counter() - started) / 60:.1f} min")

    found = plan(alias, Encoder(adapted, show_progress=False), sample=64)
    print(f"plan: {found.documents} documents, {found.tokens:,} tokens, {found.docs_per_s:.1f} docs/s on 64 -> "
          f"{found.seconds:.0f} s estimated, {found.disk_bytes / 1e6:.1f} MB")  # fmt: skip
    result = build(alias, Encoder(adapted, show_progress=False), out / "v2", batch=256)
    print(f"build: {result.documents} documents in {result.seconds:.0f} s (estimate {found.seconds:.0f} s)")

    new = Index.open(out / "v2")
    comparison = compare(Index.open(old.path), new, benchmark=test, k=10)
    save(comparison, out / "v2" / "compare")
    quality, agree = comparison["retrieval"], comparison["agreement"]["benchmark"]
    test_result = quality["ndcg@10_test"]
    print(f"compare: NDCG@10 old {_e(quality['old']['ndcg@10'])}, new {_e(quality['new']['ndcg@10'])}, difference "
          f"{_e(test_result['difference'])}, p = {test_result['p_value']:.4f} ({test_result['verdict']})")  # fmt: skip
    print(f"         overlap@10 {_e(agree['overlap'])}, Jaccard@10 {_e(agree['jaccard'])}, RBO {_e(agree['rbo'])}, "
          f"top-1 {_e(agree['top1'])}")  # fmt: skip
    thresholds = comparison.get("thresholds", {})
    print(f"         threshold: {thresholds.get('status')} {thresholds.get('new', {}).get('value', '')}")

    queries = list(test.queries.values())
    with _serving(ServeConfig(indexes={"docs": str(alias)}), Encoder(load_model(device="cpu"))) as url:
        before = _search_all(url, queries[:50])

        def go() -> str:
            try:
                promote(alias, new.path)
                return "passed"
            except GateError as exc:
                print(f"gate refused: {exc}\n-> promoting with force=True to measure serving")
                promote(alias, new.path, force=True)
                return "forced"

        statuses, verdict = _under_load(url, queries, go, args.clients, queries[0], before[0])
        print(f"promote ({verdict}) under load: {len(statuses)} requests, {sum(s != 200 for s in statuses)} failed; "
              f"alias -> {read_alias(alias).target.name}")  # fmt: skip
        after = _search_all(url, queries[:50])
        statuses, _ = _under_load(url, queries, lambda: str(rollback(alias).target), args.clients, queries[0],
                                  after[0])  # fmt: skip
        same, changed = _search_all(url, queries[:50]) == before, after != before
        print(f"rollback under load: {len(statuses)} requests, {sum(s != 200 for s in statuses)} failed; results of "
              f"50 queries identical to before: {same}; differed while promoted: {changed}")  # fmt: skip


def _e(values: dict[str, float]) -> str:
    return f"{values['value']:+.4f} [{values['low']:+.4f}, {values['high']:+.4f}]"


def _search_all(url: str, queries: list[str]) -> list[list[tuple[str, float]]]:
    found = []
    for query in queries:
        response = httpx.post(f"{url}/v1/search", json={"index": "docs", "query": query, "k": 10}, timeout=120)
        response.raise_for_status()
        found.append([(hit["doc_id"], hit["score"]) for hit in response.json()["data"]])
    return found


def _under_load(url: str, queries: list[str], action, clients: int, probe: str, before) -> tuple[list[int], str]:  # type: ignore[no-untyped-def]
    """Run ``action`` while ``clients`` search; keep the load until ``probe``'s results change, then 2 s more."""
    stop = threading.Event()
    statuses: list[int] = []

    async def client(session: httpx.AsyncClient, seed: int) -> None:
        rng = random.Random(seed)
        while not stop.is_set():
            response = await session.post("/v1/search", json={"index": "docs", "query": rng.choice(queries), "k": 10})
            statuses.append(response.status_code)

    async def load() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=120) as session:
            await asyncio.gather(*(client(session, seed) for seed in range(clients)))

    loader = threading.Thread(target=lambda: asyncio.run(load()))
    loader.start()
    try:
        time.sleep(2)
        outcome = action()
        deadline = time.time() + 300
        while _search_all(url, [probe])[0] == before and time.time() < deadline:
            time.sleep(0.2)
        time.sleep(2)
    finally:
        stop.set()
        loader.join(300)
    return statuses, outcome


class _serving:
    """A uvicorn server on 127.0.0.1 in a thread, for the ``with`` block."""

    def __init__(self, config: ServeConfig, encoder: Encoder) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(create_app(config, encoder=encoder), host="127.0.0.1",
                                                    port=self.port, log_level="warning"))  # fmt: skip
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(60)


if __name__ == "__main__":
    main()
