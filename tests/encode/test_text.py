from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from embedlab import Encoder, InputError, normalize_text
from embedlab.encode.text import prepare_texts, with_title
from embedlab.evaluate import load_beir
from embedlab.index import Index


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("  hello   world \n", "hello world"),
        ("ﬁne\u00a0tuning", "fine tuning"),  # NFKC ligature, no-break space
        ("Ｆｕｌｌｗｉｄｔｈ", "Fullwidth"),
        ("tab\tand\r\nnewline", "tab and newline"),
        ("", ""),
    ],
)
def test_normalize_text(raw: str, clean: str) -> None:
    assert normalize_text(raw) == clean


def test_prepare_texts_reports_empty_indices() -> None:
    with pytest.raises(InputError, match=r"2 text\(s\) are empty.*index 1, 3"):
        prepare_texts(["a", "  ", "b", "\n"])
    texts, empty = prepare_texts(["a", "  ", "b"], on_empty="zero")
    assert texts == ["a", "", "b"]
    assert empty == [1]


def test_prepare_texts_refuses_non_strings_and_invalid_unicode() -> None:
    with pytest.raises(InputError, match=r"index 1 \(bytes\), 2 \(NoneType\)"):
        prepare_texts(["ok", b"bytes", None])
    with pytest.raises(InputError, match="not valid Unicode"):
        prepare_texts(["ok", "bad \udcff surrogate"])
    with pytest.raises(InputError, match="not a single string"):
        prepare_texts("a single string")


def test_prepare_texts_refuses_huge_texts() -> None:
    with pytest.raises(InputError, match=r"longer than max_chars=10.*encode_documents"):
        prepare_texts(["short", "x" * 11], max_chars=10)
    assert prepare_texts(["x" * 11], max_chars=None)[0] == ["x" * 11]


def test_a_titled_document_is_the_same_text_in_evaluation_the_encoder_and_the_index(
    tmp_path: Path, encoder: Encoder
) -> None:
    title, text = "Paella", "Rice cooked with saffron in a wide pan."
    beir = tmp_path / "bench"
    (beir / "qrels").mkdir(parents=True)
    (beir / "corpus.jsonl").write_text(json.dumps({"_id": "d", "title": title, "text": text}) + "\n")
    (beir / "queries.jsonl").write_text(json.dumps({"_id": "q", "text": "rice dish"}) + "\n")
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq\td\t1\n")
    evaluated = load_beir(beir).corpus["d"]
    assert evaluated == with_title(title, text) == "Paella Rice cooked with saffron in a wide pan."

    embedded = encoder.encode_documents([text], titles=[title])
    assert [chunk.embed_text for chunk in embedded.chunks] == [evaluated]
    expected = encoder.encode([evaluated])[0]
    np.testing.assert_allclose(embedded.vectors[0], expected, atol=1e-5)
    for chunk in (True, False):
        index = Index.create(tmp_path / f"index-{chunk}", encoder, chunk=chunk)
        index.add([{"id": "d", "text": text, "title": title}])
        (hit,) = index.search(evaluated, k=1)
        assert hit.score == pytest.approx(1.0, abs=1e-5)  # the stored vector is the evaluated text's
        (hit,) = index.search("Paella", k=1, mode="bm25")  # the title is searched as text too
        assert hit.doc_id == "d"
