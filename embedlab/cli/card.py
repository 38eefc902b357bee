"""``embedlab models card``: a multilingual report card (STS per language, cross-lingual, script normalisation).

Example:
    $ embedlab models card -m default -m all-mpnet-base-v2 --sts-multi ../shared/data/stsb_multi_mt --out card.json
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from embedlab.atomic import write_json
from embedlab.cli.common import console, print_json, warn


def card(
    sts_multi: Annotated[Path, typer.Option(help="A folder of stsb-<lang>-<split>.csv files (stsb_multi_mt).")],
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
    """Score models per language on translated STS pairs; warn about languages left behind."""
    from embedlab.encode import Encoder
    from embedlab.evaluate.multilingual import language_card, load_multilingual_sts

    data = load_multilingual_sts(sts_multi, split=split, languages=language, limit=pairs)
    specs = [None if spec == "default" else spec for spec in (model or ["default"])]
    cards = [language_card(Encoder(spec, cache=cache, show_progress=False), data, margin=margin, sample=sample,
                           resamples=resamples)
             for spec in specs]  # fmt: skip
    if out is not None:
        write_json(out, [one.to_dict() for one in cards])
    if as_json:
        print_json([one.to_dict() for one in cards])
        return
    table = Table(title=f"Spearman on {sts_multi.name} ({split}, {len(data.pairs[data.reference].scores)} pairs)")
    table.add_column("language")
    for one in cards:
        table.add_column(f"{one.model}", justify="right")
        table.add_column(f"{data.reference}-xx", justify="right")
    for lang in [data.reference, *data.languages]:
        cells = []
        for one in cards:
            values = one.scores.ci
            cross = values.get(f"{data.reference}-{lang}_spearman")
            flag = " ▼" if lang in one.lagging else ""
            cells += [f"{values[f'{lang}_spearman']}{flag}", f"{cross.value:.4f}" if cross else ""]
        table.add_row(lang, *cells)
    table.add_row("mean (not en)", *[cell for one in cards for cell in (str(one.scores.ci["mean_spearman"]), "")])
    console.print(table)
    for one in cards:
        check = one.normalization
        forms = ", ".join(f"{kind} {check.changed[kind]}/{check.differs[kind]}" for kind in check.changed)
        console.print(f"{one.model}: vectors changed by script form (changed/texts whose form differs): {forms}")
        for line in one.warnings():
            warn(line)
