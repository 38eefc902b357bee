"""Faster variants of a sentence-transformers model: ONNX, ONNX dynamic int8, OpenVINO, OpenVINO static int8, static.

Each variant is built by the libraries that own the format, through sentence-transformers' own backend
support: ``SentenceTransformer(path, backend="onnx"|"openvino")`` exports the transformer,
``export_optimized_onnx_model`` applies optimum's graph optimisations, ``export_dynamic_quantized_onnx_model``
quantises weights to int8 for the CPU found at run time (:mod:`embedlab.optimize.cpu`), optimum-intel's
``OVQuantizer`` (NNCF) quantises OpenVINO weights *and* activations, calibrated on a sample of the user's
corpus, and model2vec distils a static model (:mod:`embedlab.optimize.static`).

A variant is a plain sentence-transformers folder with the backend file under its conventional name
(``onnx/model.onnx``, ``openvino/openvino_model.xml``), so ``SentenceTransformer(path, backend=...)``
loads it too; :func:`saved_backend` tells the backend from the files and :func:`load_kwargs` gives
what :func:`embedlab.load_model` passes to sentence-transformers. What a variant is (kind, source and its
fingerprint, quantisation settings, calibration-data hash, instruction set, parity) is a
:class:`VariantInfo`, stored in the lineage (``embedlab.json``).

Fingerprint of a non-torch model: the same sha256 as :func:`embedlab.models.fingerprint` (module stack,
tokenizer, dimension) with the backend's name and the bytes of the backend's model files in place of the
torch weights (:func:`backend_files`). It is computed from the loaded model, never read from the lineage,
so it identifies exactly the vectors the files give; the source's fingerprint is lineage, and
:meth:`VariantInfo.compatible_with` relates the two through the parity record.

Example:
    >>> path = build_variant(load_model(), "onnx-int8", "work/onnx-int8")  # doctest: +SKIP
    >>> load_model("work/onnx-int8").info.backend  # needs the onnx extra; a minute  # doctest: +SKIP
    'onnx'
"""

from __future__ import annotations

import logging
import shutil
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from embedlab.atomic import replace_folder
from embedlab.errors import InputError, VariantError
from embedlab.extras import require
from embedlab.optimize.cpu import check_isa, cpu_isa

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from embedlab.adapt.data import TrainingSet
    from embedlab.models import EmbeddingModel, ModelInfo
    from embedlab.registry import Lineage

Kind = Literal["torch", "onnx", "onnx-int8", "openvino", "openvino-int8", "static"]
KINDS: tuple[Kind, ...] = get_args(Kind)
Backend = Literal["torch", "onnx", "openvino"]

ONNX_FILE = Path("onnx") / "model.onnx"
OPENVINO_FILE = Path("openvino") / "openvino_model.xml"
#: optimum's graph optimisation level for CPU (O3 = O2's fusions plus a GELU approximation; O4 is GPU fp16).
ONNX_OPTIMIZATION = "O3"
#: Texts of the user's corpus the OpenVINO static int8 variant is calibrated on (NNCF's default is 300).
CALIBRATION_SAMPLES = 300
_EXTRA: dict[str, str] = {"onnx": "onnx", "onnx-int8": "onnx", "openvino": "openvino", "openvino-int8": "openvino",
                          "static": "model2vec"}  # fmt: skip
log = logging.getLogger(__name__)


