"""Report cards of a user's own scored pairs per language: given in a column, or detected per text.

A pair file holds ``text1, text2, score`` rows (:func:`~embedlab.evaluate.data.load_pairs`' formats) and
optionally a language column. Where a row gives no language, both texts' languages are detected
(:mod:`embedlab.evaluate.detection`); a pair of two languages is a cross-lingual group such as ``en-de``. The
card is the translations card's (:class:`~embedlab.evaluate.multilingual.LanguageCard`): Spearman per
language with bootstrap intervals, the languages more than a margin behind English, script normalisation,
and how many pairs each language has (groups under ``min_pairs`` are counted, not scored).

Example:
    >>> data = load_language_pairs("my-pairs.jsonl")  # text1, text2, score; no language column  # doctest: +SKIP
    >>> pair_file_card(Encoder(), data).scores.mean  # doctest: +SKIP
    {'de_spearman': 0.71, 'en_spearman': 0.84, 'en-de_spearman': 0.65}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embedlab.encode import Encoder
from embedlab.errors import InputError
from embedlab.evaluate.data import PairSet, load_pairs
from embedlab.evaluate.detection import pair_languages
from embedlab.evaluate.multilingual import LanguageCard, lagging_languages, normalization_check, spearman
from embedlab.evaluate.results import Scores
from embedlab.evaluate.stats import statistic_ci
from embedlab.evaluate.sts import MIN_PAIRS, pair_cosines
from embedlab.io import read_records


@dataclass(frozen=True)
class LanguagePairs:
    """Scored pairs and each row's language: given, or detected (``"de"``; ``"en-de"`` for a cross-lingual pair)."""

    pairs: PairSet
    languages: list[str]
    detected: int  # rows whose language was detected

    def groups(self) -> dict[str, list[int]]:
        """``{language: row numbers}``, languages sorted."""
        rows: dict[str, list[int]] = {}
        for row, language in enumerate(self.languages):
            rows.setdefault(language, []).append(row)
        return dict(sorted(rows.items()))


def load_language_pairs(
    path: str | Path,
    *,
    language_field: str | None = None,
    text1_field: str = "text1",
    text2_field: str = "text2",
    score_field: str = "score",
    candidates: Sequence[str] | None = None,
) -> LanguagePairs:
    """Read scored pairs (:func:`~embedlab.evaluate.data.load_pairs`) with each row's language.

    The language comes from ``language_field`` where the row has one, else both texts' languages are
    detected (among ``candidates`` when given).

    Raises:
        InputError: what :func:`load_pairs` refuses, or a ``language_field`` the file does not have.
    """
    pairs = load_pairs(path, text1_field=text1_field, text2_field=text2_field, score_field=score_field)
    given: list[str | None] | None = None
    if language_field is not None:
        records = read_records(path)
        if not records or language_field not in records[0]:
            raise InputError(
                f"{path}: no field {language_field!r} (has: {', '.join(records[0]) if records else 'none'})."
            )
        given = [_label(record.get(language_field)) for record in records]
    languages = pair_languages(pairs.texts1, pairs.texts2, given, candidates=candidates)
    detected = len(languages) if given is None else sum(label is None for label in given)
    return LanguagePairs(pairs, languages, detected)


def _label(value: object) -> str | None:
    """A language cell: its text, or ``None`` when it is absent or blank (then the language is detected)."""
    text = "" if value is None else str(value).strip()
    return text or None


def spearman_by_language(
    cosines: np.ndarray,
    gold: Sequence[float] | np.ndarray,
    groups: dict[str, list[int]],
    *,
    min_pairs: int = MIN_PAIRS,
    resamples: int = 1000,
) -> Scores:
    """Spearman of ``cosines`` with ``gold`` within each group of rows (``de_spearman``), with bootstrap intervals.

    Groups of fewer than ``min_pairs`` rows are left out (a card counts them).

    Example:
        >>> spearman_by_language(np.array([0.9, 0.1, 0.5, 0.3]), [4.0, 0.0, 3.0, 1.0], {"en": [0, 1, 2, 3]},
        ...                      min_pairs=3).mean
        {'en_spearman': 1.0}
    """
    gold = np.asarray(gold, dtype=np.float64)
    return Scores({f"{language}_spearman": statistic_ci(spearman, cosines[rows], gold[rows], n_resamples=resamples)
                   for language, rows in groups.items() if len(rows) >= min_pairs})  # fmt: skip


def pair_file_card(
    encoder: Encoder,
    data: LanguagePairs,
    *,
    margin: float = 0.05,
    sample: int = 100,
    min_pairs: int = MIN_PAIRS,
    resamples: int = 1000,
) -> LanguageCard:
    """Score ``encoder`` per language of ``data``: Spearman with intervals, languages behind English, script forms.

    Each text is encoded once; languages more than ``margin`` behind English are named; script normalisation is
    checked on the first ``sample`` first texts.
    """
    pairs = data.pairs
    cosines = pair_cosines(encoder.encode(pairs.texts1), encoder.encode(pairs.texts2))
    groups = data.groups()
    scores = spearman_by_language(cosines, pairs.scores, groups, min_pairs=min_pairs, resamples=resamples)
    return LanguageCard(encoder.info.name, encoder.info.fingerprint, scores, lagging_languages(scores, margin=margin),
                        margin, normalization_check(encoder, pairs.texts1[:sample]),
                        pairs={language: len(rows) for language, rows in groups.items()}, detected=data.detected,
                        min_pairs=min_pairs)  # fmt: skip
