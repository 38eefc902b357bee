"""The language of each text, detected offline: for per-language cards of pairs whose language is not given.

Detection is `py3langid`_'s: a naive Bayes model over byte n-grams (langid.py's method) for 140 languages
(ISO 639 codes: ``en``, ``de``, ``zh``; also ``wuu``, ``mk``...), shipped inside its 4.6 MB wheel, so nothing
downloads at run time; it needs only numpy and is deterministic (the same text always gets the same
language). ``langdetect`` draws at random unless seeded, and ``lingua-language-detector``'s wheel is about
96 MB. Like any detector it is least sure of short texts and close languages: on the STS-B test
translations it takes 10% of the Chinese sentences for Wu Chinese (``wuu``) and 7% of the Russian ones for
Macedonian or Bulgarian. ``candidates`` restricts the answer to the languages a data set may hold (then
99.4% to 100% agree).

A scored pair whose two texts are detected as different languages is cross-lingual: its language is
``"en-de"`` (the first text's, then the second's).

.. _py3langid: https://github.com/adbar/py3langid

Example:
    >>> detect_languages(["The weather is lovely today.", "Das Wetter ist heute schön.", "今天天气很好。"])
    ['en', 'de', 'zh']
    >>> pair_languages(["A man plays a guitar."], ["Ein Mann spielt Gitarre."])
    ['en-de']
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from embedlab.errors import InputError


def detect_languages(texts: Sequence[str], *, candidates: Sequence[str] | None = None) -> list[str]:
    """The ISO 639-1 code of each text's most likely language (among ``candidates`` when given).

    Raises:
        InputError: a candidate the detector does not know.
    """
    identifier = _identifier(tuple(sorted(candidates)) if candidates else None)
    return [str(identifier.classify(text)[0]) for text in texts]


def pair_languages(
    texts1: Sequence[str],
    texts2: Sequence[str],
    given: Sequence[str | None] | None = None,
    *,
    candidates: Sequence[str] | None = None,
) -> list[str]:
    """Each pair's language: the ``given`` one where there is one, else both texts' detected (``"de"``, ``"en-de"``).

    Example:
        >>> pair_languages(["Guten Morgen, wie geht es dir?"] * 2, ["Good morning, how are you?"] * 2, [None, "xx"])
        ['de-en', 'xx']
    """
    labels: list[str | None] = list(given) if given is not None else [None] * len(texts1)
    unknown = [row for row, label in enumerate(labels) if not label]
    first = detect_languages([texts1[row] for row in unknown], candidates=candidates)
    second = detect_languages([texts2[row] for row in unknown], candidates=candidates)
    for row, left, right in zip(unknown, first, second, strict=True):
        labels[row] = left if left == right else f"{left}-{right}"
    return [str(label) for label in labels]


def agreement(texts: Sequence[str], language: str, *, candidates: Sequence[str] | None = None) -> float:
    """The share of ``texts`` detected as ``language`` (a sanity figure for texts whose language is given).

    Example:
        >>> agreement(["Das ist gut.", "Wie spät ist es?", "OK"], "de")  # "OK" is too short to tell
        0.6667
    """
    if not texts:
        return 0.0
    found = detect_languages(texts, candidates=candidates)
    return round(sum(code == language for code in found) / len(found), 4)


@cache
def _identifier(candidates: tuple[str, ...] | None) -> Any:
    """py3langid's identifier (its model loaded once), restricted to ``candidates`` when given."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE)
    if candidates:
        unknown = sorted(set(candidates) - set(identifier.labels))
        if unknown:
            raise InputError(
                f"The language detector does not know {', '.join(unknown)} (it knows ISO 639-1 codes such as "
                f"{', '.join(sorted(identifier.labels)[:8])}...)."
            )
        identifier.set_languages(list(candidates))
    return identifier
