"""A remote spec as a model: the encoder's cache, fingerprints an index checks, the cost estimate, dry runs,
and a real ``embedlab serve`` on loopback as the OpenAI-compatible endpoint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from embedlab import EmbeddingCache, EmbeddingModel, Encoder, load_model
from embedlab.cli import app
from embedlab.errors import IndexMismatchError, InputError
from embedlab.providers import RemoteError, estimate_cost, estimate_encoding, is_remote, parse_spec
from tests.providers.fake import FakeProvider, Fault, fake_vector, serving

KEY = "sk-endpoint-key-0123456789"


def test_specs_parse_and_refuse_what_a_model_cannot_give() -> None:
    spec = parse_spec("openai:text-embedding-3-large@http://127.0.0.1:8000/v1/#256")
    assert (spec.model, spec.base_url, spec.dimensions, spec.key_env) == (
        "text-embedding-3-large",
        "http://127.0.0.1:8000/v1",
        256,
        "EMBEDLAB_ENDPOINT_API_KEY",
    )
    assert spec.price_per_million is None  # an endpoint is not OpenAI's price list
    assert parse_spec("hf:BAAI/bge-small-en-v1.5").model == "BAAI/bge-small-en-v1.5"
    assert is_remote("cohere:embed-v4.0#512") and not is_remote("./models/x") and not is_remote("BAAI/bge-small")
    for bad, message in [("openai:text-embedding-ada-002#512", "cannot give 512"),
                         ("openai:text-embedding-3-small#4096", "cannot give 4096"),
                         ("openai:m@ftp://host", "http"), ("voyage:m", "not a remote model spec"),
                         ("openai:m@http://me:secret@host/v1", "holds credentials")]:  # fmt: skip
        with pytest.raises(InputError, match=message):
            parse_spec(bad)


def test_the_fingerprint_is_provider_model_dimensions_and_endpoint() -> None:
    prints = {spec: load_model(spec).info.fingerprint for spec in [
        "openai:text-embedding-3-small", "openai:text-embedding-3-small#256", "openai:text-embedding-3-large#256",
        "openai:text-embedding-3-small@http://127.0.0.1:1/v1#1536", "cohere:embed-english-light-v3.0"]}  # fmt: skip
    assert len(set(prints.values())) == 5
    again = load_model("openai:text-embedding-3-small#256").info
    assert again.fingerprint == prints["openai:text-embedding-3-small#256"]
    assert (again.source, again.backend, again.dimension, again.path) == ("remote", "remote:openai", 256, "")


def test_the_cost_is_estimated_before_anything_is_sent() -> None:
    estimate = estimate_cost("openai:text-embedding-3-small", ["hello world"] * 1000)  # 2 WordPiece tokens each
    assert (estimate.tokens, estimate.requests, estimate.usd) == (2000, 1, 2000 * 0.02 / 1e6)
    many = estimate_cost("cohere:embed-english-v3.0", [f"text {i}" for i in range(200)])
    assert (many.requests, many.usd) == (3, many.tokens * 0.10 / 1e6)
    assert estimate_cost("openai:m@http://127.0.0.1:1/v1", ["a"]).usd is None
    assert estimate_cost("openai:m@http://127.0.0.1:1/v1", ["a b"], price_per_million=1.0).usd == 2e-6


def test_cached_texts_are_not_sent_again_and_not_counted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EMBEDLAB_ENDPOINT_API_KEY", KEY)
    cache = EmbeddingCache(tmp_path / "cache.sqlite3")
    with serving(FakeProvider(dim=8)) as fake:
        spec = f"openai:m@{fake.url}/v1#8"
        texts = ["alpha", "beta", "alpha", "gamma  "]
        first = Encoder(load_model(spec), cache=cache).encode(texts)
        assert len(fake.requests) == 1 and sorted(fake.requests[0]["body"]["input"]) == ["alpha", "beta", "gamma"]
        expected = fake_vector("alpha", 8) / np.linalg.norm(fake_vector("alpha", 8))
        np.testing.assert_allclose(first[0], expected, rtol=1e-6)
        estimate = estimate_encoding(spec, [*texts, "delta"], cache=cache)
        assert (estimate.texts, estimate.cached) == (1, 3)
        encoder = Encoder(load_model(spec), cache=cache)
        np.testing.assert_array_equal(encoder.encode(texts), first)
        assert len(fake.requests) == 1 and encoder.stats.cache_hits == 4
        Encoder(load_model(f"openai:m@{fake.url}/v1#4"), cache=cache).encode(["alpha"])  # other dims: not a hit
        assert fake.requests[-1]["body"] == {
            "model": "m",
            "input": ["alpha"],
            "encoding_format": "float",
            "dimensions": 4,
        }


def test_dry_run_prints_the_estimate_and_sends_nothing(tmp_path: Path) -> None:
    (tmp_path / "docs.jsonl").write_text("\n".join(json.dumps({"id": i, "text": f"hello world {i}"}) for i in range(5)))
    docs = str(tmp_path / "docs.jsonl")
    with serving(FakeProvider(dim=8)) as fake:
        model = ["-m", f"openai:m@{fake.url}/v1#8", "--dry-run", "--price-per-million", "0.5"]
        for command in (["encode", docs, "--no-cache"], ["index", "build", str(tmp_path / "ix"), "-i", docs]):
            result = CliRunner().invoke(app, [*command, *model])
            assert result.exit_code == 0, result.output
            assert "dry run, nothing sent" in result.output and "5 texts to send" in result.output
            assert "~15 tokens" in result.output and "~$7.5e-06 at $0.5/M" in result.output  # 3 tokens a text
    assert fake.requests == [] and not (tmp_path / "ix").exists()
    result = CliRunner().invoke(app, ["encode", docs, "--dry-run"])
    assert isinstance(result.exception, InputError) and "runs here, free" in str(result.exception)


def test_an_index_of_a_remote_model_refuses_another_and_stores_no_key(monkeypatch: pytest.MonkeyPatch,
                                                                       tmp_path: Path) -> None:  # fmt: skip
    from embedlab.index import Index

    monkeypatch.setenv("EMBEDLAB_ENDPOINT_API_KEY", KEY)
    documents = [{"id": str(i), "text": f"document number {i} about {topic}"}
                 for i, topic in enumerate(["cats", "dogs", "tax law", "rockets"])]  # fmt: skip
    with serving(FakeProvider(dim=8)) as fake:
        spec = f"openai:m@{fake.url}/v1#8"
        Index.build(tmp_path / "ix", documents, spec, chunk=False)
        reopened = Index.open(tmp_path / "ix")  # the recorded spec loads the remote model again
        hits = reopened.search("document number 2 about tax law", 1, mode="vector")
        assert reopened.encoder.info.name == spec and hits[0].doc_id == "2"
        with pytest.raises(IndexMismatchError):
            Index.open(tmp_path / "ix", f"openai:m@{fake.url}/v1#4")
    stored = "".join(path.read_text(errors="ignore") for path in (tmp_path / "ix").rglob("*.json"))
    assert KEY not in stored and "Bearer" not in stored


def test_an_embedlab_server_is_an_openai_compatible_endpoint(model: EmbeddingModel,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from embedlab.serve.app import ServeConfig, create_app
    from tests.serve.conftest import running

    local = Encoder(model, show_progress=False)
    texts = ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
    with running(create_app(ServeConfig(api_keys=frozenset({KEY})), encoder=local)) as url:
        monkeypatch.delenv("EMBEDLAB_ENDPOINT_API_KEY", raising=False)
        with pytest.raises(RemoteError, match="refused the request \\(HTTP 401") as caught:
            load_model(f"openai:all-MiniLM-L6-v2@{url}/v1")  # the dimension probe, without the key
        monkeypatch.setenv("EMBEDLAB_ENDPOINT_API_KEY", KEY)
        remote = Encoder(load_model(f"openai:all-MiniLM-L6-v2@{url}/v1"))  # dimension learnt from one probe
        assert remote.info.dimension == 384
        np.testing.assert_allclose(remote.encode(texts), local.encode(texts), atol=1e-5)
        short = Encoder(load_model(f"openai:all-MiniLM-L6-v2@{url}/v1#128")).encode(texts)
    assert short.shape == (3, 128)
    np.testing.assert_allclose(short[0] @ short[1], 0.6, atol=0.2)  # still similar sentences at 128 dims
    assert KEY not in str(caught.value)


def test_failures_reach_the_cli_as_errors_without_the_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EMBEDLAB_ENDPOINT_API_KEY", KEY)
    (tmp_path / "t.txt").write_text("hello\n")
    with serving(FakeProvider(faults=[Fault(403, body=f"key {KEY} is not allowed")])) as fake:
        result = CliRunner().invoke(app, ["encode", str(tmp_path / "t.txt"), "-m", f"openai:m@{fake.url}/v1#8",
                                          "--no-cache", "-o", str(tmp_path / "t.parquet")])  # fmt: skip
    assert isinstance(result.exception, RemoteError)
    assert "refused the request (HTTP 403: key *** is not allowed)" in str(result.exception)
    assert KEY not in result.output and KEY not in str(result.exception)


def test_long_documents_are_chunked_within_the_providers_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMBEDLAB_ENDPOINT_API_KEY", KEY)
    with serving(FakeProvider(dim=8)) as fake:
        encoder = Encoder(load_model(f"openai:m@{fake.url}/v1#8"))
        documents = encoder.encode_documents(["word " * 20_000, "a short one"])
    assert documents.vectors.shape == (2, 8) and len(documents.chunks) == 4  # 20,000 tokens in 3 windows of 8,191
    assert max(len(text.split()) for text in fake.requests[0]["body"]["input"]) <= 8191


def test_a_cohere_query_vector_is_never_served_from_a_documents_cache_row(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from embedlab.evaluate.retrieval import ExactSearch

    monkeypatch.setenv("EMBEDLAB_ENDPOINT_API_KEY", KEY)
    cache = EmbeddingCache(tmp_path / "cache.sqlite3")
    with serving(FakeProvider(dim=8)) as fake:
        encoder = Encoder(load_model(f"cohere:m@{fake.url}/v2#8"), cache=cache)
        encoder.encode(["alpha", "beta"])  # documents
        encoder.encode(["alpha"], task="query")  # same text as a query: sent, not served from the document row
        again = Encoder(load_model(f"cohere:m@{fake.url}/v2#8"), cache=cache)
        again.encode(["alpha"], task="query")
        again.encode(["alpha", "beta"], task="document")  # a document's row is the default's
        sent = [(request["body"]["input_type"], request["body"]["texts"]) for request in fake.requests]
        assert sent == [("search_document", ["alpha", "beta"]), ("search_query", ["alpha"])]
        assert again.stats.cache_hits == 3
        ExactSearch(Encoder(load_model(f"cohere:m@{fake.url}/v2#8")), {"d": "gamma"})(["delta"], 1)
        assert [request["body"]["input_type"] for request in fake.requests[2:]] == ["search_document", "search_query"]
        openai = Encoder(load_model(f"openai:m@{fake.url}/v1#8"), cache=cache)
        openai.encode(["alpha"])
        openai.encode(["alpha"], task="query")  # the same vector for OpenAI: one row serves both
    assert openai.stats.cache_hits == 1 and fake.requests[-1]["body"]["input"] == ["alpha"]


def test_an_index_of_a_cohere_model_searches_with_query_vectors(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:  # fmt: skip
    from embedlab.index import Index

    monkeypatch.setenv("EMBEDLAB_ENDPOINT_API_KEY", KEY)
    with serving(FakeProvider(dim=8)) as fake:
        encoder = Encoder(load_model(f"cohere:m@{fake.url}/v2#8"), cache=EmbeddingCache(tmp_path / "cache.sqlite3"))
        index = Index.build(tmp_path / "ix", [{"id": "1", "text": "cats"}, {"id": "2", "text": "dogs"}], encoder,
                            chunk=False)  # fmt: skip
        hits = index.search("cats", 1, mode="vector")  # the text of a cached document, sent again as a query
    assert [(r["body"]["input_type"], r["body"]["texts"]) for r in fake.requests] == [
        ("search_document", ["cats", "dogs"]),
        ("search_query", ["cats"]),
    ]
    assert hits[0].doc_id == "1"
