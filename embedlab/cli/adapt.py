"""``embedlab adapt ...`` and ``embedlab negatives mine``: the command line of :mod:`embedlab.adapt`.

Every adapted model goes to ``--out DIR`` or, by default, into the model registry under ``--name``
(``embedlab models list``); ``load_model(name)`` and every ``--model`` option then find it by name.
Training data comes from :func:`~embedlab.adapt.data.load_training`, as in ``adapt auto``.

Example:
    $ embedlab adapt finetune --benchmark scifact_beir --negatives embedding --name scifact-ft
    $ embedlab adapt auto --benchmark scifact_beir --name scifact-auto
    $ embedlab negatives mine --benchmark scifact_beir --strategy bm25 -o triplets.jsonl
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from embedlab.cli.common import SeedOption, console, print_json, results_table
from embedlab.errors import InputError

if TYPE_CHECKING:
    from embedlab.adapt.finetune import AdaptResult

adapt_app = typer.Typer(help="Adapt a model to your domain; every result is registered with its lineage.",
                        no_args_is_help=True)  # fmt: skip
negatives_app = typer.Typer(help="Mine negatives for training pairs.", no_args_is_help=True)

BaseOption = Annotated[
    str | None,
    typer.Option("--base", help="Model to start from: directory, registered name or hub id (default: bundled)."),
]
OutOption = Annotated[
    Path | None, typer.Option("--out", "-o", help="Save the model to this folder instead of the registry.")
]
NameOption = Annotated[str | None, typer.Option(help="Register the model under this name (default: METHOD-TIMESTAMP).")]
PairsOption = Annotated[
    Path | None, typer.Option(help="Training pairs: .jsonl/.csv/.tsv/.parquet with anchor, positive[, negative].")
]
BenchmarkOption = Annotated[Path | None, typer.Option(help="A BEIR folder; its train split is the training data.")]
EpochsOption = Annotated[int, typer.Option(min=1, help="Passes over the training data.")]
DevFraction = Annotated[float, typer.Option(help="Queries held out for dev evaluation (0: none).")]
LLM_MODEL_HELP = (
    "Model name at --llm-base-url; without a URL, a local GGUF model run in-process: a pack "
    "(qwen2.5-coder-0.5b-gguf, `embedlab models install` it) or a .gguf file (needs embedlab[llm])."
)


def register(app: typer.Typer) -> None:
    """Add ``adapt`` and ``negatives`` to the main app."""
    app.add_typer(adapt_app, name="adapt")
    app.add_typer(negatives_app, name="negatives")


def _output(out: Path | None, name: str | None, method: str) -> Path:
    """``--out``, else the registry folder for ``--name`` (or a fresh METHOD-TIMESTAMP name)."""
    from embedlab.registry import ModelRegistry

    if out is not None and name is not None:
        raise InputError("Give --out or --name, not both.")
    if out is not None:
        return out
    return ModelRegistry().path(name or f"{method}-{time.strftime('%Y%m%d-%H%M%S')}")


def _report(result: AdaptResult) -> None:
    lineage = result.lineage
    console.print(f"[green]saved[/] {result.path}  ({lineage.method}, {lineage.seconds:.0f} s)")
    base, best = lineage.metrics.get("dev_base", {}), lineage.metrics.get("dev", {})
    if base and best:
        before, after = base.get("ndcg@10", float("nan")), best.get("ndcg@10", float("nan"))
        console.print(f"dev NDCG@10: base {before:.4f} -> adapted {after:.4f}")


@adapt_app.command("finetune")
def finetune_cmd(
    pairs: PairsOption = None,
    benchmark: BenchmarkOption = None,
    base: BaseOption = None,
    out: OutOption = None,
    name: NameOption = None,
    loss: Annotated[str, typer.Option(help="mnrl, cached_mnrl, triplet, contrastive, cosine or cosent.")] = "mnrl",
    negatives: Annotated[
        str | None, typer.Option(help="random, bm25, embedding or curriculum (default: in-batch only).")
    ] = None,
    n_negatives: Annotated[int, typer.Option(min=1, help="Mined negatives per pair.")] = 1,
    margin: Annotated[
        float | None, typer.Option(help="False-negative guard: skip candidates above MARGIN x positive.")
    ] = 0.95,
    epochs: EpochsOption = 1,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    lr: Annotated[float, typer.Option(help="Peak learning rate.")] = 3e-5,
    warmup_ratio: Annotated[float, typer.Option(help="Fraction of steps warming up.")] = 0.1,
    matryoshka: Annotated[str | None, typer.Option(help="Matryoshka dimensions, e.g. 384,256,128,64.")] = None,
    mini_batch_size: Annotated[int, typer.Option(min=1, help="cached_mnrl: texts per forward pass.")] = 16,
    dev_fraction: DevFraction = 0.1,
    checkpoint_steps: Annotated[int | None, typer.Option(help="Checkpoint (and evaluate) every N steps.")] = None,
    dev_corpus_size: Annotated[
        int | None,
        typer.Option(min=1, help="Score dev against the judged documents plus a sample, N in all (default: all)."),
    ] = None,
    seed: SeedOption = 0,
) -> None:
    """Fine-tune on (query, document) pairs; evaluate on a dev split; keep the best; resume if killed."""
    from embedlab.adapt.data import load_training
    from embedlab.adapt.finetune import FinetuneConfig, finetune

    train, dev = load_training(benchmark, pairs=pairs, dev_fraction=dev_fraction, seed=seed)
    config = FinetuneConfig(
        loss=loss,  # type: ignore[arg-type]
        negatives=negatives,  # type: ignore[arg-type]
        n_negatives=n_negatives,
        margin=margin,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        warmup_ratio=warmup_ratio,
        matryoshka_dims=tuple(int(d) for d in matryoshka.split(",")) if matryoshka else None,
        mini_batch_size=mini_batch_size,
        checkpoint_steps=checkpoint_steps,
        dev_corpus_size=dev_corpus_size,
        seed=seed,
    )
    _report(finetune(base, train, out=_output(out, name, "finetune"), config=config, dev=dev))


@adapt_app.command("tsdae")
def tsdae_cmd(
    corpus: Annotated[
        Path, typer.Option(help="Unlabelled domain text: .txt (a line each) or records with a text field.")
    ],
    text_field: Annotated[str | None, typer.Option(help="Field holding the text in --corpus.")] = None,
    base: BaseOption = None,
    out: OutOption = None,
    name: NameOption = None,
    noise: Annotated[float, typer.Option(help="Fraction of words deleted from each sentence.")] = 0.6,
    epochs: EpochsOption = 1,
    max_sentences: Annotated[int | None, typer.Option(help="Train on at most this many sentences.")] = None,
    seed: SeedOption = 0,
) -> None:
    """TSDAE: adapt to unlabelled domain text with a denoising auto-encoder (tied decoder)."""
    from embedlab.adapt.tsdae import tsdae
    from embedlab.io import read_texts

    texts = read_texts(corpus, text_field=text_field).texts
    options: dict[str, Any] = {"noise": noise, "epochs": epochs, "seed": seed}
    if max_sentences is not None:
        options["max_sentences"] = max_sentences
    _report(tsdae(base, texts, out=_output(out, name, "tsdae"), **options))


@adapt_app.command("augsbert")
def augsbert_cmd(
    pairs: PairsOption = None,
    benchmark: BenchmarkOption = None,
    base: BaseOption = None,
    out: OutOption = None,
    name: NameOption = None,
    cross_encoder: Annotated[
        Path | None, typer.Option(help="A trained cross-encoder to label with (skips training one).")
    ] = None,
    silver_per_query: Annotated[int, typer.Option(min=1, help="Silver pairs sampled per query and source.")] = 5,
    epochs: EpochsOption = 1,
    dev_fraction: DevFraction = 0.1,
    seed: SeedOption = 0,
) -> None:
    """Augmented SBERT: cross-encoder on gold pairs labels silver pairs; bi-encoder trains on both."""
    from embedlab.adapt.augsbert import CrossEncoderConfig, augmented_sbert
    from embedlab.adapt.data import load_training
    from embedlab.adapt.finetune import FinetuneConfig

    train, dev = load_training(benchmark, pairs=pairs, dev_fraction=dev_fraction, seed=seed)
    result = augmented_sbert(
        base,
        train,
        out=_output(out, name, "augsbert"),
        dev=dev,
        config=FinetuneConfig(loss="cosent", batch_size=16, epochs=epochs, seed=seed),
        cross_encoder_config=CrossEncoderConfig(seed=seed),
        cross_encoder=cross_encoder,
        silver_per_query=silver_per_query,
    )
    _report(result)
    console.print(f"cross-encoder (usable as a reranker): {result.lineage.data['cross_encoder']}")


@adapt_app.command("synth")
def synth_cmd(
    corpus: Annotated[Path, typer.Option(help="Documents: records with id and text fields, or .txt.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Pairs file to write (.jsonl or .csv).")],
    text_field: Annotated[str | None, typer.Option(help="Field holding the text.")] = None,
    id_field: Annotated[str | None, typer.Option(help="Field holding the id.")] = None,
    base: BaseOption = None,
    llm_base_url: Annotated[
        str | None, typer.Option(help="OpenAI-compatible endpoint for doc2query (e.g. http://localhost:11434/v1).")
    ] = None,
    llm_model: Annotated[str | None, typer.Option(help=LLM_MODEL_HELP)] = None,
    llm_api_key: Annotated[str | None, typer.Option(help="Bearer key for --llm-base-url.")] = None,
    per_doc: Annotated[int | None, typer.Option(help="Queries per document.")] = None,
    k: Annotated[int, typer.Option(help="Round trip: the document must be in the top k.")] = 10,
    max_docs: Annotated[int | None, typer.Option(help="Use at most this many documents.")] = None,
    seed: SeedOption = 0,
) -> None:
    """Synthetic (query, document) pairs: doc2query via an LLM, or inverse cloze without one; filtered."""
    from embedlab.adapt.synthetic import synthesize, write_pairs
    from embedlab.encode import Encoder
    from embedlab.io import read_texts

    records = read_texts(corpus, text_field=text_field, id_field=id_field)
    documents = dict(zip(records.ids, records.texts, strict=True))
    pairs, report = synthesize(
        documents,
        encoder=Encoder(base, cache=True),
        llm_base_url=llm_base_url,
        llm_model=llm_model,
        llm_api_key=llm_api_key,
        per_doc=per_doc,
        k=k,
        seed=seed,
        max_docs=max_docs,
    )
    write_pairs(output, pairs, documents)
    print_json(report.to_dict())
    console.print(f"wrote {len(pairs)} pairs to {output}")


@adapt_app.command("auto")
def auto_cmd(
    benchmark: Annotated[
        Path | None, typer.Option(help="A BEIR folder with a test split (train/dev optional), or a corpus.jsonl only.")
    ] = None,
    corpus: Annotated[Path | None, typer.Option(help="Unlabelled domain text (extra, or alone).")] = None,
    base: BaseOption = None,
    out: OutOption = None,
    name: NameOption = None,
    report: Annotated[Path | None, typer.Option(help="Folder for results.json and report.html.")] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Override the strategy's epochs.")] = None,
    llm_base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint for doc2query.")] = None,
    llm_model: Annotated[str | None, typer.Option(help=LLM_MODEL_HELP)] = None,
    max_docs: Annotated[
        int, typer.Option(min=1, help="doc2query: documents asked about (the local LLM: ~8 s each on 2 cores).")
    ] = 200,
    strategy: Annotated[
        str | None,
        typer.Option(
            help="Override the choice: doc2query, tsdae or synthetic (these three work without labels), finetune, "
            "hard-negatives or curriculum."
        ),
    ] = None,
    require_better: Annotated[
        bool, typer.Option(help="Exit with code 1 when the adapted model is not significantly better (base kept).")
    ] = False,
    keep_adapted: Annotated[
        bool, typer.Option(help="Save the adapted model at --out/--name even when it is not significantly better.")
    ] = False,
    seed: SeedOption = 0,
) -> None:
    """Pick the strategy from the data available, adapt, evaluate on held-out data; keep the base unless better."""
    from embedlab.adapt.auto import adapt_auto

    if benchmark is None and corpus is None:
        raise InputError("Give --benchmark DIR (a BEIR folder) or --corpus FILE (unlabelled text), or both.")
    target = _output(out, name, "auto")
    result = adapt_auto(benchmark, out=target, report=report, base=base, corpus=corpus, epochs=epochs, seed=seed,
                        llm_base_url=llm_base_url, llm_model=llm_model, strategy=strategy, max_docs=max_docs,
                        keep_adapted=keep_adapted)  # fmt: skip
    console.print(f"strategy: [bold]{result.strategy}[/] ({result.reason})")
    if result.synthetic is not None:
        made = result.synthetic
        console.print(f"synthetic queries: {made.generated} generated for {made.documents} documents, {made.kept} kept "
                      f"({made.failed_round_trip} failed the round trip, {made.duplicates} duplicates)")  # fmt: skip
    console.print(results_table(result.report, "retrieval", ["ndcg@10", "mrr@10", "recall@100"]))
    comparison, decision = result.comparison, result.decision
    console.print(
        f"adapted - base NDCG@10: {comparison['difference']['value']:+.4f}, p = {comparison['p_value']:.3g}: "
        f"{comparison['verdict']}"
    )
    if result.coverage is not None:
        for group in result.coverage.groups:
            console.print(results_table(result.report, group, ["ndcg@10", "mrr@10", "recall@100"]))
        console.print(result.coverage.sentence())
    colour = "green" if decision.adapted else "yellow"
    console.print(f"[{colour}]decision: {decision.reason}.[/]")
    if decision.trust:
        console.print(f"[dim]{decision.trust}[/]")
    if decision.adapted or keep_adapted:
        console.print(f"model: {result.adapted.path}")
    else:
        console.print(f"The adapted model is not registered; it is kept for inspection in {result.adapted.path}.")
    console.print(f"report: {result.files['report']}")
    if require_better and not decision.adapted:
        raise typer.Exit(1)


@negatives_app.command("mine")
def negatives_mine(
    output: Annotated[Path, typer.Option("--output", "-o", help="Rows to write: anchor, positive, negative_1..n.")],
    pairs: PairsOption = None,
    benchmark: BenchmarkOption = None,
    strategy: Annotated[str, typer.Option(help="random, bm25 or embedding.")] = "bm25",
    n: Annotated[int, typer.Option(min=1, help="Negatives per pair.")] = 1,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model for embedding negatives.")] = None,
    max_rank: Annotated[int, typer.Option(help="Candidates come from the top MAX_RANK.")] = 50,
    skip_top: Annotated[int, typer.Option(help="Guard: never use the first SKIP_TOP candidates.")] = 0,
    margin: Annotated[float | None, typer.Option(help="Guard: skip candidates above MARGIN x the positive.")] = 0.95,
    seed: SeedOption = 0,
) -> None:
    """Mine negatives (random, BM25 or embedding neighbours) behind a false-negative guard."""
    from embedlab.adapt.data import load_training
    from embedlab.adapt.losses import training_rows
    from embedlab.adapt.negatives import mine_negatives, miner
    from embedlab.encode import Encoder
    from embedlab.io import write_records

    train, _ = load_training(benchmark, pairs=pairs, dev_fraction=0)
    encoder = Encoder(model, cache=True) if miner(strategy).uses_model else None
    mined = mine_negatives(
        train,
        strategy,  # type: ignore[arg-type]
        n=n,
        encoder=encoder,
        max_rank=max_rank,
        skip_top=skip_top,
        margin=margin,
        seed=seed,
    )
    rows = training_rows(train, mined.negatives, "mnrl", n)
    write_records(output, [dict(zip(rows, values, strict=True)) for values in zip(*rows.values(), strict=True)])
    console.print(f"wrote {len(rows['anchor'])} rows to {output}; guard skipped {mined.skipped}")
