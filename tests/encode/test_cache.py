from __future__ import annotations

import hashlib
import multiprocessing
import os
import signal
import sqlite3
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from embedlab import CacheError, EmbeddingCache, EmbeddingModel, Encoder, TruncationWarning
from embedlab.errors import CacheIntegrityWarning

TEXTS = ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]


def test_cache_hit_returns_identical_vectors_without_encoding(model: EmbeddingModel, tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "cache.sqlite3")
    first = Encoder(model, cache=cache).encode(TEXTS)
    again = Encoder(model, cache=EmbeddingCache(tmp_path / "cache.sqlite3"))  # a new process would do this
    second = again.encode(TEXTS)
    np.testing.assert_array_equal(first, second)  # bit for bit: the cache holds the very floats first returned
    assert (again.stats.cache_hits, again.stats.encoded) == (3, 0)
    assert cache.stats().entries == 3


def test_cached_texts_still_report_truncation(model: EmbeddingModel, tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "cache.sqlite3")
    with pytest.warns(TruncationWarning, match="1 of 1"):
        Encoder(model, cache=cache).encode(["word " * 300])
    warm = Encoder(model, cache=cache)
    with pytest.warns(TruncationWarning, match="1 of 1"):
        warm.encode(["word " * 300])
    assert warm.stats.cache_hits == 1


def test_options_and_text_normalisation_are_part_of_the_key(model: EmbeddingModel, tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "cache.sqlite3")
    Encoder(model, cache=cache).encode(TEXTS)
    prompted = Encoder(model, cache=cache, prompt="query: ")
    prompted.encode(TEXTS)
    assert prompted.stats.cache_hits == 0
    spaced = Encoder(model, cache=cache)
    spaced.encode(["  The weather   is lovely today. "])  # same text once normalised
    assert spaced.stats.cache_hits == 1


def test_duplicate_texts_in_one_call_are_encoded_once_per_unique_key(model: EmbeddingModel, tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "cache.sqlite3")
    encoder = Encoder(model, cache=cache)
    out = encoder.encode(["same", "same", "other"])
    np.testing.assert_array_equal(out[0], out[1])  # one vector, copied: equal by construction on any CPU
    assert cache.stats().entries == 2 and encoder.stats.encoded == 2


def test_rows_of_the_wrong_dimension_are_misses(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "cache.sqlite3")
    key = EmbeddingCache.key("f" * 64, {}, "text")
    cache.put_many("f" * 64, [(key, np.ones(8, np.float32), 3)])
    assert cache.get_many([key], 16) == {}
    hit = cache.get_many([key], 8)
    np.testing.assert_array_equal(hit[0][0], np.ones(8))
    assert hit[0][1] == 3