@dataclass
class VariantInfo:
    """What a variant is and where it came from (stored as ``variant`` in the lineage)."""

    kind: str
    backend: str
    source: str
    source_fingerprint: str
    settings: dict[str, Any] = field(default_factory=dict)  # optimisation level, quantisation, distillation
    calibration_hash: str = ""
    isa: str | None = None  # the instruction set of the CPU it was built (and quantised) for
    parity: dict[str, Any] = field(default_factory=dict)

    @property
    def quantized(self) -> bool:
        """Whether the weights are int8 (dynamic or static quantisation)."""
        return self.kind.endswith("-int8")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VariantInfo:
        """The inverse of :meth:`to_dict` (unknown keys ignored)."""
        return cls(**{key: value for key, value in data.items() if key in cls.__dataclass_fields__})

    def compatible_with(self, fingerprint: str) -> bool:
        """Whether this variant may encode queries for vectors made by the model ``fingerprint``.

        Yes for its source when its parity record passed (its vectors agree with the source's); an index
        built by the source then keeps its fingerprint and declares the variant as the encoder of its
        queries (:func:`embedlab.index.compat.query_encoder`).
        """
        return fingerprint == self.source_fingerprint and bool(self.parity.get("passed"))

    def check_compatible(self, fingerprint: str, *, what: str = "this index") -> None:
        """Raise :class:`VariantError` with the parity figures unless :meth:`compatible_with` ``fingerprint``."""
        if self.compatible_with(fingerprint):
            return
        if fingerprint != self.source_fingerprint:
            raise VariantError(
                f"This {self.kind} variant comes from model {self.source_fingerprint[:12]}, but {what} was built "
                f"with {fingerprint[:12]}: its vectors are from another space."
            )
        from embedlab.optimize.parity import ParityRecord

        summary = ParityRecord.from_dict(self.parity).summary()
        raise VariantError(
            f"This {self.kind} variant failed its parity with the source model: {summary}. Rebuild {what} with it."
        )

    def check_cpu(self) -> None:
        """Refuse (dynamic int8) or warn (OpenVINO int8) when this CPU lacks the instruction set quantised for."""
        if not self.quantized or not self.isa:
            return
        reason = check_isa(self.isa, what=f"This {self.kind} variant", strict=self.kind == "onnx-int8")
        if reason:
            warnings.warn(reason, UserWarning, stacklevel=3)


def saved_backend(path: str | Path) -> Backend:
    """The backend a saved model folder runs on, from its files: torch weights win, then ONNX, then OpenVINO."""
    path = Path(path)
    if any((path / name).is_file() for name in ("model.safetensors", "pytorch_model.bin")):
        return "torch"
    if (path / ONNX_FILE).is_file():
        return "onnx"
    if (path / OPENVINO_FILE).is_file():
        return "openvino"
    return "torch"


def load_kwargs(path: str | Path) -> dict[str, Any]:
    """Keyword arguments for ``SentenceTransformer(path, ...)``: the saved backend, and the CPU check of a variant.

    Raises:
        MissingExtraError: the backend's extra is not installed.
        VariantError: an int8 variant quantised for an instruction set this CPU lacks.
    """
    backend = saved_backend(path)
    info = read_variant(path)
    if info is not None:
        info.check_cpu()
    if backend == "torch":
        return {}
    require(backend)
    if backend == "openvino":  # no compiled-model cache written into the model folder
        # optimum-intel warns on every load that it cannot tell whether a local folder is already exported.
        logging.getLogger("optimum.intel.openvino.modeling_base").setLevel(logging.ERROR)
        return {"backend": backend, "model_kwargs": {"ov_config": {"CACHE_DIR": ""}}}
    return {"backend": backend}


def read_variant(path: str | Path) -> VariantInfo | None:
    """The :class:`VariantInfo` in a folder's lineage, or ``None`` for a model that is no variant."""
    from embedlab.registry import read_lineage

    lineage = read_lineage(path)
    return VariantInfo.from_dict(lineage.variant) if lineage is not None and lineage.variant else None


def runtime(info: ModelInfo) -> dict[str, str | None]:
    """How a loaded model runs, as a server shows it.

    ``backend``: torch, onnx, openvino or static; ``quantization``: int8 or none; ``variant``: the kind of
    variant (:data:`KINDS`), ``None`` for a model that is no variant.
    """
    variant = read_variant(info.path) if info.path else None
    backend = "static" if "StaticEmbedding" in info.modules else info.backend
    if variant is None:
        return {"backend": backend, "quantization": "none", "variant": None}
    return {"backend": backend, "quantization": "int8" if variant.quantized else "none", "variant": variant.kind}


