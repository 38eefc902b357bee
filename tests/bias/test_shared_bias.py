"""Bias measures of the bundled model on the published sets, before and after debiasing (shared data)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from embedlab import EmbeddingModel, Encoder
from embedlab.bias import audit_model, bias_direction, debias_model, load_association_tests, load_pairs_file
from embedlab.bias.audit import write_audit
from embedlab.evaluate import load_beir, load_pairs

pytestmark = [pytest.mark.slow, pytest.mark.shared]

TESTS = ["weat1", "weat2", "weat6", "weat7", "sent-weat6"]


def test_weat_before_and_after_debiasing(shared_data: Path, model: EmbeddingModel, tmp_path: Path) -> None:
    bias = shared_data / "bias_wordlists"
    tests = load_association_tests(bias / "seat", TESTS)
    pairs = load_pairs_file(bias / "debiaswe" / "definitional_pairs.json")
    words = [row[0].replace("_", " ") for row in json.loads((bias / "debiaswe" / "professions.json").read_text())]
    sts = load_pairs(shared_data / "stsbenchmark" / "sts-test.csv")
    subspace = bias_direction(Encoder(model), pairs)
    before = audit_model(model, tests=tests, subspace=subspace, words=words, sts=sts)
    after = audit_model(debias_model(model, subspace, tmp_path / "debiased"), tests=tests, subspace=subspace,
                        words=words, sts=sts)  # fmt: skip
    write_audit(tmp_path / "report", before, after)
    effect = {r.test: r for r in before.association}
    print({r.test: (round(r.effect_size, 3), r.p_value) for r in before.association})
    print({r.test: (round(r.effect_size, 3), r.p_value) for r in after.association})
    # Published-set associations of all-MiniLM-L6-v2 (measured here): flowers/insects and instruments/weapons
    # against pleasant/unpleasant are strong; male/female names against career/family too.
    assert effect["weat1"].effect_size > 1.0 and effect["weat1"].p_value < 0.001
    assert effect["weat2"].effect_size > 1.0 and effect["weat2"].p_value < 0.001
    assert effect["weat6"].effect_size > 0.7 and effect["weat6"].p_value < 0.05
    moved = {r.test: r for r in after.association}
    assert moved["weat6"].effect_size < effect["weat6"].effect_size - 0.3  # the gender-career link weakens
    assert abs(moved["weat1"].effect_size - effect["weat1"].effect_size) < 0.1  # unrelated tests stay
    assert before.mean_abs_projection > 0.03 and after.mean_abs_projection < 1e-5
    assert after.quality["sts_spearman"].value > before.quality["sts_spearman"].value - 0.01  # small cost
    assert (tmp_path / "report" / "audit.html").read_text().count("data:image/png;base64,") == 2


def test_exposure_of_gender_swapped_job_ads(shared_data: Path, encoder: Encoder) -> None:
    bench = load_beir(shared_data / "esco_jobtitles", split="test")
    from embedlab.bias import retrieval_exposure
    from embedlab.evaluate import ExactSearch

    titles = [text.split(" ", 1)[0] for text in list(bench.corpus.values())[:60]]
    corpus, groups = {}, {}
    for index, title in enumerate(titles):
        for group, pronoun in (("female", "She"), ("male", "He")):
            corpus[f"{group}-{index}"] = f"{pronoun} works as a {title} and is looking for a new position."
            groups[f"{group}-{index}"] = group
    result = retrieval_exposure(ExactSearch(encoder, corpus), [f"experienced {t}" for t in titles], groups, k=10)
    print(result)
    assert result.expected == {"female": 0.5, "male": 0.5}
    assert 0 <= result.gap < 0.5 and sum(result.share.values()) == pytest.approx(1.0)
