"""Optional parts of embedlab and the extra that installs each: a missing one is named, never a bare ImportError.

Example:
    >>> require("onnx")  # raises only where the onnx extra is missing  # doctest: +SKIP
    Traceback (most recent call last):
    embedlab.errors.MissingExtraError: This needs embedlab's extra 'onnx' ... pip install 'embedlab[onnx]'
"""

from __future__ import annotations

import importlib.util

from embedlab.errors import MissingExtraError

#: extra -> (what it is for, the modules that must import).
EXTRAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "onnx": ("ONNX variants (export, graph optimisation, dynamic int8)", ("onnxruntime", "optimum.onnxruntime")),
    "openvino": ("OpenVINO variants (export, static int8 calibrated on your corpus)", ("openvino", "optimum.intel")),
    "model2vec": ("static variants (distilled token embeddings)", ("model2vec",)),
    # "ray" alone: finding ray.data would import ray before embedlab.scale.cluster can keep a local Ray on loopback
    "ray": ("the Ray engine (--engine ray: encoding and indexing on a Ray cluster)", ("ray",)),
}


def missing(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be imported here (empty when it is installed)."""
    return [module for module in EXTRAS[extra][1] if not _importable(module)]


def require(extra: str) -> None:
    """Raise :class:`MissingExtraError` naming ``extra`` and its pip command unless its modules import."""
    absent = missing(extra)
    if absent:
        raise MissingExtraError(
            f"This needs embedlab's extra {extra!r}, for {EXTRAS[extra][0]} (missing: {', '.join(absent)}). "
            f"Install it with: pip install 'embedlab[{extra}]' (`make setup` installs every extra)."
        )


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package that is absent or broken
        return False
