"""An FAQ answerer: match a user's question to the closest FAQ question, with a confidence.

The FAQ's questions are embedded (their answers and categories are stored beside them), so "How can I
change my password?" finds "How do I reset my password?". When the best match scores below
``min_confidence`` the answer is ``None`` and :attr:`FaqAnswer.reply` says "No confident match" (rather
than guess), but the alternatives are still returned. ``min_confidence="calibrated"`` takes the index's
calibrated threshold (:mod:`embedlab.operate.thresholds`), refused if it was measured with another model.

Example:
    >>> faq = FaqAnswerer.build("faq-index", [{"question": "How do I reset my password?",  # doctest: +SKIP
    ...                                        "answer": "Use the link on the sign-in page.", "category": "account"}])
    >>> faq.answer("I forgot my password").answer  # builds an index in the working folder  # doctest: +SKIP
    'Use the link on the sign-in page.'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from embedlab.encode import Encoder
from embedlab.errors import InputError
from embedlab.index.rows import sql_list
from embedlab.index.store import Index
from embedlab.models import EmbeddingModel
from embedlab.operate.thresholds import Threshold, score_floor


@dataclass
class FaqAnswer:
    """The best answer (or ``None`` below the confidence threshold), its question, and the runners-up."""

    answer: str | None
    question: str | None
    confidence: float
    category: str | None = None
    alternatives: list[dict[str, Any]] = field(default_factory=list)
    min_confidence: float | None = None

    @property
    def reply(self) -> str:
        """The answer, or "No confident match" with the best candidate's confidence and the threshold."""
        if self.answer is not None:
            return self.answer
        if self.question is None:
            return "No confident match (the FAQ is empty)."
        return (
            f"No confident match: the closest question, {self.question!r}, scores {self.confidence:.3f}, "
            f"below {self.min_confidence:.3f}."
        )


class FaqAnswerer:
    """Answer questions from an FAQ kept in an :class:`~embedlab.index.Index`."""

    def __init__(self, index: Index, *, min_confidence: float | Literal["calibrated"] | Threshold = 0.5) -> None:
        self.index = index
        self.min_confidence = score_floor(index, min_confidence)

    @classmethod
    def build(
        cls,
        path: str | Path,
        entries: Sequence[Mapping[str, Any]],
        model: EmbeddingModel | Encoder | str | Path | None = None,
        *,
        min_confidence: float | Literal["calibrated"] | Threshold = 0.5,
    ) -> FaqAnswerer:
        """Index FAQ entries (``question``, ``answer``, optional ``category`` and ``id``) at ``path``."""
        missing = [i for i, e in enumerate(entries) if not e.get("question") or not e.get("answer")]
        if missing:
            raise InputError(f"FAQ entries {missing[:10]} need both a question and an answer.")
        documents = [
            {"id": str(e.get("id", i)), "text": str(e["question"]), "answer": str(e["answer"]),
             "category": e.get("category")}
            for i, e in enumerate(entries)
        ]  # fmt: skip
        index = Index.build(path, documents, model, metadata_fields=["answer", "category"], chunk=False)
        return cls(index, min_confidence=min_confidence)

    def answer(self, question: str, *, category: str | None = None, alternatives: int = 3) -> FaqAnswer:
        """The answer to ``question`` (optionally only from one ``category``), with alternatives."""
        condition = f"category = {sql_list([category])}" if category else None
        hits = self.index.search(question, k=alternatives + 1, filter=condition)
        if not hits:
            return FaqAnswer(answer=None, question=None, confidence=0.0, min_confidence=self.min_confidence)
        best, rest = hits[0], hits[1:]
        confident = best.score >= self.min_confidence
        return FaqAnswer(
            answer=best.metadata["answer"] if confident else None,
            question=best.text,
            confidence=best.score,
            category=best.metadata.get("category"),
            alternatives=[
                {"question": hit.text, "answer": hit.metadata["answer"], "confidence": hit.score} for hit in rest
            ],
            min_confidence=self.min_confidence,
        )
