"""The server shows how each served model runs: backend and quantisation in /v1/models and /metrics."""

import httpx
import pytest

from embedlab.index import Index
from embedlab.serve.app import ServeConfig, create_app
from tests.serve.conftest import running
from tests.variants import QUERIES, TEXTS


@pytest.mark.parametrize(
    ("served", "backend", "variant"),
    [("tiny_model", "torch", None), ("tiny_onnx", "onnx", "onnx"), ("static_variant", "static", "static")],
)
def test_models_and_metrics_show_the_backend(request, served, backend, variant):
    fixture = request.getfixturevalue(served)
    path = str(fixture.info.path if served == "tiny_model" else fixture)  # a loaded model, or a variant's folder
    with running(create_app(ServeConfig(model=path, served_name="m"))) as url:
        model = httpx.get(f"{url}/v1/models").json()["data"][0]
        metrics = httpx.get(f"{url}/metrics").text
    assert (model["id"], model["backend"], model["quantization"], model["variant"]) == ("m", backend, "none", variant)
    info = next(line for line in metrics.splitlines() if line.startswith("embedlab_model_info{"))
    assert f'backend="{backend}"' in info and 'quantization="none"' in info and f'variant="{variant or "none"}"' in info
    assert f'fingerprint="{model["fingerprint"][:12]}"' in info and info.endswith(" 1.0")


def test_a_served_variant_searches_its_source_index(tmp_path, tiny_model, tiny_onnx):
    index = Index.build(tmp_path / "docs", [{"id": str(i), "text": t} for i, t in enumerate(TEXTS)], tiny_model)
    expected = [hit.doc_id for hit in index.search(QUERIES[0], k=3)]
    with running(create_app(ServeConfig(model=str(tiny_onnx), indexes={"docs": str(index.path)}))) as url:
        found = httpx.post(f"{url}/v1/search", json={"index": "docs", "query": QUERIES[0], "k": 3}).json()["data"]
    assert [hit["doc_id"] for hit in found] == expected
