import pytest

import embedlab.extras as extras
from embedlab import load_model
from embedlab.errors import MissingExtraError
from embedlab.optimize import build_variant


@pytest.fixture
def no_onnxruntime(monkeypatch):
    real = extras._importable
    monkeypatch.setattr(extras, "_importable", lambda module: module != "onnxruntime" and real(module))


def test_a_missing_extra_is_named_with_its_pip_command(no_onnxruntime):
    assert extras.missing("onnx") == ["onnxruntime"]
    with pytest.raises(MissingExtraError, match=r"extra 'onnx'.*missing: onnxruntime.*pip install 'embedlab\[onnx\]'"):
        extras.require("onnx")


def test_building_an_onnx_variant_without_the_extra_says_which(model, tmp_path, no_onnxruntime):
    with pytest.raises(MissingExtraError, match=r"embedlab\[onnx\]"):
        build_variant(model, "onnx-int8", tmp_path / "v")
    assert not (tmp_path / "v").exists()


def test_loading_an_onnx_folder_without_the_extra_says_which(tmp_path, no_onnxruntime):
    (tmp_path / "onnx").mkdir()
    (tmp_path / "onnx" / "model.onnx").write_bytes(b"")
    with pytest.raises(MissingExtraError, match=r"embedlab\[onnx\]"):
        load_model(tmp_path)
