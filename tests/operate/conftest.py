"""A tiny corpus of eight topics, a BEIR benchmark over it, and models to migrate to."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from embedlab import EmbeddingModel, load_model
from embedlab.evaluate import RetrievalBenchmark

TOPICS = {
    "cat": ["The cat sleeps all afternoon on the warm windowsill.", "Kittens chase a ball of yarn around the room.",
            "Our cat purrs loudly when she is fed tuna."],
    "rocket": ["The rocket lifted off from the launch pad at dawn.", "Engineers fuelled the booster before the launch.",
               "The spacecraft reached orbit nine minutes after lift-off."],
    "bread": ["Knead the dough for ten minutes, then let it rise.", "Sourdough bread needs a lively starter culture.",
              "Bake the loaf in a hot oven until the crust is brown."],
    "volcano": ["Lava flowed down the slopes of the erupting volcano.", "Ash from the eruption grounded flights.",
                "Magma rises through cracks in the earth's crust."],
    "football": ["The striker scored twice in the second half.", "The goalkeeper saved a penalty in extra time.",
                 "Fans filled the stadium for the cup final."],
    "tax": ["File your income tax return before the April deadline.", "Deductions lower the taxable income.",
            "The tax office sends a refund when too much was withheld."],
    "piano": ["She practises scales on the piano every morning.", "The pianist played a Chopin nocturne.",
              "Tune the piano strings once a year."],
    "coffee": ["Grind the coffee beans just before brewing.", "An espresso needs finely ground coffee and pressure.",
               "Cold brew coffee steeps overnight in the fridge."],
}  # fmt: skip
QUERIES = {
    "cat": ["my kitty naps by the window", "what do pet felines eat"],
    "rocket": ["space launch of a booster", "how long to get a spacecraft into orbit"],
    "bread": ["how to make dough rise", "baking a sourdough loaf"],
    "volcano": ["eruption with lava and ash", "where does magma come from"],
    "football": ["who scored goals in the match", "penalty saved by the keeper"],
    "tax": ["deadline for the income tax return", "getting a tax refund"],
    "piano": ["practising the piano", "a pianist playing Chopin"],
    "coffee": ["brewing espresso at home", "how to make cold brew coffee"],
}


def documents() -> list[dict[str, str]]:
    """24 documents, ``TOPIC-N``; every second one has a title."""
    return [
        {"id": f"{topic}-{n}", "text": text, **({"title": topic.title()} if n % 2 else {}), "topic": topic}
        for topic, texts in TOPICS.items()
        for n, text in enumerate(texts)
    ]


def write_benchmark(folder: Path) -> Path:
    """The corpus and 16 queries (each topic's three documents relevant) as a BEIR folder, split ``test``."""
    (folder / "qrels").mkdir(parents=True)
    with (folder / "corpus.jsonl").open("w") as handle:
        for doc in documents():
            handle.write(json.dumps({"_id": doc["id"], "title": doc.get("title", ""), "text": doc["text"]}) + "\n")
    queries, qrels = [], ["query-id\tcorpus-id\tscore"]
    for topic, texts in QUERIES.items():
        for n, text in enumerate(texts):
            queries.append(json.dumps({"_id": f"q-{topic}-{n}", "text": text}))
            qrels += [f"q-{topic}-{n}\t{topic}-{i}\t1" for i in range(len(TOPICS[topic]))]
    (folder / "queries.jsonl").write_text("\n".join(queries) + "\n")
    (folder / "qrels" / "test.tsv").write_text("\n".join(qrels) + "\n")
    return folder


def write_beir(bench: RetrievalBenchmark, folder: Path) -> Path:
    """``bench`` as a BEIR folder (every judgement relevant, split ``test``)."""
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text(
        "\n".join(json.dumps({"_id": d, "title": "", "text": t}) for d, t in bench.corpus.items())
    )
    (folder / "queries.jsonl").write_text(
        "\n".join(json.dumps({"_id": q, "text": t}) for q, t in bench.queries.items())
    )
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t1\n" for q, rel in bench.qrels.items() for d in rel)
    )
    return folder


@pytest.fixture(scope="session")
def perturbed_model(model: EmbeddingModel, tmp_path_factory: pytest.TempPathFactory) -> EmbeddingModel:
    """The bundled model with its last layer's output bias nudged, saved as a folder: another fingerprint, same quality.

    It stands in for an adapted model (a real fine-tuning takes minutes; ``bench/migrate.py`` does one).
    """
    import torch

    copy = load_model(device="cpu")
    out = tmp_path_factory.mktemp("perturbed") / "model"
    with torch.no_grad():
        bias = copy.st[0].auto_model.encoder.layer[-1].output.dense.bias
        bias.add_(torch.from_numpy(np.random.default_rng(0).normal(0, 1e-3, bias.shape)).float())
    copy.st.save(str(out))
    return load_model(out, device="cpu")
