"""Adaptation trains torch weights: a variant made by `embedlab optimize`, or an exported model, is refused."""

import shutil

import pytest

from embedlab import load_model
from embedlab.adapt import augmented_sbert, finetune, tsdae
from embedlab.errors import InputError
from embedlab.registry import LINEAGE_FILE

ADVICE = r"cannot train it\. Train the source model, then optimize again: adapt .*, then run `embedlab optimize`"


def test_finetuning_an_onnx_variant_is_refused_before_any_work(tiny_onnx, tiny_model, tiny_train, tmp_path):
    with pytest.raises(InputError, match=rf"is the onnx variant \(onnx\) of {tiny_model.info.path}: .*{ADVICE}"):
        finetune(str(tiny_onnx), tiny_train, out=tmp_path / "ft", show_progress=False)
    assert not list(tmp_path.iterdir())  # no output, no work folder


def test_every_method_refuses_a_static_variant(static_variant, model, tiny_train, tmp_path):
    static = load_model(static_variant)  # a loaded model is checked as a spec is
    with pytest.raises(InputError, match=rf"is the static variant \(torch\) of {model.info.name}: .*{ADVICE}"):
        tsdae(static, ["A sentence of the domain with enough words in it."], out=tmp_path / "tsdae")
    with pytest.raises(InputError, match=ADVICE):
        augmented_sbert(static, tiny_train, out=tmp_path / "aug", show_progress=False)
    assert not list(tmp_path.iterdir())  # the cross-encoder was not trained either


def test_an_exported_model_without_lineage_is_refused(tiny_onnx, tiny_train, tmp_path):
    exported = shutil.copytree(tiny_onnx, tmp_path / "exported")
    (exported / LINEAGE_FILE).unlink()  # an ONNX export made elsewhere
    with pytest.raises(InputError, match=r"runs on onnx, not torch: .*adapt the torch model it was exported from"):
        finetune(str(exported), tiny_train, out=tmp_path / "ft", show_progress=False)
