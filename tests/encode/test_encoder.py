from __future__ import annotations

import warnings

import numpy as np
import pytest

from embedlab import EmbeddingModel, Encoder, InputError, TruncationWarning
from embedlab.encode import PRECISIONS, quantize

TEXTS = ["A cat sits on the mat.", "Dogs bark at night.", "Stock markets fell sharply.", "A kitten naps."]


def test_matches_plain_sentence_transformers(encoder: Encoder, model: EmbeddingModel) -> None:
    ours = encoder.encode(TEXTS)
    plain = model.st.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    np.testing.assert_allclose(ours, plain, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-6)


def test_single_text_gives_a_vector(encoder: Encoder) -> None:
    vector = encoder.encode("A cat sits on the mat.")
    assert vector.shape == (384,)
    np.testing.assert_allclose(vector, encoder.encode(TEXTS[:1])[0], atol=1e-6)


def test_order_is_kept_when_lengths_differ(encoder: Encoder) -> None:
    texts = ["short", "a much longer sentence about something else entirely " * 3, "mid length text here"]
    together = encoder.encode(texts)
    for index, text in enumerate(texts):
        np.testing.assert_allclose(together[index], encoder.encode(text), atol=1e-5)


EXPECTED = {
    "float32": (np.float32, 384),
    "float16": (np.float16, 384),
    "int8": (np.int8, 384),
    "uint8": (np.uint8, 384),
    "binary": (np.int8, 48),
    "ubinary": (np.uint8, 48),
}


@pytest.mark.parametrize("precision", PRECISIONS)
def test_every_precision_has_its_dtype_and_shape(encoder: Encoder, precision: str) -> None:
    dtype, width = EXPECTED[precision]
    out = encoder.encode(TEXTS, precision=precision)  # type: ignore[arg-type]
    assert out.dtype == dtype
    assert out.shape == (len(TEXTS), width)


def test_quantisation_values_by_hand() -> None:
    vectors = np.array([[-1.0, 0.0, 1.0, 0.5, -0.25, 0.1, -0.1, 2.0]], dtype=np.float32)
    ranges = np.array([[-1.0] * 8, [1.0] * 8], dtype=np.float32)
    # sentence-transformers' scheme: floor((x - min) / ((max - min) / 255)) in float32, so the top of the
    # range lands on 254.99.. -> 254. 2.0 is clipped to the top first instead of wrapping around to 0.
    np.testing.assert_array_equal(quantize(vectors, "uint8", ranges), [[0, 127, 254, 191, 95, 140, 114, 254]])
    np.testing.assert_array_equal(quantize(vectors, "int8", ranges), [[-128, -1, 126, 63, -33, 12, -14, 126]])
    # ubinary: bit = x > 0, packed big-endian: 0 0 1 1 0 1 0 1 -> 0b00110101 = 53; binary is that - 128.
    np.testing.assert_array_equal(quantize(vectors, "ubinary"), [[53]])
    np.testing.assert_array_equal(quantize(vectors, "binary"), [[53 - 128]])


def test_calibrated_ranges_are_used(encoder: Encoder) -> None:
    ranges = encoder.calibrate(TEXTS)
    assert ranges.shape == (2, 384)
    out = encoder.encode(TEXTS, precision="uint8")
    assert out.min() == 0 and out.max() >= 254  # calibrated on these texts: both ends of the range are used


def test_unnormalised_int8_needs_calibration(model: EmbeddingModel) -> None:
    encoder = Encoder(model, normalize=False)
    with pytest.raises(InputError, match="calibrate"):
        encoder.encode(TEXTS, precision="int8")


def test_unknown_precision_is_refused(encoder: Encoder) -> None:
    with pytest.raises(InputError, match="precision must be one of"):
        encoder.encode(TEXTS, precision="int4")  # type: ignore[arg-type]


def test_empty_texts_policy(model: EmbeddingModel) -> None:
    with pytest.raises(InputError, match="empty"):
        Encoder(model).encode(["fine", "   "])
    out = Encoder(model, on_empty="zero").encode(["fine", "   ", "also fine"])
    assert not out[1].any()
    assert np.linalg.norm(out[0]) == pytest.approx(1.0, abs=1e-6)


def test_huge_text_is_refused_with_advice(encoder: Encoder) -> None:
    with pytest.raises(InputError, match="encode_documents"):
        encoder.encode(["ok", "word " * 300_000])


