"""Write the ESCO job-title sample the demo ships: ``embedlab/data/esco_jobtitles.jsonl.gz`` (CC BY 4.0).

    python scripts/esco_sample.py [--occupations 800] [--words 12] [--seed 0] [--shared ../shared/data]

Reads the job-title benchmark of the shared data (``esco_jobtitles/``: ESCO occupations as the corpus,
their alternative labels as queries, every split) and keeps a seeded sample of occupations that have at
least three alternative labels. Each row is one occupation: ``id`` (the ESCO concept id), ``title`` (the
preferred label), ``text`` (the first ``--words`` words of its description, so that training is fast) and
``labels`` (all its alternative labels, sorted). The demo splits each occupation's labels into train and
test queries. Rows are sorted by id and written with a fixed gzip timestamp: the same arguments give the
same bytes.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "embedlab" / "data" / "esco_jobtitles.jsonl.gz"


def main() -> None:
    """Read the shared benchmark, sample, write the gzipped JSONL."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--occupations", type=int, default=800)
    parser.add_argument("--words", type=int, default=12, help="Words of the description kept.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    root = args.shared / "esco_jobtitles"
    corpus = {row["_id"]: row for row in map(json.loads, (root / "corpus.jsonl").open(encoding="utf-8"))}
    queries = {row["_id"]: row["text"] for row in map(json.loads, (root / "queries.jsonl").open(encoding="utf-8"))}
    labels: dict[str, set[str]] = {}
    for split in ("train", "dev", "test"):
        for line in (root / "qrels" / f"{split}.tsv").read_text(encoding="utf-8").splitlines()[1:]:
            query_id, doc_id, _ = line.split("\t")
            labels.setdefault(doc_id, set()).add(queries[query_id])
    eligible = sorted(doc_id for doc_id, found in labels.items() if len(found) >= 3)
    chosen = sorted(random.Random(args.seed).sample(eligible, args.occupations))
    rows = [
        {
            "id": doc_id,
            "title": corpus[doc_id]["title"],
            "text": " ".join(corpus[doc_id]["text"].split()[: args.words]),
            "labels": sorted(labels[doc_id]),
        }
        for doc_id in chosen
    ]
    data = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as handle:
        handle.write(data)
    n_labels = sum(len(row["labels"]) for row in rows)
    size = args.out.stat().st_size
    print(f"{len(rows)} occupations, {n_labels} labels: {len(data):,} bytes -> {args.out} ({size:,} gzipped)")


if __name__ == "__main__":
    main()
