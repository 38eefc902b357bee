from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from embedlab import Encoder, InputError
from embedlab.bias import AssociationTest, load_association_test, load_association_tests, seat_sets, weat
from embedlab.bias.association import association_from_vectors

E1, E2 = np.array([1.0, 0.0]), np.array([0.0, 1.0])


def test_effect_size_and_exact_p_value_by_hand() -> None:
    # s(x) = cos(x, A) - cos(x, B) = 1 for X, -1 for Y; pooled [1, 1, -1, -1] has sample std sqrt(4/3),
    # so d = 2 / sqrt(4/3) = sqrt(3). Of the 6 ways to split four items 2+2, only the observed one reaches
    # the statistic 4: p = 1/6, exact.
    result = association_from_vectors(np.array([E1, E1]), np.array([E2, E2]), np.array([E1]), np.array([E2]))
    assert result.effect_size == pytest.approx(math.sqrt(3))
    assert result.p_value == pytest.approx(1 / 6)


def test_no_association_gives_zero_and_reversed_sets_flip_the_sign() -> None:
    x, y = np.array([E1, E2]), np.array([E2, E1])
    assert association_from_vectors(x, y, np.array([E1]), np.array([E2])).effect_size == pytest.approx(0.0)
    forward = association_from_vectors(np.array([E1, E1]), np.array([E2, E2]), np.array([E1]), np.array([E2]))
    backward = association_from_vectors(np.array([E2, E2]), np.array([E1, E1]), np.array([E1]), np.array([E2]))
    assert backward.effect_size == pytest.approx(-forward.effect_size)


def _write_test(path: Path, **sets: list[str]) -> Path:
    path.write_text(json.dumps({role: {"category": role.upper(), "examples": words} for role, words in sets.items()}))
    return path


def test_load_seat_and_the_bundled_model(tmp_path: Path, encoder: Encoder) -> None:
    path = _write_test(
        tmp_path / "pleasant.jsonl",
        targ1=["rose", "tulip", "daisy", "lily"],
        targ2=["cockroach", "maggot", "flea", "louse"],
        attr1=["joy", "love", "peace", "wonderful"],
        attr2=["agony", "filth", "disgust", "horrible"],
    )
    test = load_association_test(path)
    assert (test.name, test.targets, len(test.x)) == ("pleasant", ("TARG1", "TARG2"), 4)
    assert weat(encoder, test).effect_size > 1.0  # flowers are pleasant, insects not: a strong association
    sentences = seat_sets(test, templates=("This is {word}.", "A {word} is here."))
    assert sentences.x[:2] == ("This is rose.", "A rose is here.")
    assert len(sentences.a) == 8
    assert [t.name for t in load_association_tests(tmp_path)] == ["pleasant"]


def test_bad_test_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="missing attr1, attr2"):
        load_association_test(_write_test(tmp_path / "a.jsonl", targ1=["a", "b"], targ2=["c", "d"]))
    with pytest.raises(InputError, match="at least two examples"):
        load_association_test(_write_test(tmp_path / "b.jsonl", targ1=["a"], targ2=["c", "d"], attr1=["e", "f"],
                                          attr2=["g", "h"]))  # fmt: skip
    (tmp_path / "c.jsonl").write_text("{not json")
    with pytest.raises(InputError, match="not a readable JSON"):
        load_association_test(tmp_path / "c.jsonl")
    with pytest.raises(InputError, match="no association tests named nope"):
        load_association_tests(tmp_path, ["nope"])


def test_empty_sets_and_malformed_test_files_are_errors(tmp_path: Path) -> None:
    full = {"targ1": ["a", "b"], "targ2": ["c", "d"], "attr1": ["e", "f"], "attr2": ["g", "h"]}
    with pytest.raises(InputError, match="at least two examples"):
        load_association_test(_write_test(tmp_path / "a.jsonl", **{**full, "attr2": []}))
    for bad in ("abc", ["x", 3], ["x", " "]):  # a string would be split into letters
        with pytest.raises(InputError, match="attr1 must be a list of non-empty strings"):
            load_association_test(_write_test(tmp_path / "b.jsonl", **{**full, "attr1": bad}))
    with pytest.raises(InputError, match="category of attr2 must be a string"):
        bad = {**full, "attr2": ["g", "h"]}
        data = {role: {"category": role, "examples": words} for role, words in bad.items()}
        data["attr2"]["category"] = ["x"]
        (tmp_path / "d.jsonl").write_text(json.dumps(data))
        load_association_test(tmp_path / "d.jsonl")
    (tmp_path / "c.jsonl").write_text("[1, 2]")
    with pytest.raises(InputError, match="is a JSON object with targ1"):
        load_association_test(tmp_path / "c.jsonl")
    with pytest.raises(InputError, match="not a folder"):
        load_association_tests(tmp_path / "c.jsonl")
    with pytest.raises(InputError, match="'mine': targ2, attr1 empty"):  # tests built in Python too
        AssociationTest("mine", ("X", "Y"), ("A", "B"), x=("a",), y=(), a=(), b=("b",))
    with pytest.raises(InputError, match=r"sizes \(2, 0, 1, 1\)"):
        association_from_vectors(np.array([E1, E2]), np.empty((0, 2)), np.array([E1]), np.array([E2]))


