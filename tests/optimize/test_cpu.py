import pytest

import embedlab.optimize.cpu as cpu
from embedlab.errors import VariantError
from embedlab.optimize import VariantInfo, check_isa, cpu_isa, has_vnni

AVX2 = frozenset({"sse4_2", "avx", "avx2", "fma"})
VNNI = AVX2 | {"avx512f", "avx512bw", "avx512vl", "avx512_vnni"}


def test_the_most_capable_instruction_set_is_chosen():
    assert cpu_isa(AVX2) == "avx2"
    assert cpu_isa(VNNI) == "avx512_vnni"
    assert cpu_isa(VNNI - {"avx512_vnni"}) == "avx512"
    assert cpu_isa(frozenset({"sse4_2"})) is None


def test_vnni_is_found_in_its_avx512_and_avx_forms():
    assert has_vnni(VNNI) and has_vnni(AVX2 | {"avx_vnni"})
    assert not has_vnni(AVX2) and not has_vnni(VNNI - {"avx512_vnni"})


def test_an_int8_model_for_vnni_is_refused_without_it_and_warned_about_when_lenient():
    with pytest.raises(VariantError, match=r"quantised for avx512_vnni.*\(avx2\) lacks avx512_vnni, avx512bw"):
        check_isa("avx512_vnni", what="model", strict=True, flags=AVX2)
    assert "slower" in check_isa("avx512_vnni", what="model", strict=False, flags=AVX2)
    assert check_isa("avx2", what="model", strict=True, flags=VNNI) is None


def test_loading_checks_the_variant_against_this_cpu(monkeypatch):
    monkeypatch.setattr(cpu, "cpu_flags", lambda: AVX2)
    with pytest.raises(VariantError, match="wrong vectors"):
        VariantInfo("onnx-int8", "onnx", "src", "f", isa="avx512_vnni").check_cpu()
    with pytest.warns(UserWarning, match="slower than measured"):
        VariantInfo("openvino-int8", "openvino", "src", "f", isa="avx512_vnni").check_cpu()
    VariantInfo("onnx", "onnx", "src", "f", isa="avx512_vnni").check_cpu()  # not quantised: runs anywhere
