"""Encoding a file of texts into an embeddings file (what `embedlab encode` calls)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embedlab import Encoder, InputError, read_embeddings
from embedlab.encode.files import encode_file


def _no_model() -> Encoder:
    raise AssertionError("the model was loaded although the input or output was refused")


def test_a_file_is_encoded_as_the_encoder_encodes_its_texts(tmp_path: Path, encoder: Encoder) -> None:
    source = tmp_path / "t.txt"
    source.write_text("The weather is lovely today.\n\nHe drove to the stadium.\n", encoding="utf-8")
    written = encode_file(source, encoder=encoder)
    assert (written.output, written.texts, written.chunks, written.skipped_blank_lines) == (
        tmp_path / "t.embeddings.parquet", 2, None, 1
    )  # fmt: skip
    stored = read_embeddings(written.output)
    assert stored.ids == ["1", "3"] and written.shape == (2, 384) and written.model == encoder.info
    np.testing.assert_allclose(stored.vectors, encoder.encode(["The weather is lovely today.",
                                                                "He drove to the stadium."]), atol=1e-6)  # fmt: skip
    chunked = encode_file(source, tmp_path / "c.npy", encoder=encoder, chunk=True, max_tokens=8, overlap=2)
    assert chunked.chunks is not None and chunked.chunks >= 2 and chunked.shape == (2, 384)


@pytest.mark.parametrize(("content", "output", "message"), [
    ("one\n", "t.csv", "write as .parquet or .npy"),
    ("one\n", "folder.parquet", "is a folder"),
    ("\n\n", None, "no texts to encode"),
])  # fmt: skip
def test_refusals_come_before_the_model_loads(tmp_path: Path, content: str, output: str | None, message: str) -> None:
    (tmp_path / "t.txt").write_text(content, encoding="utf-8")
    (tmp_path / "folder.parquet").mkdir()
    with pytest.raises(InputError, match=message):
        encode_file(tmp_path / "t.txt", tmp_path / output if output else None, encoder=_no_model)
