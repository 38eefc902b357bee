"""Multilingual report cards: STS per language, cross-lingual pairs, script normalisation, languages left behind.

The data is one scored pair set per language with the same rows in every language (the STS-B translations
in ``stsb_multi_mt``: ``stsb-<lang>-<split>.csv``). For each language the card gives the Spearman correlation
of the pair cosines with the gold scores; for each cross-lingual pair ``en-xx`` the first sentence is the
reference language's and the second the translation's (a model that maps translations together scores as
well as on English). :func:`lagging_languages` names the languages that fall behind the reference by more
than a margin, and :func:`normalization_check` encodes texts in NFC, NFD, full-width and half-width forms
and counts those whose vector changes.
For the STS-B translations the card also says how often language detection (:mod:`embedlab.evaluate.detection`)
agrees with each file's language, a sanity figure for the data and the detector. A user's own scored pairs are
carded per language, given or detected, by :mod:`embedlab.evaluate.language_pairs`.

Example:
    >>> data = load_multilingual_sts("../shared/data/stsb_multi_mt", languages=["de", "ja"])  # doctest: +SKIP
    >>> scores = MultilingualSTSEvaluator(data).measure(Encoder())  # doctest: +SKIP
    >>> lagging_languages(scores, margin=0.05)  # doctest: +SKIP
    {'de': 0.41, 'ja': 0.55}
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import rankdata

from embedlab.encode import Encoder
from embedlab.errors import InputError
from embedlab.evaluate.data import PairSet, load_pairs
from embedlab.evaluate.detection import agreement
from embedlab.evaluate.evaluator import Evaluator
from embedlab.evaluate.results import Scores
from embedlab.evaluate.stats import statistic_ci
from embedlab.evaluate.sts import MIN_PAIRS, pair_cosines

REFERENCE = "en"


@dataclass(frozen=True)
class MultilingualSet:
    """Scored pairs per language, row ``i`` being the same pair in every language; ``reference`` is the source."""

    pairs: dict[str, PairSet]
    reference: str = REFERENCE

    @property
    def languages(self) -> list[str]:
        """The languages other than the reference, sorted."""
        return sorted(language for language in self.pairs if language != self.reference)

    def cross(self, language: str) -> PairSet:
        """The reference's first sentences against ``language``'s second sentences, with the gold scores."""
        source = self.pairs[self.reference]
        return PairSet(source.texts1, self.pairs[language].texts2, source.scores)


def load_multilingual_sts(
    folder: str | Path,
    *,
    split: str = "test",
    languages: Sequence[str] | None = None,
    reference: str = REFERENCE,
    limit: int | None = None,
) -> MultilingualSet:
    """Read ``stsb-<lang>-<split>.csv`` for the reference and each language (default: every file of the split).

    ``limit`` keeps the first rows only (the same pairs in every language), for a quicker card.

    Raises:
        InputError: no such folder or file, or a language whose rows are not the reference's (other scores).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder of stsb-<lang>-<split>.csv files.")
    found = sorted(path.name.split("-")[1] for path in folder.glob(f"stsb-*-{split}.csv"))
    wanted = [reference, *[language for language in (languages or found) if language != reference]]
    missing = [language for language in wanted if not (folder / f"stsb-{language}-{split}.csv").is_file()]
    if missing:
        raise InputError(
            f"{folder} has no {split} file for {', '.join(missing)} (found: {', '.join(found) or 'none'})."
        )
    pairs = {language: load_pairs(folder / f"stsb-{language}-{split}.csv") for language in wanted}
    gold = pairs[reference].scores
    for language, pair_set in pairs.items():
        if len(pair_set.scores) != len(gold) or not np.allclose(pair_set.scores, gold):
            raise InputError(
                f"stsb-{language}-{split}.csv does not hold the same pairs as the {reference} file "
                f"({len(pair_set.scores)} rows vs {len(gold)}, or other scores): rows must align across languages."
            )
    if limit is not None:
        pairs = {lang: PairSet(p.texts1[:limit], p.texts2[:limit], p.scores[:limit]) for lang, p in pairs.items()}
    return MultilingualSet(pairs, reference)


