from __future__ import annotations

import pytest

from embedlab import InputError, normalize_text
from embedlab.encode.text import prepare_texts


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
