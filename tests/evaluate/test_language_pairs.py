"""Languages detected per text, and cards of a user's own pair file grouped by given or detected language."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from embedlab import Encoder
from embedlab.cli import app
from embedlab.errors import InputError
from embedlab.evaluate.detection import detect_languages, pair_languages
from embedlab.evaluate.language_pairs import load_language_pairs, pair_file_card, spearman_by_language

KNOWN = {
    "The weather is lovely today.": "en",
    "Das Wetter ist heute schön.": "de",
    "Il pleut à Paris.": "fr",
    "Está lloviendo en Madrid.": "es",
    "Москва большой город.": "ru",
    "北京是中国的首都。": "zh",
    "東京は雨です。": "ja",
}

# Per language: the same sentence (cosine 1), a close paraphrase, an unrelated sentence: cosines fall in that
# order with any sensible model. English is scored 5, 4, 0 (Spearman 1); German inverted, 0, 1, 5 (Spearman -1).
ROWS = [
    {"text1": "A man plays the guitar.", "text2": "A man plays the guitar.", "score": 5.0},
    {"text1": "A man plays the guitar.", "text2": "A man is playing a guitar.", "score": 4.0},
    {"text1": "A man plays the guitar.", "text2": "The cat sleeps on the sofa.", "score": 0.0},
    {"text1": "Ein Mann spielt Gitarre.", "text2": "Ein Mann spielt Gitarre.", "score": 0.0},
    {"text1": "Ein Mann spielt Gitarre.", "text2": "Ein Mann spielt eine Gitarre.", "score": 1.0},
    {"text1": "Ein Mann spielt Gitarre.", "text2": "Die Katze schläft auf dem Sofa.", "score": 5.0},
    {"text1": "A man plays the guitar.", "text2": "Ein Mann spielt Gitarre.", "score": 5.0},
]


def write_pairs(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def test_known_sentences_are_detected_and_a_mixed_pair_is_cross_lingual() -> None:
    assert detect_languages(list(KNOWN)) == list(KNOWN.values())
    assert detect_languages(list(KNOWN)) == list(KNOWN.values())  # deterministic
    assert pair_languages(["A man plays the guitar."] * 2, ["Ein Mann spielt Gitarre.", "A man plays."]) == [
        "en-de",
        "en",
    ]
    assert pair_languages(["x"], ["y"], ["pt"]) == ["pt"]  # a given language is kept as it is
    assert detect_languages(["Está lloviendo en Madrid."], candidates=["pt", "it"]) == ["pt"]
    with pytest.raises(InputError, match="does not know xx"):
        detect_languages(["a"], candidates=["en", "xx"])


def test_spearman_per_language_by_hand() -> None:
    cosines = np.array([0.9, 0.1, 0.5, 0.3, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 0.8])
    gold = [4.0, 0.0, 3.0, 1.0, 1.0, 2.0, 3.0, 5.0, 4.0, 1.0, 2.0]
    groups = {"en": [0, 1, 2, 3], "de": [4, 5, 6, 7, 8], "en-de": [9, 10]}
    scores = spearman_by_language(cosines, gold, groups, min_pairs=3, resamples=100).mean
    # en: the same order (rho 1); de: one swap of neighbours, rho = 1 - 6 * (1 + 1) / (5 * (25 - 1)) = 0.9
    assert scores == pytest.approx({"en_spearman": 1.0, "de_spearman": 0.9})  # en-de: 2 pairs, under min_pairs


def test_a_pair_file_without_languages_is_carded_per_detected_language(tmp_path: Path, encoder: Encoder) -> None:
    data = load_language_pairs(write_pairs(tmp_path / "pairs.jsonl", ROWS))
    assert data.languages == ["en"] * 3 + ["de"] * 3 + ["en-de"] and data.detected == 7
    card = pair_file_card(encoder, data, min_pairs=3, sample=3, resamples=100)
    assert card.scores.mean == pytest.approx({"de_spearman": -1.0, "en_spearman": 1.0})
    assert card.pairs == {"de": 3, "en": 3, "en-de": 1} and card.lagging == {"de": 2.0}
    assert card.warnings()[:2] == [
        f"{card.model} falls behind en by more than 0.05 Spearman in: de (-2.000)",
        "not scored, fewer than 3 pairs: en-de (1)",
    ]
    assert card.to_dict()["detected"] == 7


def test_a_language_column_is_used_where_given_and_must_exist(tmp_path: Path) -> None:
    rows = [{**row, "lang": "xx" if i < 3 else ""} for i, row in enumerate(ROWS)]
    path = write_pairs(tmp_path / "pairs.jsonl", rows)
    data = load_language_pairs(path, language_field="lang")
    assert data.languages == ["xx"] * 3 + ["de"] * 3 + ["en-de"] and data.detected == 4
    with pytest.raises(InputError, match="no field 'language'"):
        load_language_pairs(path, language_field="language")


@pytest.mark.slow  # loads the model again through the CLI
def test_the_card_command_cards_a_pair_file(tmp_path: Path) -> None:
    path = write_pairs(tmp_path / "pairs.jsonl", ROWS)
    options = [
        "--no-cache",
        "--min-pairs",
        "3",
        "--sample",
        "3",
        "--resamples",
        "100",
        "--out",
        str(tmp_path / "c.json"),
    ]
    result = CliRunner().invoke(app, ["models", "card", "--pair-file", str(path), *options])
    assert result.exit_code == 0, result.output
    assert "language detected for 7" in result.output and "en-de (cross-lingual)" in result.output
    assert "too few pairs" in result.output and "falls behind en by more than 0.05 Spearman in: de" in result.output
    assert json.loads((tmp_path / "c.json").read_text())[0]["pairs"] == {"de": 3, "en": 3, "en-de": 1}
    neither = CliRunner().invoke(app, ["models", "card"])
    assert isinstance(neither.exception, InputError) and "--pair-file" in str(neither.exception)
