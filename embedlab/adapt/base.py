"""The model adaptation starts from: torch weights; a faster variant (ONNX, OpenVINO, int8, static) is refused.

A variant made by :mod:`embedlab.optimize` is a copy of its source's function in another format: ONNX
and OpenVINO files have no trainable torch weights, int8 weights cannot take small gradient steps, and a
static model distilled from the source is another, weaker model. Training any of them would give a model
whose lineage and parity no longer hold, so every adaptation (:func:`~embedlab.adapt.finetune`,
:func:`~embedlab.adapt.tsdae`, :func:`~embedlab.adapt.augmented_sbert`, :func:`~embedlab.adapt.adapt_auto`)
starts from :func:`trainable`: train the source model, then optimize the adapted one again.
"""

from __future__ import annotations

from pathlib import Path

from embedlab.errors import InputError
from embedlab.models import EmbeddingModel, load_model


def trainable(base: EmbeddingModel | str | Path | None) -> EmbeddingModel:
    """``base`` loaded (a spec for :func:`embedlab.load_model`) or as given, if adaptation can train it.

    Raises:
        InputError: ``base`` is a variant made by ``embedlab optimize`` or runs on another backend than torch.
    """
    from embedlab.optimize.variants import read_variant

    model = base if isinstance(base, EmbeddingModel) else load_model(base)
    variant = read_variant(model.info.path) if model.info.path else None
    if variant is None and model.info.backend == "torch":
        return model
    if variant is not None:
        quantized = ", int8" if variant.quantized else ""
        what = f"is the {variant.kind} variant ({variant.backend}{quantized}) of {variant.source}"
        source = variant.source
    else:
        what, source = f"runs on {model.info.backend}, not torch", "the torch model it was exported from"
    raise InputError(
        f"{model.info.name} {what}: adaptation trains torch weights and cannot train it. Train the source "
        f"model, then optimize again: adapt {source}, then run `embedlab optimize` on the adapted model."
    )
