"""Tiny real models and variants for tests: a one-layer transformer, its ONNX variant, a static model.

Everything is built from the bundled model's tokenizer with seeded random weights in a few seconds, saved
as ordinary folders and loaded back through :func:`embedlab.load_model`, like any user's model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from embedlab import EmbeddingModel, load_model
from embedlab.optimize.run import record_parity
from embedlab.optimize.variants import VariantInfo, build_variant, variant_lineage
from embedlab.registry import write_lineage

TEXTS = [
    "A chef prepares meals in a restaurant kitchen.",
    "A nurse cares for patients in a hospital ward.",
    "A pilot flies aircraft and lands the plane safely.",
    "A teacher plans lessons for pupils at school.",
    "A plumber repairs water pipes, taps and drains.",
    "A farmer grows crops and drives the tractor.",
    "A lawyer represents clients in court.",
    "A baker bakes bread early in the morning.",
    "A bus driver carries passengers through the city.",
    "A software developer writes and tests programs.",
    "A painter paints walls and ceilings.",
    "A veterinarian treats sick animals at a clinic.",
]
QUERIES = ["cooking food", "sick people", "flying planes", "leaking tap", "writing code", "animal doctor"]


def tiny_transformer(source: EmbeddingModel, out: Path, *, seed: int = 0) -> EmbeddingModel:
    """A one-layer, 32-dimensional BERT with ``source``'s tokenizer, mean pooling and normalisation."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Normalize, Pooling, Transformer
    from transformers import BertConfig, BertModel

    config = BertConfig(vocab_size=source.st.tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)  # fmt: skip
    torch.manual_seed(seed)
    bert_dir = out.with_name(f"{out.name}-bert")
    BertModel(config).save_pretrained(bert_dir)
    source.st.tokenizer.save_pretrained(bert_dir)
    transformer = Transformer(str(bert_dir), max_seq_length=64)
    SentenceTransformer(modules=[transformer, Pooling(32, "mean"), Normalize()], device="cpu").save(str(out))
    return load_model(out, device="cpu")


def static_model(source: EmbeddingModel, out: Path, *, dimension: int = 8) -> EmbeddingModel:
    """A ``StaticEmbedding`` + ``Normalize`` folder over ``source``'s tokenizer with seeded random weights."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Normalize, StaticEmbedding
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(source.st.tokenizer.backend_tokenizer.to_str())  # a copy: the source's stays
    tokenizer.no_truncation()  # a static model reads whole texts
    weights = np.random.default_rng(0).normal(size=(tokenizer.get_vocab_size(), dimension)).astype(np.float32)
    static = StaticEmbedding(tokenizer, embedding_weights=weights)
    SentenceTransformer(modules=[static, Normalize()], device="cpu").save(str(out))
    return load_model(out, device="cpu")


def onnx_variant(source: EmbeddingModel, out: Path) -> Path:
    """``source``'s real ONNX variant with its parity measured on :data:`QUERIES` x :data:`TEXTS`."""
    info = build_variant(source, "onnx", out)
    record_parity(out, info, source, load_model(out, device="cpu"), QUERIES, TEXTS)
    return out


def static_variant(source: EmbeddingModel, out: Path) -> Path:
    """A static model recorded as ``source``'s static variant, its (failing: another space) parity measured."""
    static = static_model(source, out)
    info = VariantInfo("static", "torch", source.info.name, source.fingerprint, settings={"dimension": 8})
    write_lineage(out, variant_lineage(info, static.fingerprint))
    record_parity(out, info, source, static, QUERIES, TEXTS)
    return out
