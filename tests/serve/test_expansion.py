"""``/v1/search`` takes ``expand`` (from SearchOptions) and answers as the library does."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from embedlab import Encoder
from embedlab.index import Index
from embedlab.serve import ServeConfig, create_app

from .conftest import running


def test_search_expands_as_the_library_does(model, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    documents = [{"id": "a", "text": "Cats have whiskers."}, {"id": "b", "text": "Whiskers sense the air."},
                 *({"id": f"f{i}", "text": f"Filler note {i}."} for i in range(18))]  # fmt: skip
    index = Index.build(tmp_path / "docs", documents, Encoder(model))
    app = create_app(ServeConfig(indexes={"docs": str(tmp_path / "docs")}, max_wait=0.02), encoder=Encoder(model))
    with running(app) as url:
        expanded = httpx.post(
            f"{url}/v1/search", json={"index": "docs", "query": "cats", "mode": "bm25", "expand": True}
        )
        vector = httpx.post(f"{url}/v1/search", json={"index": "docs", "query": "cats", "expand": True})
        malformed = httpx.post(f"{url}/v1/search", json={"index": "docs", "query": "cats", "expand": "maybe"})
    local = index.search("cats", mode="bm25", expand=True)
    assert [hit["doc_id"] for hit in expanded.json()["data"]] == [hit.doc_id for hit in local] == ["a", "b"]
    assert [hit["score"] for hit in expanded.json()["data"]] == pytest.approx([hit.score for hit in local], abs=1e-6)
    assert vector.status_code == 422 and "mode bm25 or hybrid" in vector.json()["error"]["message"]
    assert malformed.status_code == 422 and malformed.json()["error"]["param"] == "expand"
