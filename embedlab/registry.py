"""Model registry: every adapted model saved atomically with its lineage, listed and compared by name.

A registered model is a plain sentence-transformers folder (it loads with ``SentenceTransformer(path)``)
plus ``embedlab.json``: the method that made it, the base model and its fingerprint, a hash of the
training data, the hyper-parameters, dev and test metrics, when and how long. Saves go to a temporary
sibling folder that is renamed into place only when complete, so a killed run never leaves a half-written
model under a registered name, and a base model's folder is never written to.

The registry lives in ``$EMBEDLAB_HOME/models`` (default ``~/.local/share/embedlab/models``);
``load_model("name")`` finds registered models by name.

Example:
    >>> registry = ModelRegistry()  # writes to the user's registry; needs an adapted model  # doctest: +SKIP
    >>> registry.save(adapted_st, "scifact-mnrl", lineage)  # doctest: +SKIP
    >>> [entry.name for entry in registry.entries()]  # doctest: +SKIP
    ['scifact-mnrl']
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embedlab.atomic import replace_folder, write_json
from embedlab.errors import InputError, ModelNotFoundError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

LINEAGE_FILE = "embedlab.json"
_NAME = re.compile(r"[A-Za-z0-9][\w.-]{0,99}")
_FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "data": dict,
    "params": dict,
    "metrics": dict,
    "variant": dict,
    "seconds": (int, float),
}


@dataclass
class Lineage:
    """Where an adapted model came from and how well it did."""

    method: str
    base: str
    base_fingerprint: str
    data_hash: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    seconds: float = 0.0
    fingerprint: str = ""
    variant: dict[str, Any] = field(default_factory=dict)  # embedlab.optimize.VariantInfo of a faster variant

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


@dataclass
class RegisteredModel:
    """A model folder in the registry and its lineage."""

    name: str
    path: Path
    lineage: Lineage


@dataclass
class UnreadableModel:
    """A registry folder whose lineage file cannot be read, and why."""

    name: str
    path: Path
    reason: str


@dataclass(frozen=True)
class AvailableModel:
    """A model that loads offline by ``name``: where it comes from (``source``) and its folder.

    ``error`` says why a registry entry cannot be read (it is listed all the same).
    """

    name: str
    source: str
    path: str
    error: str | None = None

    def to_dict(self) -> dict[str, str]:
        """JSON-ready; ``error`` only when there is one."""
        return {key: value for key, value in asdict(self).items() if value is not None}


def available_models(registry: ModelRegistry | None = None) -> list[AvailableModel]:
    """Every model that loads offline: the bundled one, installed packs, registered models, the hub cache.

    What ``embedlab models list`` prints. Registered folders whose lineage does not read come after the
    others, with the reason; one damaged entry never hides the rest.
    """
    from embedlab.models import DEFAULT_MODEL_NAME, bundled_model_dir, cached_hub_models
    from embedlab.packs import installed_packs

    registered, unreadable = (registry or ModelRegistry()).scan()
    return [
        AvailableModel(DEFAULT_MODEL_NAME, "bundled", str(bundled_model_dir())),
        *(AvailableModel(entry.name, f"pack ({entry.kind}, sha256 {entry.weights_sha256[:12]}…)", str(entry.path))
          for entry in installed_packs()),
        *(AvailableModel(entry.name, f"registry ({entry.lineage.method} of {entry.lineage.base})", str(entry.path))
          for entry in registered),
        *(AvailableModel(bad.name, "registry (unreadable)", str(bad.path), bad.reason) for bad in unreadable),
        *(AvailableModel(repo, "hub cache", path) for repo, path in cached_hub_models()),
    ]  # fmt: skip


def registry_root() -> Path:
    """``$EMBEDLAB_HOME/models``, default ``~/.local/share/embedlab/models``."""
    home = os.environ.get("EMBEDLAB_HOME")
    return (Path(home).expanduser() if home else Path.home() / ".local" / "share" / "embedlab") / "models"


def data_hash(rows: Iterable[Iterable[object]]) -> str:
    """A stable sha256 (first 16 hex digits) of training rows, so lineage names the exact data used."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps([str(cell) for cell in row], ensure_ascii=False).encode())
        digest.update(b"\n")
    return digest.hexdigest()[:16]


def save_model(st: SentenceTransformer, out: str | Path, lineage: Lineage, *, overwrite: bool = False) -> Path:
    """Save ``st`` and its lineage to ``out`` atomically; never over a base model or, unasked, another model.

    Raises:
        InputError: ``out`` is the base model's own folder, or exists and ``overwrite`` is false.
    """
    from embedlab.models import fingerprint

    def write(tmp: Path) -> None:
        st.save(str(tmp))
        lineage.fingerprint = lineage.fingerprint or fingerprint(st)

    return _publish(write, out, lineage, overwrite=overwrite)


def save_folder(folder: str | Path, out: str | Path, lineage: Lineage, *, overwrite: bool = False) -> Path:
    """Register a finished model folder (a variant, :mod:`embedlab.optimize`) as a copy, like :func:`save_model`.

    ``lineage.fingerprint`` must already be set (the loaded variant's, :func:`embedlab.models.fingerprint`).
    """
    if not lineage.fingerprint:
        raise InputError("A model folder is registered with its fingerprint in the lineage.")
    return _publish(lambda tmp: shutil.copytree(folder, tmp), out, lineage, overwrite=overwrite)


