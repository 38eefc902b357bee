from __future__ import annotations

import itertools

import numpy as np
import pytest

from embedlab import EmbeddingModel, Encoder, InputError, chunk_text
from embedlab.encode.text import token_counts

DOCUMENTS = [
    "Embeddings map text to vectors.  Similar texts   get similar vectors.\n\n" * 40,
    "Ünïcödé wörds, emoji 🚀🚀 and CJK 漢字 mixed with tokenization-breaking hyphen-ated words. " * 30,
    "Short document.",
    "supercalifragilisticexpialidocious " * 120,
]


@pytest.mark.parametrize("document", DOCUMENTS)
@pytest.mark.parametrize(("max_tokens", "overlap"), [(64, 0), (64, 16), (200, 50)])
def test_chunk_offsets_round_trip_to_the_source(
    model: EmbeddingModel, document: str, max_tokens: int, overlap: int
) -> None:
    chunks = chunk_text(document, model.st.tokenizer, max_tokens, overlap=overlap)
    assert chunks[0].start == len(document) - len(document.lstrip())
    assert chunks[-1].end == len(document.rstrip())
    for chunk in chunks:
        assert document[chunk.start : chunk.end] == chunk.text
        assert 0 < chunk.n_tokens <= max_tokens
        assert token_counts(model.st.tokenizer, [chunk.text])[0] - 2 <= max_tokens  # re-tokenised fits too
    for before, after in itertools.pairwise(chunks):
        assert before.start < after.start
        assert not document[before.end : after.start].strip()  # at most whitespace between neighbours
        if overlap:
            assert after.start < before.end  # and neighbours share text


def test_chunks_end_on_word_boundaries(model: EmbeddingModel) -> None:
    text = "tokenization internationalization " * 100
    for chunk in chunk_text(text, model.st.tokenizer, 30, overlap=5):
        assert chunk.text.split()[0] in {"tokenization", "internationalization"}
        assert chunk.text.split()[-1] in {"tokenization", "internationalization"}


def test_overlap_must_be_smaller_than_the_window(model: EmbeddingModel) -> None:
    with pytest.raises(InputError, match="overlap"):
        chunk_text("some text", model.st.tokenizer, 10, overlap=10)


@pytest.mark.parametrize(
    ("max_tokens", "overlap", "message"),
    [(0, 0, "max_tokens must be"), (-3, 0, "max_tokens must be"), (4, 4, "smaller than max_tokens"),
     (4, 9, "smaller than max_tokens"), (4, -1, "overlap must be"), (None, -1, "overlap must be")],
)  # fmt: skip
def test_a_window_of_no_tokens_or_a_bad_overlap_is_refused_before_encoding(
    encoder: Encoder, max_tokens: int | None, overlap: int, message: str
) -> None:
    # max_tokens=0 used to fall back to the model's limit silently; -3 and (4, 4) blamed "the title and prompt".
    for encode in (encoder.encode_documents, encoder.encode_chunks):
        with pytest.raises(InputError, match=message):
            encode(["some text to cut"], max_tokens=max_tokens, overlap=overlap)


def test_short_document_is_one_chunk_equal_to_plain_encoding(encoder: Encoder) -> None:
    docs = encoder.encode_documents(["Short document."])
    assert len(docs.chunks) == 1
    np.testing.assert_allclose(docs.vectors[0], encoder.encode("Short document."), atol=1e-6)


def test_aggregations_by_hand(encoder: Encoder) -> None:
    long_doc = DOCUMENTS[0]
    mean = encoder.encode_documents([long_doc], max_tokens=64, overlap=8, aggregate="mean")
    chunks = mean.chunk_vectors
    assert len(chunks) > 3
    expected = chunks.mean(axis=0) / np.linalg.norm(chunks.mean(axis=0))
    np.testing.assert_allclose(mean.vectors[0], expected, atol=1e-6)
    top = encoder.encode_documents([long_doc], max_tokens=64, overlap=8, aggregate="max")
    expected = chunks.max(axis=0) / np.linalg.norm(chunks.max(axis=0))
    np.testing.assert_allclose(top.vectors[0], expected, atol=1e-6)
    first = encoder.encode_documents([long_doc], max_tokens=64, overlap=8, aggregate="first")
    np.testing.assert_allclose(first.vectors[0], chunks[0], atol=1e-6)


