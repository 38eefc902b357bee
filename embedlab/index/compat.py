"""Which model may encode an index's queries: the model it was built with, or a variant of it that passed parity.

A faster variant of the index's model (:mod:`embedlab.optimize`) has its own fingerprint, but its lineage
names its source's and carries a parity record: the cosine between its vectors and the source's, and how
many of a query's top-10 source documents its query vectors find. When the source is the index's model
and the parity passed, the variant may encode queries for the index (:func:`query_encoder` says so, with
the figures, in :meth:`embedlab.index.Index.info`); otherwise it is refused with the figures.

Documents' vectors always come from the index's own model: a variant opens an index for search only.
Parity is measured for what search does (variant queries against source documents); an index whose
documents came from two models would hold vectors no fingerprint describes, could never be rebuilt
exactly, and would drift further with every variant's additions. To add documents, open the index with
its model (the default); to serve documents encoded by the variant, build an index with it.

Example:
    >>> query_encoder({"name": "m", "fingerprint": "f" * 64}, load_model("m").info)["text"]  # doctest: +SKIP
    "the index's model m [ffffffffffff] (torch)"
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from embedlab.errors import IndexMismatchError, VariantError
from embedlab.index.settings import same_space
from embedlab.models import ModelInfo


def query_encoder(stored: Mapping[str, Any], given: ModelInfo) -> dict[str, Any]:
    """What encodes the queries of an index built with ``stored`` (its ``index.json`` model) when ``given`` is used.

    Returns ``{"model", "fingerprint", "backend", "variant", "text"}``: ``variant`` is ``None`` for the index's
    own model, else the variant's kind, quantisation, source fingerprint and parity record.

    Raises:
        IndexMismatchError: ``given`` is another model, a variant of another model, a variant whose parity
            failed (the figures in the message), or one whose lineage describes other files.
    """
    from embedlab.optimize.parity import ParityRecord
    from embedlab.optimize.variants import VariantInfo
    from embedlab.registry import read_lineage

    fingerprint = str(stored.get("fingerprint"))
    declared: dict[str, Any] = {"model": given.name, "fingerprint": given.fingerprint, "backend": given.backend}
    lineage = read_lineage(given.path) if given.path and given.fingerprint != fingerprint else None
    if lineage is None or not lineage.variant:
        same_space(stored, given.to_dict(), what="the model given")  # another model is refused, naming both
        text = f"the index's model {given.name} [{given.short_fingerprint}] ({given.backend})"
        return {**declared, "variant": None, "text": text}
    variant = VariantInfo.from_dict(lineage.variant)
    if lineage.fingerprint != given.fingerprint:
        raise IndexMismatchError(
            f"{given.name}'s lineage describes a {variant.kind} variant with fingerprint {lineage.fingerprint[:12]}, "
            f"but its files load as {given.short_fingerprint}: its parity record is not theirs. Build the variant "
            "again (`embedlab optimize`)."
        )
    try:
        variant.check_compatible(fingerprint, what=f"this index (model {stored.get('name')})")
    except VariantError as exc:
        raise IndexMismatchError(f"{given.name} cannot encode queries for this index. {exc}") from None
    parity = ParityRecord.from_dict(variant.parity)
    text = (
        f"variant {variant.kind} of {fingerprint[:12]}, parity cosine {parity.cosine_mean:.3f} "
        f"top-10 {parity.top10_cross:.2f}"
    )
    described = {"kind": variant.kind, "quantized": variant.quantized, "isa": variant.isa,
                 "source_fingerprint": variant.source_fingerprint, "parity": variant.parity}  # fmt: skip
    return {**declared, "variant": described, "text": text}