class MultilingualSTSEvaluator(Evaluator):
    """Spearman per language (``de_spearman``), per cross-lingual pair (``en-de_spearman``) and their mean.

    Primary: ``mean_spearman``, the mean over the non-reference languages (with a bootstrap interval over
    rows resampled together). Each language's sentences are encoded once.
    """

    task = "multilingual_sts"
    title = "Multilingual STS (Spearman per language; en-xx: English sentence 1 vs the translated sentence 2)"

    def __init__(
        self, data: MultilingualSet, *, name: str = "multilingual", cross_lingual: bool = True, resamples: int = 1000
    ) -> None:
        super().__init__(name, "mean_spearman")
        self.data = data
        self.cross_lingual = cross_lingual
        self.resamples = resamples

    def measure(self, encoder: Encoder) -> Scores:
        """Per-language and cross-lingual Spearman with intervals, and their mean."""
        data = self.data
        vectors = {language: (encoder.encode(pairs.texts1), encoder.encode(pairs.texts2))
                   for language, pairs in data.pairs.items()}  # fmt: skip
        gold = data.pairs[data.reference].scores
        cosines = {language: pair_cosines(*vectors[language]) for language in data.pairs}
        if self.cross_lingual:
            reference = vectors[data.reference][0]
            cosines |= {
                f"{data.reference}-{lang}": pair_cosines(reference, vectors[lang][1]) for lang in data.languages
            }
        ci = {f"{key}_spearman": statistic_ci(spearman, values, gold, n_resamples=self.resamples)
              for key, values in cosines.items()}  # fmt: skip
        others = [cosines[language] for language in data.languages]
        if others:
            ci["mean_spearman"] = statistic_ci(_mean_spearman, gold, *others, n_resamples=self.resamples)
        return Scores(ci)

    def summary(self) -> dict[str, Any]:
        """Languages and pairs per language."""
        return {
            "languages": [self.data.reference, *self.data.languages],
            "pairs": len(self.data.pairs[REFERENCE].scores),
        }


def spearman(cosines: np.ndarray, gold: np.ndarray) -> float:
    """Spearman's rho as the Pearson correlation of average ranks (scipy's ``spearmanr`` value, with less overhead)."""
    return float(np.corrcoef(rankdata(cosines), rankdata(gold))[0, 1])


def _mean_spearman(gold: np.ndarray, *cosines: np.ndarray) -> float:
    return float(np.mean([spearman(values, gold) for values in cosines]))


def lagging_languages(scores: Scores, *, margin: float = 0.05, reference: str = REFERENCE) -> dict[str, float]:
    """``{language: gap}`` for the languages whose Spearman is more than ``margin`` below the reference's.

    Example:
        >>> from embedlab.evaluate.stats import Estimate
        >>> lagging_languages(Scores({"en_spearman": Estimate(0.82, 0.8, 0.84), "de_spearman": Estimate(0.5, 0.4, 0.6),
        ...                           "fr_spearman": Estimate(0.8, 0.7, 0.9)}))
        {'de': 0.32}
    """
    values = scores.mean
    if f"{reference}_spearman" not in values:
        return {}
    best = values[f"{reference}_spearman"]
    skipped = {f"{reference}_spearman", "mean_spearman"}
    gaps = {key.removesuffix("_spearman"): round(best - value, 4) for key, value in values.items()
            if key.endswith("_spearman") and "-" not in key and key not in skipped}  # fmt: skip
    return {language: gap for language, gap in sorted(gaps.items()) if gap > margin}


def script_variants(text: str) -> dict[str, str]:
    r"""The same text in NFC, NFD, full-width and half-width forms (what should all give one vector).

    Example:
        >>> script_variants("Café ガ1")["fullwidth"], script_variants("Café ガ1")["halfwidth"]
        ('Ｃａｆé\u3000ガ１', 'Café ｶﾞ1')
    """
    return {
        "nfc": unicodedata.normalize("NFC", text),
        "nfd": unicodedata.normalize("NFD", text),
        "fullwidth": "".join(_FULLWIDTH.get(char, char) for char in unicodedata.normalize("NFC", text)),
        "halfwidth": unicodedata.normalize(
            "NFC", "".join(_halfwidth().get(c, c) for c in unicodedata.normalize("NFD", text))
        ),
    }


# ASCII printable characters and the space -> their full-width forms (U+FF01..U+FF5E, U+3000).
_FULLWIDTH = {chr(code): chr(code + 0xFEE0) for code in range(0x21, 0x7F)} | {" ": "\u3000"}


@cache
def _halfwidth() -> dict[str, str]:
    """Full-width katakana and marks -> their half-width forms (U+FF61..U+FF9F), read from Unicode's own mapping."""
    table: dict[str, str] = {}
    for code in range(0xFF61, 0xFFA0):
        wide = unicodedata.normalize("NFKC", chr(code))
        if len(wide) == 1:
            table.setdefault(wide, chr(code))
    table["\u3099"], table["\u309a"] = "\uff9e", "\uff9f"  # combining (dakuten, handakuten) -> half-width marks
    return table