def test_corrupt_rows_are_recomputed_and_overwritten_not_served(model: EmbeddingModel, tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite3"
    fresh = Encoder(model, cache=path).encode(TEXTS)
    keys = [EmbeddingCache.key(model.fingerprint, Encoder(model).options, text) for text in TEXTS]
    with sqlite3.connect(path) as conn:  # random bytes of the right length, and NaN: no error from SQLite
        conn.execute("UPDATE embeddings SET vector = randomblob(4 * 384) WHERE key = ?", (keys[0],))
        conn.execute(
            "UPDATE embeddings SET vector = ? WHERE key = ?", (np.full(384, np.nan, np.float32).tobytes(), keys[2])
        )
    again = Encoder(model, cache=path)
    with pytest.warns(CacheIntegrityWarning, match="2 cached vectors .* failed their integrity check"):
        vectors = again.encode(TEXTS)
    assert (again.stats.cache_hits, again.stats.encoded) == (1, 2)
    np.testing.assert_allclose(vectors, fresh, atol=1e-6)
    warm = Encoder(model, cache=path)  # the bad rows were overwritten: all hits now, no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheIntegrityWarning)
        np.testing.assert_allclose(warm.encode(TEXTS), fresh, atol=1e-6)
    assert warm.stats.cache_hits == 3


def test_a_vector_moved_to_another_key_is_not_served(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "cache.sqlite3")
    first, second = EmbeddingCache.key("f" * 64, {}, "one"), EmbeddingCache.key("f" * 64, {}, "two")
    cache.put_many("f" * 64, [(first, np.ones(8, np.float32), 1), (second, np.zeros(8, np.float32), 1)])
    with sqlite3.connect(cache.path) as conn:  # a row's vector, token count and checksum, copied to another key
        row = conn.execute("SELECT n_tokens, vector, checksum FROM embeddings WHERE key = ?", (first,)).fetchone()
        conn.execute("UPDATE embeddings SET n_tokens = ?, vector = ?, checksum = ? WHERE key = ?", (*row, second))
    with pytest.warns(CacheIntegrityWarning, match="1 cached vectors"):
        hits = cache.get_many([first, second], 8)
    assert list(hits) == [0]


def test_non_finite_vectors_are_not_stored(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "cache.sqlite3")
    bad = np.array([1.0, np.nan, 0.0, np.inf], np.float32)
    cache.put_many("f" * 64, [(EmbeddingCache.key("f" * 64, {}, "x"), bad, 1)])
    assert cache.stats().entries == 0


def test_a_cache_made_before_row_checksums_keeps_working(model: EmbeddingModel, tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite3"
    options = Encoder(model).options
    with sqlite3.connect(path) as conn:  # the layout embedlab wrote before rows carried a checksum
        conn.execute(
            "CREATE TABLE embeddings (key BLOB PRIMARY KEY, model TEXT NOT NULL, dim INTEGER NOT NULL, "
            "n_tokens INTEGER NOT NULL, vector BLOB NOT NULL) WITHOUT ROWID"
        )
        conn.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("INSERT INTO meta VALUES ('schema', '1')")
        for text in TEXTS:  # garbage that an old cache could hold unnoticed
            key = EmbeddingCache.key(model.fingerprint, options, text)
            conn.execute("INSERT INTO embeddings VALUES (?, ?, 384, 7, ?)", (key, model.fingerprint[:16], b"\0" * 1536))
    old = Encoder(model, cache=path)
    with pytest.warns(CacheIntegrityWarning, match="3 cached vectors .* before cache rows carried a checksum"):
        vectors = old.encode(TEXTS)
    assert (old.stats.cache_hits, old.stats.encoded) == (0, 3)
    np.testing.assert_allclose(vectors, Encoder(model).encode(TEXTS), atol=1e-6)
    warm = Encoder(model, cache=path)
    np.testing.assert_allclose(warm.encode(TEXTS), vectors, atol=1e-6)
    assert warm.stats.cache_hits == 3 and EmbeddingCache(path).stats().entries == 3


def test_corrupt_cache_file_gives_a_clear_error(model: EmbeddingModel, tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(CacheError, match="delete it"):
        Encoder(model, cache=path).encode(TEXTS)
    assert path.read_bytes().startswith(b"this is not")  # nothing of the user's was overwritten


def _writer(path: str, worker: int, rounds: int) -> None:
    cache = EmbeddingCache(path, timeout=60)
    for round_ in range(rounds):
        # Both workers write the same keys (and their own), in many small transactions.
        items = []
        for i in range(50):
            owner = "shared" if i % 2 else f"w{worker}"
            text = f"{owner}-{round_}-{i}"
            items.append((EmbeddingCache.key("f" * 64, {}, text), _vector(text), i))
        cache.put_many("f" * 64, items)


def _vector(text: str) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
    return np.random.default_rng(seed).random(16, dtype=np.float32)


def test_two_processes_writing_at_once(tmp_path: Path) -> None:
    path = str(tmp_path / "cache.sqlite3")
    EmbeddingCache(path).stats()  # create the schema first, as the encoder would
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_writer, args=(path, w, 40)) for w in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    cache = EmbeddingCache(path)
    texts = [
        f"{o}-{r}-{i}"
        for r in range(40)
        for i in range(50)
        for o in ("w0", "w1", "shared")
        if (o == "shared") == bool(i % 2)
    ]
    keys = [EmbeddingCache.key("f" * 64, {}, t) for t in texts]
    hits = cache.get_many(keys, 16)
    assert len(hits) == len(set(texts)) == cache.stats().entries
    for position, text in enumerate(texts):
        np.testing.assert_array_equal(hits[position][0], _vector(text))


def _endless_writer(path: str) -> None:
    cache = EmbeddingCache(path)
    round_ = 0
    while True:
        items = [(EmbeddingCache.key("f" * 64, {}, f"{round_}-{i}"), _vector(f"{round_}-{i}"), i) for i in range(200)]
        cache.put_many("f" * 64, items)
        round_ += 1


def test_process_killed_mid_write_leaves_only_whole_batches(tmp_path: Path) -> None:
    path = str(tmp_path / "cache.sqlite3")
    EmbeddingCache(path).stats()
    process = multiprocessing.get_context("fork").Process(target=_endless_writer, args=(path,))
    process.start()
    deadline = time.time() + 30
    while EmbeddingCache(path).stats().entries < 2000 and time.time() < deadline:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)  # type: ignore[arg-type]
    process.join()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    cache = EmbeddingCache(path)
    entries = cache.stats().entries
    assert entries >= 2000 and entries % 200 == 0  # whole transactions only
    texts = [f"{r}-{i}" for r in range(entries // 200) for i in range(200)]
    hits = cache.get_many([EmbeddingCache.key("f" * 64, {}, t) for t in texts], 16)
    assert len(hits) == entries
    for position in range(0, entries, 97):
        np.testing.assert_array_equal(hits[position][0], _vector(texts[position]))


def test_clear_one_model_or_all(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "cache.sqlite3")
    cache.put_many("a" * 64, [(EmbeddingCache.key("a" * 64, {}, "x"), np.ones(4, np.float32), 1)])
    cache.put_many("b" * 64, [(EmbeddingCache.key("b" * 64, {}, "x"), np.ones(4, np.float32), 1)])
    assert cache.stats().models == 2
    assert cache.clear("a" * 64) == 1
    assert cache.clear() == 1
    assert cache.stats().entries == 0


def test_default_location_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EMBEDLAB_CACHE_DIR", str(tmp_path))
    assert EmbeddingCache().path == tmp_path / "embeddings.sqlite3"


def test_clear_by_fingerprint_prefix(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "cache.sqlite3")
    cache.put_many("abcdef0123456789" * 4, [(EmbeddingCache.key("x", {}, "t"), np.ones(4, np.float32), 1)])
    with pytest.raises(CacheError, match="at least 8"):
        cache.clear("abc")
    assert cache.clear("abcdef012345") == 1  # the 12 digits that `embedlab encode` prints


def test_another_programs_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "app.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users (name TEXT)")
    with pytest.raises(CacheError, match=r"not an embedlab cache \(tables: users"):
        EmbeddingCache(path).stats()
    with sqlite3.connect(path) as conn:
        assert [name for (name,) in conn.execute("SELECT name FROM sqlite_master")] == ["users"]


def test_a_cache_path_below_a_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(CacheError, match="cannot be created there"):
        EmbeddingCache(tmp_path / "file" / "cache.sqlite3").stats()
