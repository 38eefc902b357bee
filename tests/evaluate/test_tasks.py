from __future__ import annotations

from pathlib import Path

import pytest

from embedlab import Encoder, InputError
from embedlab.evaluate.tasks import LabelledSet, classification_scores, clustering_scores, load_labelled

TOPICS = {
    "cooking": ["Bake the bread at 200 degrees.", "Whisk the eggs with sugar.", "Simmer the tomato sauce slowly.",
                "Season the soup with salt and pepper.", "Knead the dough for ten minutes.", "Roast the vegetables."],
    "football": ["The striker scored a late goal.", "The referee showed a red card.", "The keeper saved a penalty.",
                 "The team won the league title.", "The midfielder passed to the winger.", "Fans cheered the derby."],
    "finance": ["The central bank raised interest rates.", "Stocks fell after weak earnings.", "Bond yields climbed.",
                "The company issued new shares.", "Inflation slowed last quarter.", "Investors sold tech stocks."],
}  # fmt: skip
DATA = LabelledSet(
    texts=[text for texts in TOPICS.values() for text in texts],
    labels=[label for label, texts in TOPICS.items() for _ in texts],
)


def test_clustering_recovers_clear_topics(encoder: Encoder) -> None:
    scores = clustering_scores(encoder, DATA)
    assert scores["v_measure"].value > 0.8
    assert scores["ari"].value > 0.7
    assert 0 < scores["silhouette"].value < 1


def test_classification_of_clear_topics(encoder: Encoder) -> None:
    scores = classification_scores(encoder, DATA, folds=3)
    assert scores["accuracy"].value > 0.8
    assert scores["macro_f1"].low <= scores["macro_f1"].value <= scores["macro_f1"].high


def test_label_problems_are_clear(encoder: Encoder, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="at least two different labels"):
        clustering_scores(encoder, LabelledSet(["a", "b"], ["x", "x"]))
    with pytest.raises(InputError, match="rarest label has 1 examples"):
        classification_scores(encoder, LabelledSet(["a", "b", "c"], ["x", "x", "y"]), folds=2)
    path = tmp_path / "l.csv"
    path.write_text("title,group\nchef,food\n,food\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"records \[2\] have an empty 'title'"):
        load_labelled(path, text_field="title", label_field="group")
    with pytest.raises(InputError, match="needs fields 'text' and 'label'"):
        load_labelled(path)
