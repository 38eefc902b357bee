"""Index writers run in processes of their own (a module light to import, for the ``spawn`` start method)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from embedlab.index.rows import Rows
from embedlab.index.settings import read_settings


def add_at_once(folders: list[Path], name: str, barrier: Any) -> None:
    """In a process of its own: add two documents to each index at the moment the other writer does."""
    for folder in folders:
        rows = Rows(folder, read_settings(folder))
        docs = [{"id": f"{name}{i}", "text": f"document {i} of {name}"} for i in range(2)]
        vectors = np.eye(2, rows.settings["model"]["dimension"], k=int(name == "b") * 2, dtype=np.float32)
        pairs = zip(docs, vectors, strict=True)
        batch = [rows.row(doc, 0, 0, len(doc["text"]), doc["text"], vector) for doc, vector in pairs]
        barrier.wait(timeout=120)
        try:
            rows.commit(batch, [doc["id"] for doc in docs])
        except BaseException:
            barrier.abort()  # the other writer stops at once instead of waiting out the timeout
            raise
