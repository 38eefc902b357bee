"""Which documents are already in an index, by id, content hash and model fingerprint: what makes a run resumable.

The ledger is a second LanceDB table (``commits``) beside an index's chunks: one row per document id with the
hash of the content that was committed and the fingerprint of the model that encoded it. After each commit of
rows the ledger records the batch (one ``merge_insert`` on the id). A document is *committed* when the ledger
holds its id with the same hash and fingerprint **and** the index still holds the id: a document deleted since,
changed in the input, or encoded by another model is encoded again. A crash between the two commits only makes
a re-run encode that batch again; the rows commit replaces a document's chunks as a whole, so nothing is ever
duplicated. Nothing here needs Ray.

Example:
    >>> content_hash({"id": "1", "text": "The cat sleeps."}) == content_hash({"text": "The cat sleeps.", "id": "2"})
    True
    >>> content_hash({"id": "1", "text": "The cat sleeps."}) == content_hash({"id": "1", "text": "The cat sleeps!"})
    False
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from embedlab.index.rows import TABLE as CHUNKS
from embedlab.index.rows import sql_list

TABLE = "commits"


def content_hash(document: Mapping[str, Any]) -> str:
    """The sha256 of everything of ``document`` that goes into the index except its id (text, title, metadata)."""
    content = {key: value for key, value in document.items() if key != "id"}
    encoded = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()


class Ledger:
    """The ``commits`` table of the index at ``folder``, for the model with ``fingerprint``."""

    def __init__(self, folder: str | Path, fingerprint: str) -> None:
        import lancedb

        self.fingerprint = fingerprint
        self._db = lancedb.connect(str(Path(folder) / "lance"), read_consistency_interval=timedelta(0))

    def committed(self) -> dict[str, str]:
        """``{doc_id: content hash}`` of the documents this model committed that the index still holds."""
        table = self._table()
        if table is None:
            return {}
        data = table.search().where(f"fingerprint = {sql_list([self.fingerprint])}").limit(None).to_arrow()
        found = dict(zip(data.column("doc_id").to_pylist(), data.column("content_hash").to_pylist(), strict=True))
        present = self._table(CHUNKS)
        if present is None:
            return {}
        rows = present.search().where("chunk = 0").select(["doc_id"]).limit(None).to_arrow().column("doc_id")
        return {doc_id: found[doc_id] for doc_id in rows.to_pylist() if doc_id in found}

    def record(self, ids: Sequence[str], hashes: Sequence[str]) -> None:
        """Record documents ``ids`` as committed with content ``hashes`` (one commit; a known id is replaced)."""
        import pyarrow as pa

        if not ids:
            return
        data = pa.table({
            "doc_id": pa.array(list(ids), pa.string()),
            "content_hash": pa.array(list(hashes), pa.string()),
            "fingerprint": pa.array([self.fingerprint] * len(ids), pa.string()),
        })  # fmt: skip
        table = self._table()
        if table is None:  # the driver is the ledger's only writer: nobody else creates it meanwhile
            self._db.create_table(TABLE, data=data)
            return
        table.merge_insert("doc_id").when_matched_update_all().when_not_matched_insert_all().execute(data)

    def _table(self, name: str = TABLE) -> Any:
        return self._db.open_table(name) if name in self._db.list_tables().tables else None


def to_encode(
    documents: Sequence[Mapping[str, Any]], committed: Mapping[str, str]
) -> tuple[list[Mapping[str, Any]], list[str]]:
    """The documents not yet committed with their current content, and the content hashes of those.

    Example:
        >>> done = {"1": content_hash({"id": "1", "text": "old"})}
        >>> [d["id"] for d in to_encode([{"id": "1", "text": "old"}, {"id": "2", "text": "new"}], done)[0]]
        ['2']
    """
    kept, hashes = [], []
    for document in documents:
        digest = content_hash(document)
        if committed.get(str(document["id"])) != digest:
            kept.append(document)
            hashes.append(digest)
    return kept, hashes