def test_title_is_prefixed_and_fits_the_model(encoder: Encoder, model: EmbeddingModel) -> None:
    docs = encoder.encode_documents([DOCUMENTS[0]], titles=["A guide to embeddings"])
    assert all(chunk.embed_text.startswith("A guide to embeddings ") for chunk in docs.chunks)
    lengths = token_counts(model.st.tokenizer, [chunk.embed_text for chunk in docs.chunks])
    assert max(lengths) <= model.max_seq_length  # nothing is truncated
    assert max(lengths) > model.max_seq_length - 20  # and the windows are used fully


def test_chunks_map_back_to_their_documents(encoder: Encoder) -> None:
    docs = encoder.encode_documents(DOCUMENTS, max_tokens=100, overlap=10)
    assert docs.vectors.shape == (4, 384)
    owners = docs.chunk_doc_index
    assert sorted(set(owners.tolist())) == [0, 1, 2, 3]
    assert (owners == 2).sum() == 1


def test_empty_documents(model: EmbeddingModel) -> None:
    with pytest.raises(InputError, match="Document 1 is empty"):
        Encoder(model).encode_documents(["text", "   "])
    docs = Encoder(model, on_empty="zero").encode_documents(["text", "   "])
    assert not docs.vectors[1].any()


def test_precision_applies_to_documents(encoder: Encoder) -> None:
    docs = encoder.encode_documents(DOCUMENTS[:2], precision="ubinary")
    assert docs.vectors.dtype == np.uint8 and docs.vectors.shape == (2, 48)
    assert docs.chunk_vectors.shape[1] == 48


def test_a_word_longer_than_the_window_is_split_into_full_windows(model: EmbeddingModel) -> None:
    text = "x".join(["ab"] * 60)  # one "word" of ~120 tokens
    chunks = chunk_text(text, model.st.tokenizer, 10, overlap=8)
    assert all(chunk.n_tokens == 10 for chunk in chunks[:-1])
    assert len(chunks) < 60


def test_chunks_fit_after_text_normalisation(encoder: Encoder) -> None:
    import warnings

    from embedlab import TruncationWarning

    with warnings.catch_warnings():
        warnings.simplefilter("error", TruncationWarning)
        docs = encoder.encode_documents(["½ " * 600])  # NFKC turns "½" into three characters, more tokens
    assert len(docs.chunks) > 3


def test_documents_are_validated_like_texts(encoder: Encoder) -> None:
    with pytest.raises(InputError, match="not a single string"):
        encoder.encode_documents("one document")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="not valid Unicode"):
        encoder.encode_documents(["fine", "bad \udcff"])


def test_the_document_path_tokenises_each_document_and_each_chunk_once(
    encoder: Encoder, model: EmbeddingModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokenizer = model.st.tokenizer
    tokenised: list[int] = []
    original = tokenizer._batch_encode_plus

    def counting(*args: object, **kwargs: object) -> object:
        tokenised.append(len(kwargs["batch_text_or_text_pairs"]))  # type: ignore[arg-type]
        return original(*args, **kwargs)

    monkeypatch.setattr(tokenizer, "_batch_encode_plus", counting)
    titles = ["A guide", "A guide", None, "Other"]
    docs = encoder.encode_chunks(DOCUMENTS, titles=titles, max_tokens=100, overlap=10)
    # the 4 documents (offsets) and the 2 distinct titles (their length) once, then each distinct chunk once, by
    # the model (these documents repeat themselves: many chunks are equal); before: each chunk three times
    # (an overflow check, the model, a token count) and a repeated chunk as many times as it occurs
    distinct = {encoder.prepare_text(chunk.embed_text) for chunk in docs.chunks}
    assert len(distinct) < len(docs.chunks)
    assert sum(tokenised) == len(DOCUMENTS) + 2 + len(distinct)


def test_chunks_alone_are_the_chunks_of_documents(encoder: Encoder) -> None:
    chunked = encoder.encode_chunks(DOCUMENTS, max_tokens=100, overlap=10, precision="int8")
    full = encoder.encode_documents(DOCUMENTS, max_tokens=100, overlap=10, precision="int8")
    assert not hasattr(chunked, "vectors")  # no document vectors computed and thrown away
    assert [c.text for c in chunked.chunks] == [c.text for c in full.chunks]
    assert np.abs(chunked.chunk_vectors.astype(int) - full.chunk_vectors.astype(int)).max() <= 1  # int8 steps
    np.testing.assert_array_equal(chunked.chunk_doc_index, full.chunk_doc_index)


def test_titles_are_validated(encoder: Encoder) -> None:
    with pytest.raises(InputError, match=r"Titles: .*index 1.*not valid Unicode"):
        encoder.encode_documents(["one", "two"], titles=["fine", "bad \udcff"])
