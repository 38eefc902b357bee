"""What a bias audit reads from files: refused before reading when it would audit nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from embedlab import InputError
from embedlab.bias import load_audit_inputs


def test_inputs_are_read_from_their_files(tmp_path: Path) -> None:
    (tmp_path / "pairs.json").write_text(json.dumps([["woman", "man"], ["she", "he"]]))
    (tmp_path / "words.txt").write_text("nurse\nengineer\n")
    (tmp_path / "docs.jsonl").write_text('{"id": 1, "text": "She welds.", "group": "f"}\n')
    (tmp_path / "queries.txt").write_text("welder\n")
    files = {
        "pairs": "pairs.json",
        "words": "words.txt",
        "exposure_docs": "docs.jsonl",
        "exposure_queries": "queries.txt",
    }
    inputs = load_audit_inputs(**{option: tmp_path / name for option, name in files.items()})
    assert inputs["pairs"] == [("woman", "man"), ("she", "he")] and inputs["words"] == ["nurse", "engineer"]
    assert inputs["exposure"] == (["welder"], {"1": "She welds."}, {"1": "f"})
    assert (inputs["tests"], inputs["benchmark"], inputs["sts"]) == ([], None, None)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({}, "Nothing to audit: give --sets"),
        ({"words": "missing.txt"}, "--words are projected on the bias direction: give --pairs"),
        ({"pairs": "missing.json", "exposure_docs": "docs.jsonl"}, "needs both --exposure-docs and --exposure-queries"),
    ],
)
def test_an_audit_of_nothing_is_refused_before_any_file_is_read(given: dict[str, str], message: str) -> None:
    with pytest.raises(InputError, match=message):
        load_audit_inputs(**given)