def backend_files(st: SentenceTransformer) -> list[Path]:
    """The files a non-torch model's transformer runs from (hashed into its fingerprint)."""
    model: Any = st[0].auto_model
    if st.backend == "onnx":
        main = Path(model.path)
        return [main, *sorted(main.parent.glob(f"{main.name}_data"))]
    if st.backend == "openvino":
        xml = Path(model.model_save_dir) / Path(model._ov_model_paths["model"]).name
        return [xml, xml.with_suffix(".bin")]
    raise VariantError(f"No backend files for backend {st.backend!r}.")


def build_variant(
    source: EmbeddingModel,
    kind: Kind,
    out: str | Path,
    *,
    calibration: Sequence[str] = (),
    train: TrainingSet | None = None,
    static_settings: dict[str, Any] | None = None,
) -> VariantInfo:
    """Build the ``kind`` variant of ``source`` into the new folder ``out`` with its lineage; return what it is.

    The parity record is left empty: :func:`embedlab.optimize.run.optimize` measures it on held texts.

    Args:
        source: a torch model loaded from a folder (bundled, registered, local or hub).
        kind: one of :data:`KINDS` other than ``"torch"``.
        out: the folder to write; must not exist.
        calibration: texts of the user's corpus: OpenVINO int8 is calibrated on up to
            :data:`CALIBRATION_SAMPLES` of them; a static model adds their frequent words to its vocabulary.
        train: pairs to fine-tune a static model on with MNRL (``None``: distillation only).
        static_settings: :class:`embedlab.optimize.static.StaticSettings` fields.

    Raises:
        InputError: ``out`` exists, an unknown kind, a source that is itself a variant or has no folder.
        MissingExtraError: the extra the kind needs.
    """
    from embedlab.models import load_model
    from embedlab.registry import data_hash, write_lineage

    out = Path(out)
    if kind not in KINDS or kind == "torch":
        raise InputError(f"Unknown variant {kind!r}; choose from {', '.join(KINDS[1:])}.")
    if out.exists():
        raise InputError(f"{out} already exists; choose another folder for the {kind} variant.")
    if source.info.backend != "torch" or not source.info.path:
        raise InputError(f"{source.info.name} is not a torch model in a folder: optimize its source model instead.")
    require(_EXTRA[kind])
    texts = list(calibration)
    if kind == "openvino-int8":
        if not texts:
            raise InputError("OpenVINO static int8 is calibrated on your texts: give a calibration sample.")
        texts = texts[:CALIBRATION_SAMPLES]
    settings: dict[str, Any]
    with replace_folder(out) as staging:  # a failed build leaves nothing under out
        with _quiet():
            if kind == "onnx":
                settings = _onnx(source, staging, optimize=True, isa=None)
            elif kind == "onnx-int8":
                settings = _onnx(source, staging, optimize=False, isa=cpu_isa())
            elif kind in ("openvino", "openvino-int8"):
                settings = _openvino(source, staging, calibration=texts if kind == "openvino-int8" else None)
            else:
                from embedlab.optimize.static import StaticSettings, build_static

                settings = build_static(source, staging, texts, train, StaticSettings(**(static_settings or {})))
        used = texts if kind in ("openvino-int8", "static") else []
        info = VariantInfo(
            kind=kind,
            backend=saved_backend(staging),
            source=source.info.name if source.info.source != "local" else source.info.path,
            source_fingerprint=source.fingerprint,
            settings=settings,
            calibration_hash=data_hash([text] for text in used) if used else "",
            isa=cpu_isa(),
        )
        write_lineage(staging, variant_lineage(info, load_model(staging).fingerprint))
    return info


def variant_lineage(info: VariantInfo, fingerprint: str, **fields: Any) -> Lineage:
    """The lineage of a variant folder: method ``optimize:KIND``, its source, settings and :class:`VariantInfo`.

    ``fields`` sets further :class:`~embedlab.registry.Lineage` fields (``metrics``, ``data``, ``seconds``).
    """
    from embedlab.registry import Lineage

    return Lineage(
        method=f"optimize:{info.kind}",
        base=info.source,
        base_fingerprint=info.source_fingerprint,
        data_hash=info.calibration_hash,
        params={"kind": info.kind, "backend": info.backend, **info.settings},
        fingerprint=fingerprint,
        variant=info.to_dict(),
        **fields,
    )


