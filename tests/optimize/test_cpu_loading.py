"""An int8 variant quantised for an instruction set this CPU lacks is refused (ONNX) or warned about (OpenVINO)
wherever a model is loaded: load_model, Encoder, an index, the server. The recorded instruction set is faked."""

import shutil

import pytest

import embedlab.optimize.cpu as cpu
from embedlab import Encoder, load_model
from embedlab.errors import VariantError
from embedlab.index import Index
from embedlab.registry import ModelRegistry, read_lineage, write_lineage
from embedlab.serve.app import ServeConfig, create_app

AVX2 = frozenset({"sse4_2", "avx", "avx2", "fma"})
WRONG = r"onnx-int8 variant was quantised for avx512_vnni, but this CPU \(avx2\) lacks .*wrong vectors"


def _recorded(folder, kind):
    lineage = read_lineage(folder)
    lineage.variant.update(kind=kind, isa="avx512_vnni")  # as if quantised on a VNNI machine
    write_lineage(folder, lineage)
    return folder


@pytest.fixture
def avx2_cpu(monkeypatch):
    monkeypatch.setattr(cpu, "cpu_flags", lambda: AVX2)


def test_an_int8_variant_for_another_cpu_is_refused_wherever_it_is_loaded(tiny_onnx, tiny_model, tmp_path, avx2_cpu,
                                                                          monkeypatch):  # fmt: skip
    folder = _recorded(shutil.copytree(tiny_onnx, tmp_path / "int8"), "onnx-int8")
    index = Index.build(tmp_path / "idx", [{"id": "1", "text": "A chef cooks."}], tiny_model).path
    monkeypatch.setenv("EMBEDLAB_HOME", str(tmp_path / "home"))
    shutil.copytree(folder, ModelRegistry().path("fast"))
    for load in (lambda: load_model(folder), lambda: load_model("fast"), lambda: Encoder(str(folder)),
                 lambda: Index.open(index, folder), lambda: create_app(ServeConfig(model=str(folder)))):  # fmt: skip
        with pytest.raises(VariantError, match=WRONG):
            load()


def test_an_openvino_int8_variant_for_another_cpu_loads_with_a_warning(tiny_onnx, tmp_path, avx2_cpu):
    folder = _recorded(shutil.copytree(tiny_onnx, tmp_path / "ov"), "openvino-int8")
    with pytest.warns(UserWarning, match=r"quantised for avx512_vnni.*it runs, but slower than measured"):
        assert load_model(folder).fingerprint == read_lineage(folder).fingerprint