@dataclass(frozen=True)
class NormalizationCheck:
    """For each variant, how many of ``texts`` got a vector different from the NFC form's (cosine below ``1 - tol``)."""

    texts: int
    changed: dict[str, int]  # variant -> texts whose vector differs
    differs: dict[str, int]  # variant -> texts whose variant string differs from the NFC form (what was tested)
    lowest_cosine: dict[str, float]

    @property
    def ok(self) -> bool:
        """Every variant gave the NFC form's vector."""
        return not any(self.changed.values())


def normalization_check(encoder: Encoder, texts: Sequence[str], *, tolerance: float = 1e-4) -> NormalizationCheck:
    """Encode ``texts`` in each of :func:`script_variants` and compare each vector with the NFC form's."""
    variants = [script_variants(text) for text in texts]
    base = encoder.encode([variant["nfc"] for variant in variants])
    changed, differs, lowest = {}, {}, {}
    for kind in ("nfd", "fullwidth", "halfwidth"):
        cosines = pair_cosines(base, encoder.encode([variant[kind] for variant in variants]))
        changed[kind] = int((cosines < 1 - tolerance).sum())
        differs[kind] = sum(variant[kind] != variant["nfc"] for variant in variants)
        lowest[kind] = round(float(cosines.min()), 6)
    return NormalizationCheck(len(texts), changed, differs, lowest)


@dataclass(frozen=True)
class LanguageCard:
    """One model's multilingual card: scores per language and pair, the languages left behind, normalisation."""

    model: str
    fingerprint: str
    scores: Scores
    lagging: dict[str, float]
    margin: float
    normalization: NormalizationCheck
    pairs: dict[str, int] = field(default_factory=dict)  # language -> scored pairs (a pair file's groups)
    detection: dict[str, float] = field(default_factory=dict)  # language -> share of its texts detected as it
    detected: int = 0  # rows whose language was detected, not given (a pair file)
    min_pairs: int = MIN_PAIRS

    def warnings(self) -> list[str]:
        """What a reader must not miss: languages behind English by more than the margin, vectors changed by form."""
        found = []
        if self.lagging:
            named = ", ".join(f"{language} (-{gap:.3f})" for language, gap in self.lagging.items())
            found.append(f"{self.model} falls behind {REFERENCE} by more than {self.margin} Spearman in: {named}")
        few = [f"{language} ({count})" for language, count in self.pairs.items() if count < self.min_pairs]
        if few:
            found.append(f"not scored, fewer than {self.min_pairs} pairs: {', '.join(few)}")
        for kind, count in self.normalization.changed.items():
            if count:
                found.append(f"{self.model}: {count} of {self.normalization.texts} texts change vector in {kind} form")
        return found

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        check = self.normalization
        return {"model": self.model, "fingerprint": self.fingerprint, "scores": self.scores.to_dict(),
                "lagging": self.lagging, "margin": self.margin, "warnings": self.warnings(), "pairs": self.pairs,
                "detection": self.detection, "detected": self.detected, "min_pairs": self.min_pairs,
                "normalization": {"texts": check.texts, "changed": check.changed, "differs": check.differs,
                                  "lowest_cosine": check.lowest_cosine}}  # fmt: skip


def language_card(
    encoder: Encoder,
    data: MultilingualSet,
    *,
    margin: float = 0.05,
    sample: int = 100,
    cross_lingual: bool = True,
    resamples: int = 1000,
    detection: dict[str, float] | None = None,
) -> LanguageCard:
    """Score ``encoder`` on ``data``; check script normalisation on each language's first ``sample`` sentences.

    ``detection`` (:func:`detection_agreement`, computed once for several models) goes on the card as it is.
    """
    scores = MultilingualSTSEvaluator(data, cross_lingual=cross_lingual, resamples=resamples).measure(encoder)
    texts = [text for pairs in data.pairs.values() for text in pairs.texts1[:sample]]
    return LanguageCard(encoder.info.name, encoder.info.fingerprint, scores,
                        lagging_languages(scores, margin=margin, reference=data.reference), margin,
                        normalization_check(encoder, texts), detection=detection or {})  # fmt: skip


def detection_agreement(data: MultilingualSet, *, candidates: Sequence[str] | None = None) -> dict[str, float]:
    """``{language: share of its sentences (both sides) detected as that language}``: a sanity figure.

    ``candidates``: detect only among these languages (e.g. the set's own), else among all the detector knows.
    """
    return {language: agreement([*pairs.texts1, *pairs.texts2], language, candidates=candidates)
            for language, pairs in data.pairs.items()}  # fmt: skip
