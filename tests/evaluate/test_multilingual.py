"""Multilingual cards: aligned per-language pairs, cross-lingual scores, languages left behind, script forms."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from embedlab import Encoder
from embedlab.cli import app
from embedlab.errors import InputError
from embedlab.evaluate.multilingual import (
    MultilingualSTSEvaluator,
    detection_agreement,
    lagging_languages,
    load_multilingual_sts,
    normalization_check,
    script_variants,
)
from embedlab.evaluate.results import Scores
from embedlab.evaluate.stats import Estimate

ROWS = [
    ("A man is playing a guitar.", "A man plays the guitar.", 4.8),
    ("A woman is slicing an onion.", "Someone is cutting an onion.", 4.2),
    ("A dog runs in the park.", "A cat sleeps on the sofa.", 0.6),
    ("The stock market fell sharply today.", "Shares dropped a lot today.", 4.0),
    ("Kids are swimming in a lake.", "Children swim in the lake.", 4.6),
    ("He is reading a newspaper.", "A plane is taking off.", 0.0),
    ("A chef is cooking pasta.", "Someone prepares spaghetti.", 3.6),
    ("The train arrived late.", "The train was delayed.", 4.4),
    ("Two men are playing chess.", "A girl is riding a horse.", 0.2),
    ("It is raining in London.", "London has rainy weather now.", 3.8),
    ("A baby is laughing.", "An infant laughs.", 4.9),
    ("The cat climbs a tree.", "Stock prices rose.", 0.1),
]


def write_set(folder: Path, language: str, rows: list[tuple[str, str, float]]) -> None:
    folder.mkdir(exist_ok=True)
    with (folder / f"stsb-{language}-test.csv").open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """English; 'cp', a copy of it; 'sh', the second sentences shifted by one row (pairs that no longer match)."""
    write_set(tmp_path, "en", ROWS)
    write_set(tmp_path, "cp", ROWS)
    shifted = [ROWS[(i + 1) % len(ROWS)][1] for i in range(len(ROWS))]
    write_set(tmp_path, "sh", [(a, b, score) for (a, _, score), b in zip(ROWS, shifted, strict=True)])
    return tmp_path


def test_languages_load_aligned_and_misaligned_files_are_refused(folder: Path) -> None:
    data = load_multilingual_sts(folder)
    assert data.languages == ["cp", "sh"] and data.cross("sh").texts1 == [row[0] for row in ROWS]
    assert data.cross("sh").texts2[0] == ROWS[1][1]
    write_set(folder, "xx", [(a, b, score + 0.5) for a, b, score in ROWS])
    with pytest.raises(InputError, match=r"stsb-xx-test\.csv does not hold the same pairs"):
        load_multilingual_sts(folder)
    with pytest.raises(InputError, match="no test file for zz"):
        load_multilingual_sts(folder, languages=["zz"])


def test_a_copy_scores_as_english_and_shifted_pairs_fall_behind(folder: Path, encoder: Encoder) -> None:
    scores = MultilingualSTSEvaluator(load_multilingual_sts(folder, languages=["cp", "sh"]), resamples=100).measure(
        encoder
    )
    values = scores.mean
    assert values["cp_spearman"] == pytest.approx(values["en_spearman"], abs=1e-6)
    assert values["en-cp_spearman"] == pytest.approx(values["en_spearman"], abs=1e-6)
    assert values["en_spearman"] > 0.8 and values["sh_spearman"] < 0.5
    assert values["mean_spearman"] == pytest.approx((values["cp_spearman"] + values["sh_spearman"]) / 2)
    assert list(lagging_languages(scores, margin=0.05)) == ["sh"]


def test_lagging_languages_use_the_margin_strictly() -> None:
    values = {"en": 0.8, "de": 0.75, "fr": 0.74, "en-de": 0.1, "mean": 0.1}
    scores = Scores({f"{lang}_spearman": Estimate(value, value, value) for lang, value in values.items()})
    assert lagging_languages(scores, margin=0.05) == {"fr": 0.06}  # de is 0.05 behind: not more than the margin


def test_script_variants() -> None:
    variants = script_variants("Café ガ1!")
    assert variants["nfd"] == "Cafe\u0301 \u30ab\u30991!"
    assert variants["fullwidth"] == "Ｃａｆé\u3000ガ１！"
    assert variants["halfwidth"] == "Café ｶﾞ1!"


def test_nfd_fullwidth_and_halfwidth_forms_give_the_same_vector(model: object) -> None:
    texts = ["Café crème à Zürich", "ガイドのテキスト、東京", "Price: 100 EUR (approx.)", "Ｒｏｍａ ｉｓ ｏｌｄ"]
    check = normalization_check(Encoder(model), texts)  # type: ignore[arg-type]
    assert check.ok and check.differs == {"nfd": 2, "fullwidth": 3, "halfwidth": 1}
    raw = normalization_check(Encoder(model, normalize_text=False), texts)  # type: ignore[arg-type]
    assert raw.changed["fullwidth"] > 0 and raw.changed["halfwidth"] == 1  # what NFKC in the encoder prevents


@pytest.mark.slow  # loads the model again through the CLI
def test_the_card_command_prints_the_table_and_names_languages_behind(folder: Path) -> None:
    options = ["--no-cache", "--sample", "4", "--resamples", "100", "--out", str(folder / "card.json")]
    result = CliRunner().invoke(app, ["models", "card", "--sts-multi", str(folder), *options])
    assert result.exit_code == 0, result.output
    assert "mean (not en)" in result.output and "falls behind en by more than 0.05 Spearman in: sh" in result.output
    card = json.loads((folder / "card.json").read_text())[0]
    assert set(card["lagging"]) == {"sh"}
    assert card["normalization"]["changed"] == {"nfd": 0, "fullwidth": 0, "halfwidth": 0}
    assert "detected as it" in result.output
    assert card["detection"]["en"] >= 0.9 and card["detection"]["cp"] == 0.0  # "cp" is no language: never detected


@pytest.mark.shared
def test_detection_agrees_with_the_languages_of_the_sts_b_translations(shared_data: Path) -> None:
    data = load_multilingual_sts(shared_data / "stsb_multi_mt", languages=["de", "ja", "zh"], limit=100)
    agreement = detection_agreement(data)
    assert set(agreement) == {"en", "de", "ja", "zh"} and min(agreement.values()) >= 0.85
    among_own = detection_agreement(data, candidates=sorted(data.pairs))  # a right answer stays right among fewer
    assert all(among_own[language] >= agreement[language] for language in agreement)