def _onnx(source: EmbeddingModel, out: Path, *, optimize: bool, isa: str | None) -> dict[str, Any]:
    """Export to ONNX, then graph-optimise it or quantise it dynamically for ``isa``; keep one ``model.onnx``."""
    from sentence_transformers import (
        SentenceTransformer,
        export_dynamic_quantized_onnx_model,
        export_optimized_onnx_model,
    )

    st = SentenceTransformer(source.info.path, backend="onnx", device="cpu", model_kwargs={"export": True})
    st.max_seq_length = source.max_seq_length
    st.save(str(out))
    if optimize:
        export_optimized_onnx_model(st, ONNX_OPTIMIZATION, str(out))
        _replace(out / "onnx" / f"model_{ONNX_OPTIMIZATION}.onnx", out / ONNX_FILE)
        return {"optimization": ONNX_OPTIMIZATION}
    if isa is None:
        raise VariantError("Cannot tell this CPU's instruction set, so cannot choose an int8 quantisation for it.")
    from optimum.onnxruntime.configuration import AutoQuantizationConfig

    config = getattr(AutoQuantizationConfig, isa)(is_static=False)
    export_dynamic_quantized_onnx_model(st, config, str(out), file_suffix="qint8")
    _replace(out / "onnx" / "model_qint8.onnx", out / ONNX_FILE)
    return {
        "quantization": "dynamic int8 (ONNX Runtime)",
        "config": isa,
        "weights": config.weights_dtype.name,
        "per_channel": config.per_channel,
        "reduce_range": config.reduce_range,
        "operators": list(config.operators_to_quantize),
    }


def _openvino(source: EmbeddingModel, out: Path, *, calibration: list[str] | None) -> dict[str, Any]:
    """Export to OpenVINO IR; with ``calibration`` texts, quantise it statically to int8 with NNCF."""
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(source.info.path, backend="openvino", device="cpu", model_kwargs={"export": True})
    st.max_seq_length = source.max_seq_length
    st.save(str(out))
    if calibration is None:
        return {}
    from datasets import Dataset
    from optimum.intel import OVConfig, OVQuantizationConfig, OVQuantizer

    # Real lengths (no padding to a fixed size): activation ranges are those the model will see.
    dataset = Dataset.from_dict(dict(st.tokenizer(calibration, truncation=True, max_length=st.max_seq_length)))
    config = OVQuantizationConfig(num_samples=len(calibration))
    with _tmp_dir(out / ".int8") as tmp:
        OVQuantizer.from_pretrained(st[0].auto_model).quantize(
            calibration_dataset=dataset, save_directory=str(tmp), ov_config=OVConfig(quantization_config=config)
        )
        written = next(tmp.rglob(OPENVINO_FILE.name), tmp / OPENVINO_FILE.name)  # the exporter may nest it
        for suffix in (".xml", ".bin"):
            _replace(written.with_suffix(suffix), out / OPENVINO_FILE.with_suffix(suffix))
    return {"quantization": "static int8 (NNCF post-training)", "samples": len(calibration),
            "preset": "performance", "activations": "int8", "weights": "int8"}  # fmt: skip


def _replace(new: Path, target: Path) -> None:
    """Move a file the exporter wrote to its conventional name (in the folder being built)."""
    if not new.is_file():
        raise VariantError(f"The exporter did not write {new}.")
    new.replace(target)


@contextmanager
def _tmp_dir(path: Path) -> Iterator[Path]:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def _quiet() -> Iterator[None]:
    """Exporters' warnings and INFO logs (tracer notices, deprecations) are not the user's business."""
    names = ("optimum", "nncf", "sentence_transformers", "transformers", "model2vec")
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)
