"""``embedlab models card``: a multilingual report card (STS per language, cross-lingual, script normalisation).

The STS-B translations (``--sts-multi``), or a file of your own scored pairs (``--pair-file``) whose language
is given in a column or detected per text.

Example:
    $ embedlab models card -m default -m all-mpnet-base-v2 --sts-multi ../shared/data/stsb_multi_mt --out card.json
    $ embedlab models card -m default --pair-file my-pairs.jsonl --language-column lang
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from embedlab.atomic import write_json
from embedlab.cli.common import console, print_json, warn
from embedlab.errors import InputError

if TYPE_CHECKING:
    from embedlab.evaluate.multilingual import LanguageCard


def card(
    sts_multi: Annotated[
        Path | None, typer.Option(help="A folder of stsb-<lang>-<split>.csv files (stsb_multi_mt).")
    ] = None,
    pair_file: Annotated[
        Path | None, typer.Option(help="Your scored pairs (.jsonl/.csv/.parquet: text1, text2, score), per language.")
    ] = None,
    language_column: Annotated[
        str | None, typer.Option(help="The pair file's language field; rows without one are detected per text.")
    ] = None,
    detect_among: Annotated[
        list[str] | None,
        typer.Option(help="Detect only among these languages (ISO 639 codes; repeat). Default: any of 140."),
    ] = None,
    min_pairs: Annotated[int, typer.Option(min=3, help="Score a pair file's languages with at least N pairs.")] = 10,
    model: Annotated[list[str] | None, typer.Option("--model", "-m", help="A model (repeat for more).")] = None,
    split: Annotated[str, typer.Option(help="Which split to score.")] = "test",
    language: Annotated[list[str] | None, typer.Option("--language", "-l", help="Only these (default: all).")] = None,
    pairs: Annotated[int | None, typer.Option(min=10, help="Only the first N pairs of each language.")] = None,
    margin: Annotated[float, typer.Option(help="Warn about languages this far below English (Spearman).")] = 0.05,
    sample: Annotated[int, typer.Option(help="Sentences per language for the normalisation check.")] = 100,
    resamples: Annotated[int, typer.Option(min=100, help="Bootstrap resamples of each interval.")] = 1000,
    cache: Annotated[bool, typer.Option(help="Use the persistent embedding cache.")] = True,
    out: Annotated[Path | None, typer.Option(help="Write the cards as JSON here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Score models per language on translated STS pairs or your own pairs; warn about languages left behind."""
    from embedlab.encode import Encoder
    from embedlab.evaluate.language_pairs import load_language_pairs, pair_file_card
    from embedlab.evaluate.multilingual import detection_agreement, language_card, load_multilingual_sts

    if (sts_multi is None) == (pair_file is None):
        raise InputError("Give one of --sts-multi (the STS-B translations) or --pair-file (your scored pairs).")
    specs = [None if spec == "default" else spec for spec in (model or ["default"])]
    encoders = [Encoder(spec, cache=cache, show_progress=False) for spec in specs]
    if pair_file is not None:
        own = load_language_pairs(pair_file, language_field=language_column, candidates=detect_among)
        cards = [pair_file_card(encoder, own, margin=margin, sample=sample, min_pairs=min_pairs, resamples=resamples)
                 for encoder in encoders]  # fmt: skip
        _report(cards, out, as_json)
        if not as_json:
            _pair_file_table(pair_file, cards)
        return
    assert sts_multi is not None
    data = load_multilingual_sts(sts_multi, split=split, languages=language, limit=pairs)
    agreement = detection_agreement(data, candidates=detect_among)
    cards = [language_card(encoder, data, margin=margin, sample=sample, resamples=resamples, detection=agreement)
             for encoder in encoders]  # fmt: skip
    _report(cards, out, as_json)
    if as_json:
        return
    table = Table(title=f"Spearman on {sts_multi.name} ({split}, {len(data.pairs[data.reference].scores)} pairs)")
    table.add_column("language")
    for one in cards:
        table.add_column(f"{one.model}", justify="right")
        table.add_column(f"{data.reference}-xx", justify="right")
    table.add_column("detected as it", justify="right")
    for lang in [data.reference, *data.languages]:
        cells = []
        for one in cards:
            values = one.scores.ci
            cross = values.get(f"{data.reference}-{lang}_spearman")
            flag = " ▼" if lang in one.lagging else ""
            cells += [f"{values[f'{lang}_spearman']}{flag}", f"{cross.value:.4f}" if cross else ""]
        table.add_row(lang, *cells, f"{agreement[lang]:.1%}")
    table.add_row("mean (not en)", *[cell for one in cards for cell in (str(one.scores.ci["mean_spearman"]), "")], "")
    console.print(table)
    _footer(cards)


def _report(cards: list[LanguageCard], out: Path | None, as_json: bool) -> None:
    """Write the cards to ``out`` and print them as JSON when asked."""
    if out is not None:
        write_json(out, [one.to_dict() for one in cards])
    if as_json:
        print_json([one.to_dict() for one in cards])


def _pair_file_table(path: Path, cards: list[LanguageCard]) -> None:
    """One row per language of the pair file (``en-de``: a cross-lingual pair), one column per model."""
    first = cards[0]
    total = sum(first.pairs.values())
    table = Table(title=f"Spearman on {path.name} per language ({total} pairs, language detected for {first.detected})")
    table.add_column("language")
    table.add_column("pairs", justify="right")
    for one in cards:
        table.add_column(one.model, justify="right")
    for lang, count in first.pairs.items():
        cells = []
        for one in cards:
            value = one.scores.ci.get(f"{lang}_spearman")
            cells.append("too few pairs" if value is None else f"{value}{' ▼' if lang in one.lagging else ''}")
        table.add_row(f"{lang} (cross-lingual)" if "-" in lang else lang, str(count), *cells)
    console.print(table)
    _footer(cards)


def _footer(cards: list[LanguageCard]) -> None:
    """The script-form check and the warnings of each card."""
    for one in cards:
        check = one.normalization
        forms = ", ".join(f"{kind} {check.changed[kind]}/{check.differs[kind]}" for kind in check.changed)
        console.print(f"{one.model}: vectors changed by script form (changed/texts whose form differs): {forms}")
        for line in one.warnings():
            warn(line)
