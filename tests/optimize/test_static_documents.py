import numpy as np
import pytest

from embedlab import Encoder, load_model
from embedlab.encode.text import with_title
from embedlab.errors import InputError

LONG = "The nurse cares for patients on the ward. " * 300  # about 2,700 tokens: far over a transformer's limit


def test_a_static_variant_encodes_documents_whole_without_chunking(static_variant):
    encoder = Encoder(load_model(static_variant), show_progress=False)
    docs = encoder.encode_documents([f"  {LONG}", "a chef"], titles=["Ward", None])
    whole = LONG.strip()
    assert [(c.doc_index, c.chunk_index, c.start, c.end) for c in docs.chunks] == [(0, 0, 2, 2 + len(whole)),
                                                                                    (1, 0, 0, 6)]  # fmt: skip
    assert docs.chunks[0].text == whole and docs.chunks[0].n_tokens > 2500  # read whole, not cut or truncated
    expected = encoder.encode([with_title("Ward", whole), "a chef"])  # the title before the text, as for any model
    np.testing.assert_allclose(docs.vectors, expected, atol=1e-6)
    np.testing.assert_allclose(docs.chunk_vectors, expected, atol=1e-6)

    lenient = Encoder(encoder.model, show_progress=False, on_empty="zero")
    chunks = lenient.encode_chunks([LONG, "a chef", "  "])  # a blank document has no chunk
    assert [c.doc_index for c in chunks.chunks] == [0, 1]
    with pytest.raises(InputError, match="Document 2 is empty"):
        encoder.encode_chunks([LONG, "a chef", "  "])
    np.testing.assert_allclose(chunks.chunk_vectors, encoder.encode([whole, "a chef"]), atol=1e-6)


def test_a_static_variant_refuses_a_chunk_size(static_variant):
    encoder = Encoder(load_model(static_variant), show_progress=False)
    with pytest.raises(InputError, match=r"reads whole texts.*leave max_tokens unset"):
        encoder.encode_documents([LONG], max_tokens=50)