def _publish(write: Callable[[Path], object], out: str | Path, lineage: Lineage, *, overwrite: bool) -> Path:
    """Write a model into a temporary sibling of ``out`` with ``write``, add its lineage, rename it into place."""
    out = Path(out).expanduser().resolve()
    if lineage.base and Path(lineage.base).expanduser().exists() and Path(lineage.base).resolve() == out:
        raise InputError(f"Refusing to save over the base model at {out}; choose another output folder.")
    if out.exists() and not overwrite:
        raise InputError(f"{out} already exists; choose another name or pass overwrite.")
    with replace_folder(out) as tmp:
        write(tmp)
        lineage.created = lineage.created or time.strftime("%Y-%m-%dT%H:%M:%S%z")
        write_lineage(tmp, lineage)
    return out


def write_lineage(path: str | Path, lineage: Lineage) -> None:
    """(Re)write the lineage of a saved model, atomically (to add test metrics after evaluation, say)."""
    write_json(Path(path) / LINEAGE_FILE, lineage.to_dict())


def read_lineage(path: str | Path) -> Lineage | None:
    """The lineage saved with a model folder, or ``None`` for a model embedlab did not make."""
    file = Path(path) / LINEAGE_FILE
    if not file.is_file():
        return None
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise InputError(f"{file} is not a readable lineage file: {error}") from error
    if not isinstance(data, dict):
        raise InputError(
            f"{file} is not a readable lineage file: a JSON object is expected, not {type(data).__name__}."
        )
    kept = {key: value for key, value in data.items() if key in Lineage.__dataclass_fields__}
    missing = sorted(key for key in ("method", "base", "base_fingerprint") if key not in kept)
    wrong = sorted(key for key, value in kept.items() if not isinstance(value, _FIELD_TYPES.get(key, str)))
    problems = ([f"missing {', '.join(missing)}"] if missing else []) + (
        [f"wrong type of {', '.join(wrong)}"] if wrong else []
    )
    if problems:
        raise InputError(f"{file} is not a readable lineage file: {'; '.join(problems)}.")
    return Lineage(**kept)


class ModelRegistry:
    """Named adapted models under one folder (default :func:`registry_root`)."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root).expanduser() if root else registry_root()

    def path(self, name: str) -> Path:
        """The folder a model of this name has (or would have)."""
        from embedlab.models import DEFAULT_ALIASES

        if not _NAME.fullmatch(name):
            raise InputError(f"Model name {name!r}: use letters, digits, '.', '_' or '-' (at most 100).")
        if name in DEFAULT_ALIASES:
            raise InputError(f"{name!r} names the bundled model; choose another name.")
        return self.root / name

    def save(self, st: SentenceTransformer, name: str, lineage: Lineage, *, overwrite: bool = False) -> Path:
        """Register ``st`` under ``name`` (atomic; see :func:`save_model`)."""
        return save_model(st, self.path(name), lineage, overwrite=overwrite)

    def get(self, name: str) -> RegisteredModel:
        """The registered model ``name``.

        Raises:
            ModelNotFoundError: no model of that name, listing the names there are.
        """
        path = self.path(name)
        lineage = read_lineage(path) if path.is_dir() else None
        if lineage is None:
            known = ", ".join(entry.name for entry in self.entries()) or "none"
            raise ModelNotFoundError(f"No registered model {name!r} in {self.root} (registered: {known}).")
        return RegisteredModel(name=name, path=path, lineage=lineage)

    def entries(self) -> list[RegisteredModel]:
        """Every registered model whose lineage reads, oldest first (see :meth:`scan` for the others)."""
        return self.scan()[0]

    def scan(self) -> tuple[list[RegisteredModel], list[UnreadableModel]]:
        """The registered models, oldest first, and the folders whose lineage file cannot be read, with why.

        One damaged entry never hides the others.
        """
        if not self.root.is_dir():
            return [], []
        found, unreadable = [], []
        for path in sorted(self.root.iterdir()):
            if path.name.startswith(".") or not path.is_dir():
                continue
            try:
                lineage = read_lineage(path)
            except InputError as error:
                unreadable.append(UnreadableModel(name=path.name, path=path, reason=str(error)))
                continue
            if lineage is not None:
                found.append(RegisteredModel(name=path.name, path=path, lineage=lineage))
        return sorted(found, key=lambda entry: (entry.lineage.created, entry.name)), unreadable

    def compare(self, names: Iterable[str]) -> list[dict[str, Any]]:
        """One row per model: method, base, data, and every metric any of them recorded (``None`` if absent)."""
        entries = [self.get(name) for name in names]
        metric_names = sorted({metric for entry in entries for metric in _flat(entry.lineage.metrics)})
        rows = []
        for entry in entries:
            metrics = _flat(entry.lineage.metrics)
            rows.append(
                {
                    "name": entry.name,
                    "method": entry.lineage.method,
                    "base": entry.lineage.base,
                    "data_hash": entry.lineage.data_hash,
                    "created": entry.lineage.created,
                    **{metric: metrics.get(metric) for metric in metric_names},
                }
            )
        return rows


def _flat(metrics: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