def test_cli_audit_and_debias(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from embedlab.cli import app

    sets = tmp_path / "sets"
    sets.mkdir()
    names = {"targ1": ["John", "Paul", "Mike", "Kevin"], "targ2": ["Amy", "Joan", "Lisa", "Sarah"]}
    work = {"attr1": ["executive", "salary", "career", "office"], "attr2": ["home", "parents", "children", "family"]}
    _write_test(sets / "names.jsonl", **names, **work)
    pairs = tmp_path / "pairs.json"
    pairs.write_text(json.dumps([["woman", "man"], ["she", "he"], ["girl", "boy"], ["mother", "father"]]))
    words = tmp_path / "words.txt"
    words.write_text("nurse\nengineer\nqueen\nking\n")
    docs = tmp_path / "ads.jsonl"
    ads = [
        {"id": f"{group}{i}", "text": f"{pronoun} is a skilled {job}.", "group": group}
        for i, job in enumerate(["welder", "nurse", "pilot"])
        for group, pronoun in (("f", "She"), ("m", "He"))
    ]
    docs.write_text("\n".join(json.dumps(ad) for ad in ads))
    queries = tmp_path / "queries.txt"
    queries.write_text("skilled welder\nexperienced nurse\n")
    runner = CliRunner()
    result = runner.invoke(app, ["bias", "audit", "--sets", str(sets), "--pairs", str(pairs), "--words", str(words),
                                 "--exposure-docs", str(docs), "--exposure-queries", str(queries),
                                 "--out", str(tmp_path / "audit")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "names" in result.output and (tmp_path / "audit" / "audit.html").is_file()
    audit = json.loads((tmp_path / "audit" / "audit.json").read_text())["before"]
    assert audit["exposure"]["expected"] == {"f": 0.5, "m": 0.5} and audit["exposure"]["queries"] == 2
    result = runner.invoke(app, ["bias", "debias", "--pairs", str(pairs), "-o", str(tmp_path / "model"), "--sets",
                                 str(sets), "--words", str(words), "--report", str(tmp_path / "after")])  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "after" / "audit.json").read_text())
    assert data["after"]["mean_abs_projection"] < 1e-5 < data["before"]["mean_abs_projection"]
    assert (tmp_path / "model" / "modules.json").is_file()


def test_cli_debias_needs_only_pairs_and_words_need_pairs(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from embedlab.cli import app

    pairs = tmp_path / "pairs.json"
    pairs.write_text(json.dumps([["woman", "man"], ["she", "he"], ["girl", "boy"]]))
    words = tmp_path / "words.txt"
    words.write_text("nurse\nengineer\n")
    runner = CliRunner()
    result = runner.invoke(app, ["bias", "debias", "--pairs", str(pairs), "-o", str(tmp_path / "m"),
                                 "--report", str(tmp_path / "r")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (tmp_path / "m" / "modules.json").is_file()
    result = runner.invoke(app, ["bias", "audit", "--words", str(words), "--out", str(tmp_path / "a")])
    assert "give --pairs" in str(result.exception)


@pytest.mark.parametrize(("pairs", "words", "message"), [
    ("[]", '["nurse"]', "list of pairs is empty"),
    ('[["woman", "man"], ["she", "he"]]', "[]", "no words to project"),
    ('[["woman", "man"], ["she", "he"]]', "", "no words to project"),  # an empty .txt
    ('[["woman", "man"], ["she", "he"]]', '{"nurse": 1}', "expected a JSON list of words"),
    ('[["woman", null], ["she", "he"]]', '["nurse"]', "pairs of non-empty strings"),
])  # fmt: skip
def test_cli_empty_or_malformed_lists_are_errors_not_no_bias(
    tmp_path: Path, pairs: str, words: str, message: str
) -> None:
    from typer.testing import CliRunner

    from embedlab.cli import app

    (tmp_path / "pairs.json").write_text(pairs)
    words_file = tmp_path / ("words.json" if words else "words.txt")
    words_file.write_text(words)
    result = CliRunner().invoke(app, ["bias", "audit", "--pairs", str(tmp_path / "pairs.json"), "--words",
                                      str(words_file), "--out", str(tmp_path / "out")])  # fmt: skip
    assert isinstance(result.exception, InputError) and message in str(result.exception)  # main(): exit 2
    assert not (tmp_path / "out").exists()