def test_truncation_warning_counts_the_long_texts(encoder: Encoder) -> None:
    # "x " * 254 is 254 tokens + [CLS] + [SEP] = 256: fits exactly; one more "x" does not.
    texts = ["short one", "word " * 400, "another short", "token " * 300, "x " * 254, "x " * 255]
    with pytest.warns(TruncationWarning, match=r"^3 of 6 texts are longer than the model's max_seq_length of 256"):
        encoder.encode(texts)
    assert encoder.stats.truncated == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error", TruncationWarning)
        encoder.encode(["short one", "x " * 200])  # 200 tokens + 2 special: fits


def test_text_normalisation_is_applied_and_can_be_turned_off(model: EmbeddingModel) -> None:
    normalising = Encoder(model)
    np.testing.assert_allclose(normalising.encode("ﬁne   tuning\n"), normalising.encode("fine tuning"), atol=1e-6)
    raw = Encoder(model, normalize_text=False)
    assert not np.allclose(raw.encode("ﬁne   tuning"), raw.encode("fine tuning"), atol=1e-4)


def test_stats_count_what_was_done(encoder: Encoder) -> None:
    encoder.encode(TEXTS)
    assert (encoder.stats.texts, encoder.stats.encoded, encoder.stats.cache_hits) == (4, 4, 0)


def test_bad_batch_size(model: EmbeddingModel) -> None:
    with pytest.raises(InputError, match="batch_size"):
        Encoder(model, batch_size=0)


def test_the_models_default_prompt_is_used_and_keyed(model: EmbeddingModel, tmp_path: object) -> None:
    import copy

    from embedlab import EmbeddingCache, EmbeddingModel

    st = copy.deepcopy(model.st)
    st.prompts = {"query": "query: "}
    st.default_prompt_name = "query"
    prompted = Encoder(EmbeddingModel(st, model.info), cache=EmbeddingCache(f"{tmp_path}/c.sqlite3"))
    assert prompted.options["prompt"] == "query: "
    plain = Encoder(model, cache=EmbeddingCache(f"{tmp_path}/c.sqlite3"))
    plain.encode(["hello there"])
    with_prompt = prompted.encode(["hello there"])
    assert prompted.stats.cache_hits == 0  # not the unprompted vector from the cache
    np.testing.assert_allclose(with_prompt, Encoder(model, prompt="query: ").encode(["hello there"]), atol=1e-6)


def test_duplicates_in_one_call_are_encoded_once_and_share_their_vector(encoder: Encoder) -> None:
    out = encoder.encode(["same", "other", "same", " same "])  # the last one is "same" once normalised
    assert encoder.stats.encoded == 2  # before: 4, one forward pass per occurrence
    np.testing.assert_array_equal(out[0], out[2])  # equal by construction: one vector, copied
    np.testing.assert_array_equal(out[0], out[3])


def test_token_counts_come_from_the_encoding_itself(model: EmbeddingModel) -> None:
    texts = ["The weather is lovely today.", "x " * 254, "x " * 255, "word " * 1000, "hello"]
    # wordpieces + [CLS] + [SEP]: the weather is lovely today . -> 6 + 2; "x " * 254 -> 256 fits; one more does not
    expected = [8, 256, 257, 1002, 3]
    with pytest.warns(TruncationWarning, match="^2 of 5"):
        encoded = Encoder(model).encode_with_counts(texts)
    assert encoded.n_tokens.tolist() == expected
    plain = model.st.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    np.testing.assert_allclose(encoded.vectors, plain, atol=1e-6)
    with pytest.warns(TruncationWarning, match="^3 of 5"):  # the prompt pushes "x " * 254 over the limit
        prompted = Encoder(model, prompt="query: ").encode_with_counts(texts)
    assert prompted.n_tokens.tolist() == [n + 2 for n in expected]  # "query" ":" are read too


def test_one_encoder_serves_many_threads_at_once(model: EmbeddingModel) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from embedlab import chunk_text
    from embedlab.encode.text import token_counts

    encoder = Encoder(model, batch_size=4)
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda"]
    batches = [[" ".join(words[(i + j) % 11 :] + words[: (i * j) % 7]) + f" {i}.{j}" for j in range(6)]
               for i in range(24)]  # fmt: skip

    def work(i: int) -> tuple[np.ndarray, list[int]]:
        if i % 3 == 1:  # chunking and counting with other tokenizer settings, at the same time
            chunk_text(" ".join(batches[i]) * 5, model.st.tokenizer, 16, overlap=4)
            token_counts(model.st.tokenizer, batches[i])
        encoded = encoder.encode_with_counts(batches[i])
        return encoded.vectors, encoded.n_tokens.tolist()

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(work, range(len(batches))))  # before: RuntimeError: Already borrowed
    for batch, (vectors, counts) in zip(batches, results, strict=True):
        np.testing.assert_allclose(vectors, model.st.encode(batch, normalize_embeddings=True), atol=1e-5)
        assert counts == token_counts(model.st.tokenizer, batch)
