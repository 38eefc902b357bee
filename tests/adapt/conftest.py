"""Tiny adaptation data: eight topics, each a query and a document, plus look-alike distractors."""

from __future__ import annotations

import pytest

from embedlab.adapt.data import TrainingSet

DOCS = {
    "cat": "The cat slept all afternoon on the warm mat by the window.",
    "market": "Stock markets fell sharply after the central bank raised interest rates.",
    "python": "Python is a programming language with dynamic typing and garbage collection.",
    "recipe": "Whisk two eggs with flour and milk, then bake the batter for twenty minutes.",
    "weather": "Heavy rain and strong winds are forecast for Paris tomorrow morning.",
    "football": "The home team won the league title after a late goal in the final match.",
    "vaccine": "Vaccines train the immune system to recognise a pathogen before infection.",
    "flood": "The river burst its banks and flooded the village, damaging hundreds of homes.",
}
DISTRACTORS = {
    "dog": "The dog barked at the postman every morning.",
    "bonds": "Government bond yields rose as investors sold treasuries.",
    "java": "Java compiles to bytecode that runs on a virtual machine.",
    "bread": "Knead the dough and let it rise before baking the bread.",
}
QUERIES = {
    "cat": "where does the pet nap",
    "market": "why did shares drop",
    "python": "coding language memory management",
    "recipe": "how long to bake pancake batter",
    "weather": "will it be stormy in France",
    "football": "who became champions",
    "vaccine": "how does immunisation work",
    "flood": "houses damaged by high water",
}


@pytest.fixture
def tiny_train() -> TrainingSet:
    """Eight queries, one relevant document each, in a twelve-document corpus."""
    return TrainingSet(
        queries={f"q-{k}": q for k, q in QUERIES.items()},
        corpus={**DOCS, **DISTRACTORS},
        positives={f"q-{k}": [k] for k in QUERIES},
        name="tiny",
    )
