"""The local LLM: model resolution, clear errors without the ``llm`` extra, and a real generation (slow)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from embedlab import Encoder
from embedlab.adapt.llm import LocalLLM, local_doc2query, resolve_gguf
from embedlab.adapt.synthetic import synthesize
from embedlab.errors import MissingExtraError, ModelNotFoundError
from embedlab.pack_sources import locate_parts
from embedlab.packs import PACKS, install


@pytest.fixture
def gguf_file(tmp_path: Path) -> Path:
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF")  # resolution only looks at the path; no runtime reads it in these tests
    return path


def test_a_gguf_path_resolves_and_other_names_are_refused(gguf_file: Path) -> None:
    assert resolve_gguf(str(gguf_file)) == gguf_file
    with pytest.raises(ModelNotFoundError, match=re.escape("neither a GGUF model pack (qwen2.5-coder-0.5b-gguf)")):
        resolve_gguf("no-such-model")
    with pytest.raises(ModelNotFoundError, match="sentence-transformers pack, not a gguf model"):
        resolve_gguf("all-mpnet-base-v2")


@pytest.mark.parametrize(("runtime", "module"), [("llama.cpp", "llama_cpp"), ("transformers", "gguf")])
def test_without_the_extra_the_error_says_what_to_install(
    gguf_file: Path, monkeypatch: pytest.MonkeyPatch, runtime: str, module: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # what Python does when the package is not installed
    with pytest.raises(MissingExtraError, match=re.escape("pip install 'embedlab[llm]'")):
        LocalLLM(str(gguf_file), runtime=runtime)  # type: ignore[arg-type]


@pytest.mark.slow
def test_doc2query_with_the_real_local_llm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encoder: Encoder) -> None:
    pytest.importorskip("llama_cpp", reason="needs the llm extra: pip install 'embedlab[llm]'")
    try:
        locate_parts(PACKS["qwen2.5-coder-0.5b-gguf"])
    except ModelNotFoundError:
        pytest.skip(f"needs the pack's packages: {PACKS['qwen2.5-coder-0.5b-gguf'].pip_command()}")
    monkeypatch.setenv("EMBEDLAB_HOME", str(tmp_path))
    install("qwen2.5-coder-0.5b-gguf")
    corpus = {
        "bm25": "BM25 ranks documents by how often the query terms occur in them, discounted by document length.",
        "hnsw": "HNSW graphs find approximate nearest neighbours of a vector in logarithmic time.",
    }
    llm = LocalLLM(threads=2)
    pairs, report = local_doc2query(corpus, llm=llm, per_doc=2, max_tokens=48)
    assert (report.documents, report.llm_errors) == (2, 0)
    assert report.generated == len(pairs) >= 2
    assert {pair.doc_id for pair in pairs} == set(corpus)
    assert all(pair.method == "doc2query" and pair.query for pair in pairs)
    kept, report = synthesize(corpus, encoder=encoder, llm_model="qwen2.5-coder-0.5b-gguf", per_doc=1, k=1)
    assert report.method == "doc2query" and report.documents == 2
    assert report.kept == len(kept) >= 1  # the round trip over two documents keeps what finds its own
