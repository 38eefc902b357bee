"""``embedlab bias audit`` and ``bias debias``: the command line of :mod:`embedlab.bias`.

Example:
    $ embedlab bias audit --sets sent-bias/tests --pairs pairs.json --words professions.json --out bias-output
    $ embedlab bias debias --pairs pairs.json -o models/debiased --words professions.json
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from embedlab.cli.common import ModelOption, console

if TYPE_CHECKING:
    from embedlab.bias import BiasAudit

bias_app = typer.Typer(help="Measure bias in a model and remove a bias direction.", no_args_is_help=True)

SetsOption = Annotated[
    Path | None, typer.Option(help="Folder of association tests (sent-bias JSON: targ1, targ2, attr1, attr2).")
]
TestsOption = Annotated[str | None, typer.Option(help="Comma-separated test names in --sets (default: all).")]
PAIRS_HELP = "Definitional pairs, a JSON list of [word, word]."
WordsOption = Annotated[
    Path | None, typer.Option(help="Words to project: JSON list (of words or [word, ...]) or one per line.")
]
QualityBenchmark = Annotated[Path | None, typer.Option(help="A BEIR folder: NDCG@10 (test split) beside the bias.")]
QualitySts = Annotated[Path | None, typer.Option(help="Scored pairs: STS Spearman beside the bias.")]
ExposureDocs = Annotated[
    Path | None, typer.Option(help="Documents with a group for retrieval exposure: records with id, text, group.")
]
ExposureQueries = Annotated[Path | None, typer.Option(help="Queries for retrieval exposure: .txt, a line each.")]


def register(app: typer.Typer) -> None:
    """Add ``bias`` to the main app."""
    app.add_typer(bias_app, name="bias")


@bias_app.command("audit")
def bias_audit(
    model: ModelOption = None,
    sets: SetsOption = None,
    tests: TestsOption = None,
    pairs: Annotated[Path | None, typer.Option(help=PAIRS_HELP)] = None,
    words: WordsOption = None,
    benchmark: QualityBenchmark = None,
    sts: QualitySts = None,
    exposure_docs: ExposureDocs = None,
    exposure_queries: ExposureQueries = None,
    out: Annotated[Path, typer.Option(help="Folder for audit.json and audit.html.")] = Path("bias-output"),
) -> None:
    """Association tests, bias direction and projections (and quality): audit.json and audit.html."""
    from embedlab.bias import audit_model, load_audit_inputs, write_audit
    from embedlab.io import writable_folder
    from embedlab.models import load_model

    writable_folder(out)
    inputs = load_audit_inputs(sets=sets, tests=_names(tests), pairs=pairs, words=words, benchmark=benchmark,
                               sts=sts, exposure_docs=exposure_docs, exposure_queries=exposure_queries)  # fmt: skip
    audit = audit_model(load_model(model), **inputs)
    _print_audit(audit, None)
    paths = write_audit(out, audit)
    console.print(f"wrote {paths['json']} and {paths['html']}")


@bias_app.command("debias")
def bias_debias(
    pairs: Annotated[Path, typer.Option(help=PAIRS_HELP)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the debiased model.")],
    model: ModelOption = None,
    components: Annotated[int, typer.Option(help="Dimensions of the bias subspace to remove.")] = 1,
    sets: SetsOption = None,
    tests: TestsOption = None,
    words: WordsOption = None,
    benchmark: QualityBenchmark = None,
    sts: QualitySts = None,
    exposure_docs: ExposureDocs = None,
    exposure_queries: ExposureQueries = None,
    report: Annotated[Path, typer.Option(help="Folder for the before/after audit.")] = Path("bias-output"),
) -> None:
    """Remove the bias subspace from a model (saved as a plain sentence-transformers model) and audit both."""
    from embedlab.bias import audit_model, bias_direction, debias_model, load_audit_inputs, write_audit
    from embedlab.encode import Encoder
    from embedlab.io import writable_folder
    from embedlab.models import load_model

    writable_folder(report)
    inputs = load_audit_inputs(sets=sets, tests=_names(tests), pairs=pairs, words=words, benchmark=benchmark,
                               sts=sts, exposure_docs=exposure_docs, exposure_queries=exposure_queries)  # fmt: skip
    original = load_model(model)
    subspace = bias_direction(Encoder(original), inputs["pairs"] or [], components=components)
    before = audit_model(original, subspace=subspace, **inputs)
    debiased = debias_model(original, subspace, output)
    after = audit_model(debiased, subspace=subspace, **inputs)
    _print_audit(before, after)
    paths = write_audit(report, before, after)
    console.print(f"saved the debiased model to {output} [{debiased.info.short_fingerprint}]; "
                  f"wrote {paths['json']} and {paths['html']}")  # fmt: skip


def _names(tests: str | None) -> list[str] | None:
    """``--tests a,b`` as names."""
    return [name.strip() for name in tests.split(",")] if tests else None


def _print_audit(before: BiasAudit, after: BiasAudit | None) -> None:
    audits = [before] + ([after] if after is not None else [])
    table = Table(title="bias audit" + (" (before -> after)" if len(audits) > 1 else ""))
    table.add_column("measure")
    table.add_column("value", justify="right")
    for index, result in enumerate(before.association):
        values = [f"d={a.association[index].effect_size:+.3f} p={a.association[index].p_value:.4f}" for a in audits]
        table.add_row(f"{result.test}: {' vs '.join(result.targets)} x {' vs '.join(result.attributes)}",
                      " -> ".join(values))  # fmt: skip
    if before.projections:
        table.add_row(
            "mean |projection| on bias direction", " -> ".join(f"{a.mean_abs_projection:.4f}" for a in audits)
        )
    for name in before.quality:
        table.add_row(name, " -> ".join(str(a.quality[name]) for a in audits))
    console.print(table)
