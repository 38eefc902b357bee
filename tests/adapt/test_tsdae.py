"""TSDAE: the regex sentence splitter, deletion noise, and a few real training steps on tiny data."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from embedlab import EmbeddingModel, load_model
from embedlab.adapt.text import sentence_spans, split_sentences
from embedlab.adapt.tsdae import TsdaeResult, delete_noise, prepare_sentences, tsdae
from embedlab.errors import InputError, ModelNotFoundError
from embedlab.models import fingerprint
from embedlab.registry import read_lineage

TRICKY = (
    "Cells were treated (e.g. with 3.5 mM H2O2) as in Fig. 2. Smith et al. reported a 2.5-fold rise! "
    "Was it significant? Yes: p < 0.01. The U.S. cohort, i.e. 1,200 adults, was larger than Dr. J. Doe's.\n\n"
    "A new paragraph without a final period"
)

SENTENCES = [
    "The mitochondria produce most of the energy in a cell.",
    "Insulin lowers the level of glucose in the blood.",
    "Vaccines train the immune system to recognise a virus.",
    "Red blood cells carry oxygen from the lungs to the body.",
    "Neurons pass signals to each other across synapses.",
    "Antibiotics kill bacteria but do not work against viruses.",
    "The liver breaks down toxins and stores glycogen.",
    "DNA is copied before a cell divides into two cells.",
    "Enzymes speed up chemical reactions in the body.",
    "The heart pumps blood through arteries and veins.",
    "Stem cells can turn into many kinds of tissue.",
    "High blood pressure raises the risk of a stroke.",
    "The kidneys filter waste out of the blood.",
    "Proteins are made of long chains of amino acids.",
    "Sleep helps the brain to store new memories.",
    "Bones store calcium and make new blood cells.",
]


def test_split_sentences_handles_abbreviations_decimals_and_punctuation() -> None:
    assert split_sentences(TRICKY) == [
        "Cells were treated (e.g. with 3.5 mM H2O2) as in Fig. 2.",
        "Smith et al. reported a 2.5-fold rise!",
        "Was it significant?",
        "Yes: p < 0.01.",
        "The U.S. cohort, i.e. 1,200 adults, was larger than Dr. J. Doe's.",
        "A new paragraph without a final period",
    ]
    assert split_sentences(TRICKY, min_words=7, max_words=7) == [
        "Smith et al. reported a 2.5-fold rise!",
        "A new paragraph without a final period",
    ]
    assert [TRICKY[start:end] for start, end in sentence_spans(TRICKY)] == split_sentences(TRICKY)
    assert split_sentences("  \n\n ") == []


def test_delete_noise_ratio_seed_and_never_empty() -> None:
    text = " ".join(f"word{i}" for i in range(5000))
    kept = delete_noise(text, 0.6, rng=1).split()
    assert abs(len(kept) / 5000 - 0.4) < 0.03
    assert kept == [word for word in text.split() if word in set(kept)]  # order kept, nothing invented
    assert delete_noise(text, 0.6, rng=1) == delete_noise(text, 0.6, rng=1)
    assert delete_noise(text, 0.6, rng=1) != delete_noise(text, 0.6, rng=2)
    assert all(delete_noise("Hello world.", 0.99, rng=seed) for seed in range(50))
    assert delete_noise("Cells (n = 3.5) grew, fast.", 0.0) == "Cells (n = 3.5) grew, fast."
    with pytest.raises(InputError):
        delete_noise(text, 1.0)


def test_prepare_sentences_dedupes_filters_and_samples() -> None:
    docs = ["Alpha beta gamma delta epsilon. Too short. Alpha  beta gamma delta epsilon.", *SENTENCES]
    sentences = prepare_sentences(docs)
    assert sentences[0] == "Alpha beta gamma delta epsilon." and len(sentences) == 1 + len(SENTENCES)
    sample = prepare_sentences(docs, max_sentences=5, seed=3)
    assert sample == prepare_sentences(docs, max_sentences=5, seed=3) and len(sample) == 5
    assert set(sample) < set(sentences)


@pytest.fixture(scope="module")
def trained(model: EmbeddingModel, tmp_path_factory: pytest.TempPathFactory) -> tuple[TsdaeResult, np.ndarray]:
    before = model.st.encode(SENTENCES[:4])
    result = tsdae(
        model,
        SENTENCES,
        out=tmp_path_factory.mktemp("tsdae") / "adapted",
        epochs=3,
        batch_size=8,
        lr=2e-4,
        show_progress=False,
    )
    return result, before


def test_tsdae_loss_falls_and_decoder_is_tied(trained: tuple[TsdaeResult, np.ndarray]) -> None:
    result, _ = trained
    assert result.sentences == 16 and result.steps == 6
    assert [entry["step"] for entry in result.history if "loss" in entry] == list(range(1, 7))
    assert result.losses[-1] < result.losses[0] - 0.5
    # every encoder tensor but the pooler's (the decoder has none) is the decoder's own tensor
    assert result.model is not None
    encoder_tensors = [name for name, _ in result.model[0].auto_model.named_parameters()]
    assert result.tied_parameters == len([name for name in encoder_tensors if not name.startswith("pooler.")]) > 90


def test_tsdae_saves_a_plain_sentence_transformer(
    trained: tuple[TsdaeResult, np.ndarray], model: EmbeddingModel
) -> None:
    from safetensors import safe_open
    from sentence_transformers import SentenceTransformer

    result, _ = trained
    assert result.model is not None
    reloaded = SentenceTransformer(str(result.path), device="cpu")
    expected = result.model.encode(SENTENCES)
    np.testing.assert_allclose(reloaded.encode(SENTENCES), expected, atol=1e-5)
    assert not np.allclose(expected, model.st.encode(SENTENCES), atol=1e-4)  # training changed the model
    # the encoder alone was saved: same modules as the base, no decoder weights
    modules = json.loads((result.path / "modules.json").read_text())
    assert [entry["type"].rsplit(".", 1)[-1] for entry in modules] == ["Transformer", "Pooling", "Normalize"]
    with safe_open(str(result.path / "model.safetensors"), "pt") as weights:
        assert not any("crossattention" in key or key.startswith("cls.") for key in weights.keys())  # noqa: SIM118
    lineage = read_lineage(result.path)
    assert lineage is not None and lineage.method == "tsdae" and lineage.base_fingerprint == model.fingerprint
    assert lineage.params["noise"] == 0.6 and lineage.data["sentences"] == 16 and lineage.data_hash
    assert load_model(result.path).fingerprint == lineage.fingerprint == fingerprint(result.model)


def test_tsdae_leaves_the_base_model_untouched(trained: tuple[TsdaeResult, np.ndarray], model: EmbeddingModel) -> None:
    _, before = trained
    # the weights are compared exactly by the fingerprint below; vectors from two runs only up to float noise
    np.testing.assert_allclose(model.st.encode(SENTENCES[:4]), before, atol=1e-6)
    assert fingerprint(model.st) == model.fingerprint


def test_tsdae_starts_from_the_in_memory_weights_not_the_folder(model: EmbeddingModel, tmp_path: Path) -> None:
    st = copy.deepcopy(model.st)
    with torch.no_grad():
        st[0].auto_model.encoder.layer[0].output.dense.weight.mul_(1.5)
    changed = EmbeddingModel(st=st, info=model.info)  # still points at the bundled folder
    result = tsdae(changed, SENTENCES[:8], out=tmp_path / "m", batch_size=8, lr=1e-12, show_progress=False)
    assert result.model is not None
    np.testing.assert_allclose(result.model.encode(SENTENCES[:8]), st.encode(SENTENCES[:8]), atol=1e-5)


def test_tsdae_refuses_what_it_cannot_do(model: EmbeddingModel, tmp_path: Path) -> None:
    in_memory = EmbeddingModel(st=model.st, info=replace(model.info, path=""))
    with pytest.raises(ModelNotFoundError, match="no folder on disk"):
        tsdae(in_memory, SENTENCES, out=tmp_path / "m")
    with pytest.raises(InputError, match="base model's folder"):
        tsdae(model, SENTENCES, out=Path(model.info.path) / "adapted")
    with pytest.raises(InputError, match="No sentence"):
        tsdae(model, ["Too short."], out=tmp_path / "m")
    assert not (tmp_path / "m").exists()
