"""What a search takes: :class:`SearchOptions` and its choices, one definition for the library, CLI and server.

This module imports nothing heavy (no LanceDB, faiss or torch), so the server derives its ``/v1/search``
request from these fields at start-up, and a new option reaches the API without a second edit. Each
field's type carries its constraints (a ``Literal`` of choices, ``annotated_types`` bounds), read both by
:class:`SearchOptions` itself and by pydantic.

Example:
    >>> SearchOptions(mode="hybrid", fusion="weighted", alpha=0.7).alpha
    0.7
    >>> SearchOptions(mode="fuzzy")
    Traceback (most recent call last):
    ...
    embedlab.errors.InputError: mode must be vector, bm25 or hybrid; got 'fuzzy'.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args, get_origin, get_type_hints

from annotated_types import Ge, Interval, Le

from embedlab.errors import InputError

Mode = Literal["vector", "bm25", "hybrid"]
Fusion = Literal["rrf", "weighted"]
RerankFusion = Literal["rrf", "replace"]
CALIBRATED = "calibrated"  # min_score: the index's calibrated threshold (embedlab.operate.thresholds)


@dataclass(frozen=True)
class SearchOptions:
    """How :meth:`~embedlab.index.Index.search` searches.

    Attributes:
        mode: vector, bm25 or hybrid.
        filter: an SQL condition on metadata columns, applied before ranking (lang = 'en').
        min_score: drop hits scoring below this (the mode's own score; with rerank, the cross-encoder's);
            "calibrated" takes the index's calibrated threshold (INDEX/threshold.json, vector mode).
        fusion: rrf (reciprocal rank) or weighted (normalised scores) for hybrid.
        alpha: the vector side's weight in weighted fusion.
        candidates: chunks each component retrieves before documents are collapsed and fused.
        rerank: a sentence-transformers CrossEncoder (or its path) that re-scores the first rerank_top
            documents (its score in the hit's rerank component).
        rerank_top: how many documents the cross-encoder sees; when k is larger, the hits after them
            keep their first-stage order and score.
        rerank_fusion: rrf fuses the cross-encoder's ranking with the first stage's (the hit's score is
            the fused one); replace ranks by the cross-encoder's score alone.
        rescore: a compressed index (float16, int8, binary or truncated vectors) re-scores k x rescore
            candidates with the full float32 vectors (0: its compact scores as they are; default: the
            index's own setting, 4 unless the compression planner chose another); float32 indexes ignore it.
        expand: add terms mined from the index's own documents to the BM25 query (pseudo-relevance feedback,
            RM3 over the plain query's 10 best documents, the query keeping half the weight; an added term never
            outweighs an original one); bm25 and hybrid modes only (default: the index's setting from
            index tune-expansion, else off).
    """

    mode: Mode = "vector"
    filter: str | None = None
    min_score: float | Literal["calibrated"] | None = None
    fusion: Fusion = "rrf"
    alpha: Annotated[float, Interval(ge=0, le=1)] = 0.5
    candidates: Annotated[int, Ge(1)] = 100
    rerank: Any = None
    rerank_top: Annotated[int, Ge(1)] = 50
    rerank_fusion: RerankFusion = "rrf"
    rescore: Annotated[int | None, Ge(0)] = None
    expand: bool | None = None

    def __post_init__(self) -> None:
        for name, (kind, _, _) in option_fields().items():
            _check(name, getattr(self, name), kind)
        if isinstance(self.min_score, str) and self.min_score != CALIBRATED:
            raise InputError(f"min_score must be a number or {CALIBRATED!r}; got {self.min_score!r}.")
        if self.expand is not None and not isinstance(self.expand, bool):
            raise InputError(f"expand must be true, false or unset; got {self.expand!r}.")
        if self.expand and self.mode == "vector":
            raise InputError("expand adds terms to the BM25 query: use it with mode bm25 or hybrid, not vector.")

    @property
    def score_floor(self) -> float | None:
        """``min_score`` as a number (``"calibrated"`` is replaced by the index's threshold before searching)."""
        if isinstance(self.min_score, str):
            raise InputError(f"min_score={CALIBRATED!r} needs an index's calibrated threshold; search an index.")
        return self.min_score


def option_fields() -> dict[str, tuple[Any, Any, str]]:
    """Each option's annotated type, default and description (from the docstring), in declaration order."""
    kinds = get_type_hints(SearchOptions, include_extras=True)
    docs = _attribute_docs(SearchOptions.__doc__ or "")
    return {
        field.name: (kinds[field.name], field.default, docs.get(field.name, ""))
        for field in dataclasses.fields(SearchOptions)
    }


def search_options(options: Mapping[str, Any]) -> SearchOptions:
    """:class:`SearchOptions` from keyword options, naming an unknown one.

    Raises:
        InputError: an unknown option, or a value outside its choices or bounds.
    """
    unknown = sorted(set(options) - {field.name for field in dataclasses.fields(SearchOptions)})
    if unknown:
        names = ", ".join(field.name for field in dataclasses.fields(SearchOptions))
        raise InputError(f"Unknown search option {', '.join(map(repr, unknown))}. Options: {names}.")
    return SearchOptions(**options)


def _check(name: str, value: Any, kind: Any) -> None:
    """Refuse ``value`` if it is outside the ``Literal`` choices or ``annotated_types`` bounds of ``kind``."""
    bounds: tuple[Any, ...] = ()
    if get_origin(kind) is Annotated:
        kind, *metadata = get_args(kind)
        bounds = tuple(metadata)
    if get_origin(kind) is Literal and value not in get_args(kind):
        *others, last = map(str, get_args(kind))
        raise InputError(f"{name} must be {', '.join(others)} or {last}; got {value!r}.")
    for bound in bounds if value is not None else ():
        if isinstance(bound, Interval) and not bound.ge <= value <= bound.le:
            raise InputError(f"{name} must be between {bound.ge} and {bound.le}, got {value}.")
        if isinstance(bound, Ge) and not value >= bound.ge:
            raise InputError(f"{name} must be at least {bound.ge}, got {value}.")
        if isinstance(bound, Le) and not value <= bound.le:
            raise InputError(f"{name} must be at most {bound.le}, got {value}.")


def _attribute_docs(docstring: str) -> dict[str, str]:
    """``name: text`` entries of a Google-style ``Attributes:`` section, continuation lines joined."""
    section = inspect.cleandoc(docstring).partition("Attributes:")[2]
    docs: dict[str, str] = {}
    name = None
    for line in section.splitlines():
        entry = re.fullmatch(r" {4}(\w+): (.*)", line)
        if entry:
            name, docs[entry[1]] = entry[1], entry[2]
        elif name and line.strip():
            docs[name] += " " + line.strip()
    return docs
