"""Sentence splitting for adaptation data, by regular expression (no model, no nltk data downloads).

A sentence ends at ``.``, ``!``, ``?`` or ``…`` (with any closing quotes and brackets) followed by
whitespace and a capital letter, a digit or an opening quote or bracket, and at blank lines. A period does
not end a sentence after a common abbreviation (``Dr.``, ``Fig.``, ``et al.``, ``vs.``...), an initial
(``J. Smith``) or a dotted acronym (``e.g.``, ``i.e.``, ``U.S.``); a decimal point (``3.5``) never does,
since no space follows it. Good enough for scientific and technical prose, not a linguistic tool: a
sentence that starts with a lower-case word (``mRNA levels rose.``) stays joined to the one before.

Example:
    >>> split_sentences("Dr. Smith measured 3.5 kg. It was e.g. Tuesday. Done!")
    ['Dr. Smith measured 3.5 kg.', 'It was e.g. Tuesday.', 'Done!']
"""

from __future__ import annotations

import re

_PARAGRAPH = re.compile(r"\n[ \t]*\n\s*")
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s+[\"'“‘(\[]*[A-Z0-9])")
_ACRONYM = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]")
#: Words that end with a period without ending the sentence (compared case-insensitively, period removed).
ABBREVIATIONS = frozenset(
    {"al", "approx", "ca", "cf", "ch", "co", "dept", "dr", "eq", "eqs", "esp", "etc", "fig", "figs", "inc"}
    | {"jr", "ltd", "mr", "mrs", "ms", "mt", "no", "nos", "pp", "prof", "ref", "refs", "resp", "sec", "sect"}
    | {"sr", "st", "suppl", "tab", "vol", "vols", "vs"}
)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` character offsets of each sentence in ``text``, surrounding whitespace excluded.

    Example:
        >>> sentence_spans("One two. Three four?")
        [(0, 8), (9, 20)]
    """
    spans: list[tuple[int, int]] = []
    bounds = [0, *(i for m in _PARAGRAPH.finditer(text) for i in (m.start(), m.end())), len(text)]
    for paragraph_start, paragraph_end in zip(bounds[::2], bounds[1::2], strict=True):
        start = paragraph_start
        for match in _SENTENCE_END.finditer(text, paragraph_start, paragraph_end):
            words = text[start : match.start()].split()
            token = words[-1].lstrip("\"'“‘([") if words else ""
            if match.group().startswith(".") and _no_sentence_end(token):
                continue
            spans.append((start, match.end()))
            start = match.end()
        spans.append((start, paragraph_end))
    stripped = []
    for start, end in spans:
        segment = text[start:end]
        if segment.strip():
            lead = len(segment) - len(segment.lstrip())
            stripped.append((start + lead, start + len(segment.rstrip())))
    return stripped


def split_sentences(text: str, *, min_words: int = 1, max_words: int | None = None) -> list[str]:
    """The sentences of ``text`` (see the module docstring), keeping those of ``min_words`` to ``max_words`` words.

    Words are counted by whitespace. Sentences outside the range are dropped, not cut or merged.

    Example:
        >>> split_sentences("See Fig. 2 (n = 3.5). Why? Because et al. said so!", min_words=2)
        ['See Fig. 2 (n = 3.5).', 'Because et al. said so!']
    """
    sentences = []
    for start, end in sentence_spans(text):
        sentence = text[start:end]
        count = len(sentence.split())
        if count >= min_words and (max_words is None or count <= max_words):
            sentences.append(sentence)
    return sentences


def _no_sentence_end(token: str) -> bool:
    """Whether a period after ``token`` is an abbreviation's, an initial's or an acronym's."""
    return (
        token.casefold() in ABBREVIATIONS
        or _ACRONYM.fullmatch(token) is not None
        or (len(token) == 1 and token.isalpha())
    )
