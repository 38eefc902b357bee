"""Documents/s of reading an index's stored documents back (what ``migrate build`` reads), by the index's size.

    python bench/stored_read.py                    # indexes of 20,000 and 100,000 documents
    python bench/stored_read.py --sizes 20000 1000000

For each size, an index of one-chunk synthetic documents with random unit vectors is written directly
(``Index.commit_chunks``, no encoding), then the first ``--batches`` batches of 1,024 ids are read with
:func:`embedlab.operate.migrate.stored_batches`, as both engines of ``migrate build`` read them. The rate falls
as the index grows when each batch scans the table (no scalar index on ``doc_id``); the smallest size is the
baseline of the same run. Indexes go to a temporary folder, removed at the end.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from embedlab import load_model
from embedlab.encode import Chunk, ChunkEmbeddings
from embedlab.index import Index
from embedlab.operate.migrate import document_ids, stored_batches


def make_index(folder: Path, size: int, rng: np.random.Generator) -> None:
    index = Index.create(folder, load_model(), ann=False)
    for first in range(0, size, 5000):
        docs = [{"id": f"d{i:09d}", "text": f"Document number {i} about something."}
                for i in range(first, min(size, first + 5000))]  # fmt: skip
        vectors = rng.normal(size=(len(docs), index.settings["model"]["dimension"])).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        chunks = [Chunk(k, 0, 0, len(doc["text"]), doc["text"], 0) for k, doc in enumerate(docs)]
        index.commit_chunks(docs, ChunkEmbeddings(chunks, vectors))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--batches", type=int, default=10)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rates = []
    with tempfile.TemporaryDirectory() as work:
        for size in sorted(args.sizes):
            folder = Path(work) / f"index-{size}"
            make_index(folder, size, rng)
            ids = document_ids(folder)[: args.batches * 1024]
            started = time.perf_counter()
            read = sum(len(batch) for batch in stored_batches(folder, ids, batch=1024))
            rates.append(read / (time.perf_counter() - started))
            print(f"{size:>12,} documents: {rates[-1]:>9,.0f} documents/s read back "
                  f"({rates[-1] / rates[0]:.2f}x the smallest index)")  # fmt: skip


if __name__ == "__main__":
    main()
