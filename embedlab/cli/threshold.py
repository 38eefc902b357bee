"""``embedlab threshold``: calibrate a similarity threshold on labelled pairs or a benchmark, and show one.

Example:
    $ embedlab threshold calibrate --pairs pairs.csv --objective "precision>=0.9" -o threshold.json
    $ embedlab threshold calibrate --pairs sts-dev.csv --positive-at 4 --objective f1
    $ embedlab threshold calibrate --benchmark my-bench --index my-index --objective "recall>=0.8"
    $ embedlab index search my-index "reset my password" --min-score calibrated
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from embedlab.cli.common import JsonOption, ModelOption, SeedOption, console, print_json
from embedlab.errors import InputError

if TYPE_CHECKING:
    from embedlab.operate.thresholds import Threshold

threshold_app = typer.Typer(help="Calibrated similarity thresholds: fit, report, attach to an index.",
                            no_args_is_help=True)  # fmt: skip


def register(app: typer.Typer) -> None:
    """Add the ``threshold`` group to the main app."""
    app.add_typer(threshold_app, name="threshold")


@threshold_app.command("calibrate")
def calibrate(
    objective: Annotated[str, typer.Option(help="f1, fbeta:B, precision>=P or recall>=R.")],
    pairs: Annotated[
        Path | None, typer.Option(help="Labelled pairs (.csv/.tsv/.jsonl/.parquet): text1, text2, label.")
    ] = None,
    benchmark: Annotated[
        Path | None, typer.Option(help="A BEIR folder: each query's top-k hits, relevant (qrels) or not.")
    ] = None,
    index: Annotated[
        Path | None,
        typer.Option(help="Score with this index (its model); attach the result as INDEX/threshold.json."),
    ] = None,
    model: ModelOption = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where to save the threshold (default threshold.json).")
    ] = None,
    plot: Annotated[Path | None, typer.Option(help="PR-curve PNG (default: the output's name with .png).")] = None,
    positive_at: Annotated[
        float | None, typer.Option(help="A pair is positive when its label is at least this (e.g. 4 for STS-B).")
    ] = None,
    text1_field: Annotated[str, typer.Option(help="Field of the first text.")] = "text1",
    text2_field: Annotated[str, typer.Option(help="Field of the second text.")] = "text2",
    label_field: Annotated[str, typer.Option(help="Label field (0/1, or a score: see --positive-at).")] = "label",
    split: Annotated[str, typer.Option(help="Benchmark split whose queries are used.")] = "test",
    k: Annotated[int, typer.Option("-k", help="Hits per benchmark query.")] = 10,
    held_out: Annotated[float, typer.Option(help="Fraction of pairs (queries) held out to report on.")] = 0.5,
    seed: SeedOption = 0,
    as_json: JsonOption = False,
) -> None:
    """Fit a threshold for OBJECTIVE on one split of labelled pairs and report it on the other, with 95% CIs."""
    from embedlab.operate import thresholds

    if (pairs is None) == (benchmark is None):
        raise InputError("Give exactly one of --pairs FILE or --benchmark DIR.")
    opened = _open_index(index, model) if index is not None else None
    if pairs is not None:
        texts1, texts2, labels = _labelled(pairs, text1_field, text2_field, label_field, positive_at)
        scorer: Any = opened.encoder if opened is not None else _encoder(model)
        result = thresholds.calibrate_from_pairs(
            scorer, texts1, texts2, labels, objective, held_out=held_out, seed=seed, source=f"pairs {pairs}"
        )
    else:
        from embedlab.evaluate.data import load_beir
        from embedlab.evaluate.retrieval import ExactSearch

        assert benchmark is not None
        bench = load_beir(benchmark, split=split)
        search: Any = opened if opened is not None else ExactSearch(_encoder(model), bench.corpus)
        space = opened if opened is not None else search.encoder
        result = thresholds.calibrate_from_benchmark(
            search, bench, objective, space=space, k=k, held_out=held_out, seed=seed
        )
    saved = [thresholds.attach(result, opened)] if opened is not None else []
    if output is not None or opened is None:
        saved.append(result.save(output or Path("threshold.json")))
    picture = thresholds.plot_curve(result, plot or saved[-1].with_suffix(".png"))
    if as_json:
        print_json({**result.to_dict(), "saved": [str(path) for path in saved], "plot": str(picture)})
        return
    _show(result)
    console.print(f"saved {', '.join(map(str, saved))}; precision-recall curve {picture}")


@threshold_app.command("show")
def show(
    path: Annotated[Path, typer.Argument(help="A threshold file, or an index folder (its threshold.json).")],
    as_json: JsonOption = False,
) -> None:
    """Show a calibrated threshold: its value, objective, held-out figures and what it was measured with."""
    from embedlab.operate.thresholds import FILENAME, Threshold

    threshold = Threshold.load(path / FILENAME if path.is_dir() else path)
    if as_json:
        print_json(threshold.to_dict())
        return
    _show(threshold)


def _show(threshold: Threshold) -> None:
    console.print(threshold.describe())
    console.print(f"measured with {threshold.space} on {threshold.source or 'pairs'}; created {threshold.created}")


def _open_index(path: Path, model: str | None) -> Any:
    from embedlab.index import Index

    return Index.open(path, model)


def _encoder(model: str | None) -> Any:
    from embedlab.encode import Encoder

    return Encoder(model)


def _labelled(
    path: Path, text1: str, text2: str, label: str, positive_at: float | None
) -> tuple[list[str], list[str], list[int]]:
    """The pairs of ``path`` with 0/1 labels (``label >= positive_at`` when given, else labels must be 0 or 1)."""
    from embedlab.evaluate.data import load_pairs

    found = load_pairs(path, text1_field=text1, text2_field=text2, score_field=label)
    if positive_at is not None:
        return found.texts1, found.texts2, [int(value >= positive_at) for value in found.scores]
    odd = sorted({value for value in found.scores if value not in (0, 1)})
    if odd:
        raise InputError(f"{path}: labels must be 0 or 1 (or give --positive-at); found {odd[:5]}.")
    return found.texts1, found.texts2, [int(value) for value in found.scores]
