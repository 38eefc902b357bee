"""TSDAE: adapt a model to a domain from unlabelled text (Wang, Reimers & Gurevych, 2021).

Each sentence is damaged by deleting words (60% by default); the model encodes the damaged sentence
into one vector, and a decoder must rebuild the original sentence from that vector alone. The decoder is
the base model's own transformer with cross-attention and a language-model head added, its weights tied
to the encoder's as in the paper, so training changes one set of transformer weights.

- :func:`delete_noise` is the deletion noise, with a regex tokeniser (no nltk data);
- :func:`prepare_sentences` splits documents into sentences (:mod:`embedlab.adapt.text`), dedupes them,
  drops short ones and takes a seeded sample;
- :func:`tsdae` trains with sentence-transformers' ``DenoisingAutoEncoderLoss`` and
  ``SentenceTransformerTrainer`` and saves the encoder alone, in standard sentence-transformers format,
  with its lineage (:func:`embedlab.registry.save_model`).

The paper pools with the CLS token; here the base model's own module stack (for all-MiniLM-L6-v2: mean
pooling, then normalisation) is kept during training and in the result, because changing the pooling
would make another model than the one being adapted.

Example:
    >>> result = tsdae(None, documents, out="models/scifact-tsdae")  # trains for minutes  # doctest: +SKIP
    >>> result.path, result.steps, result.losses[-1]  # doctest: +SKIP
    (PosixPath('.../models/scifact-tsdae'), 200, 7.12)
"""

from __future__ import annotations

import copy
import itertools
import json
import random
import re
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from embedlab.adapt.base import trainable
from embedlab.adapt.finetune import AdaptResult
from embedlab.adapt.text import split_sentences
from embedlab.encode.text import quiet_loggers
from embedlab.errors import InputError, ModelNotFoundError
from embedlab.models import EmbeddingModel
from embedlab.registry import Lineage, data_hash, save_model

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from torch import nn
    from transformers import PreTrainedModel

#: Sentences sampled by default: 200 steps of 8, 5-10 minutes on 2 busy CPU cores with all-MiniLM-L6-v2.
DEFAULT_MAX_SENTENCES = 1600

# A word (letters, digits, with inner hyphens, apostrophes, periods or commas: "3.5", "don't", "T-cell")
# or a single punctuation mark, as nltk's word_tokenize would split them.
_TOKEN = re.compile(r"\w+(?:[-'’.,/]\w+)*|[^\w\s]")


@dataclass
class TsdaeResult(AdaptResult):
    """:class:`AdaptResult` (folder, lineage, trained model, trainer log) plus what TSDAE trained on."""

    sentences: int = 0
    steps: int = 0
    seconds: float = 0.0
    tied_parameters: int = 0  # encoder tensors that are the decoder's own tensors during training


def delete_noise(text: str, ratio: float = 0.6, rng: np.random.Generator | int | None = None) -> str:
    """``text`` with each token deleted with probability ``ratio``; at least one token always stays.

    Tokens are words (``3.5``, ``T-cell`` and ``don't`` count as one) and single punctuation marks. The
    kept tokens are joined with a space where the original had whitespace between them, so punctuation
    stays attached as it was. ``rng`` is a numpy generator or a seed; the same seed gives the same result.

    Example:
        >>> delete_noise("The cat sat on the mat, didn't it?", 0.6, rng=0)
        "The the mat, didn't ?"
    """
    if not 0.0 <= ratio < 1.0:
        raise InputError(f"The deletion ratio must be in [0, 1), got {ratio}.")
    generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    tokens = list(_TOKEN.finditer(text))
    if not tokens:
        return text
    keep = generator.random(len(tokens)) >= ratio
    if not keep.any():
        keep[generator.integers(len(tokens))] = True
    kept = [token for token, kept_it in zip(tokens, keep, strict=True) if kept_it]
    parts = [kept[0].group()]
    for before, token in itertools.pairwise(kept):
        gap = text[before.end() : token.start()]
        parts.append((" " if any(char.isspace() for char in gap) else "") + token.group())
    return "".join(parts)


def prepare_sentences(
    texts: Sequence[str],
    *,
    min_words: int = 5,
    max_words: int | None = 64,
    max_sentences: int | None = None,
    seed: int = 0,
) -> list[str]:
    """Training sentences from documents: split, whitespace-normalised, deduplicated, length-filtered, sampled.

    Sentences of fewer than ``min_words`` or more than ``max_words`` words are dropped. With
    ``max_sentences``, a seeded uniform sample of that many is taken (in their original order).

    Example:
        >>> prepare_sentences(["A first short sentence here. A first short sentence here. Too short."])
        ['A first short sentence here.']
    """
    seen: dict[str, None] = {}
    for text in texts:
        for sentence in split_sentences(text, min_words=min_words, max_words=max_words):
            seen.setdefault(" ".join(sentence.split()), None)
    sentences = list(seen)
    if max_sentences is not None and max_sentences < len(sentences):
        if max_sentences < 1:
            raise InputError(f"max_sentences must be at least 1, got {max_sentences}.")
        chosen = sorted(random.Random(seed).sample(range(len(sentences)), max_sentences))
        sentences = [sentences[i] for i in chosen]
    return sentences


def tsdae(
    base: EmbeddingModel | str | Path | None,
    texts: Sequence[str],
    *,
    out: str | Path,
    noise: float = 0.6,
    epochs: int = 1,
    batch_size: int = 8,
    lr: float = 3e-5,
    max_sentences: int | None = DEFAULT_MAX_SENTENCES,
    min_words: int = 5,
    max_words: int | None = 64,
    seed: int = 0,
    show_progress: bool = True,
    overwrite: bool = False,
) -> TsdaeResult:
    """Adapt ``base`` to the domain of ``texts`` with TSDAE and save it to ``out`` with its lineage.

    Args:
        base: a loaded model (left untouched: a copy is trained), a spec for :func:`load_model`, or
            ``None`` for the bundled all-MiniLM-L6-v2. Its files must be on disk: the decoder is built
            from them.
        texts: unlabelled documents or sentences from the target domain; documents are split into
            sentences (:func:`prepare_sentences`).
        out: the folder to save the adapted model to (never the base model's own folder).
        noise: the share of words deleted from each sentence (the paper's 0.6).
        epochs: passes over the sentences; each pass damages every sentence anew.
        batch_size: sentences per step (the paper's 8).
        lr: the learning rate (the paper's 3e-5), constant, AdamW without weight decay.
        max_sentences: a seeded sample of this many sentences (``None``: all). The default keeps a run
            on 2 CPU cores to minutes; the paper used 10k-100k sentences.
        min_words: shorter sentences are dropped.
        max_words: longer sentences are dropped (``None``: none).
        seed: seeds the sample, the noise, the data order and the new decoder weights.
        show_progress: the trainer's progress bar.
        overwrite: replace an existing model at ``out``.

    Raises:
        InputError: no usable sentence, bad parameters, or ``out`` is the base model's folder.
        ModelNotFoundError: the base model has no files on disk, or its architecture cannot decode.

    Example:
        >>> # not run: trains for a minute
        >>> result = tsdae(None, ["Some domain text. More of it here."], out="adapted")  # doctest: +SKIP
        >>> SentenceTransformer(str(result.path))  # a plain sentence-transformers folder  # doctest: +SKIP
    """
    if epochs < 1 or batch_size < 1 or lr <= 0:
        raise InputError(f"epochs and batch_size must be at least 1 and lr positive, got {epochs}, {batch_size}, {lr}.")
    if not 0.0 <= noise < 1.0:
        raise InputError(f"noise must be in [0, 1), got {noise}.")
    started = time.perf_counter()
    base_model = trainable(base)
    transformer_dir = _transformer_dir(base_model)
    out = Path(out).expanduser().resolve()
    base_dir = Path(base_model.info.path).resolve()
    if out == base_dir or base_dir in out.parents:
        raise InputError(f"Refusing to write into the base model's folder {base_dir}; choose another output folder.")

    sentences = prepare_sentences(
        texts, min_words=min_words, max_words=max_words, max_sentences=max_sentences, seed=seed
    )
    if not sentences:
        raise InputError(f"No sentence of {min_words} to {max_words} words in the {len(texts)} texts given.")
    rng = np.random.default_rng(seed)
    damaged: list[str] = []
    original: list[str] = []
    for _ in range(epochs):
        damaged.extend(delete_noise(sentence, noise, rng) for sentence in sentences)
        original.extend(sentences)

    st = copy.deepcopy(base_model.st)  # training changes weights in place; the caller's model stays as it was
    history, steps, tied = _train(st, transformer_dir, damaged, original, batch_size, lr, seed, show_progress)
    losses = [float(entry["loss"]) for entry in history if "loss" in entry]
    seconds = time.perf_counter() - started

    lineage = Lineage(
        method="tsdae",
        base=base_model.info.name if base_model.info.source == "bundled" else base_model.info.path,
        base_fingerprint=base_model.fingerprint,
        data_hash=data_hash([sentence] for sentence in sentences),
        data={"texts": len(texts), "sentences": len(sentences), "pairs": len(original)},
        params={
            "noise": noise,
            "epochs": epochs,
            "batch_size": batch_size,
            "lr": lr,
            "lr_schedule": "constant",
            "max_sentences": max_sentences,
            "min_words": min_words,
            "max_words": max_words,
            "seed": seed,
            "steps": steps,
            "tied_parameters": tied,
            "modules": [type(module).__name__ for module in st],
            "first_loss": losses[0] if losses else None,
            "final_loss": losses[-1] if losses else None,
        },
        seconds=round(seconds, 1),
    )
    path = save_model(st, out, lineage, overwrite=overwrite)
    return TsdaeResult(
        path, lineage, st, history, sentences=len(sentences), steps=steps, seconds=seconds, tied_parameters=tied
    )


def _transformer_dir(model: EmbeddingModel) -> Path:
    """The folder of the base model's transformer (config and weights), which the decoder is built from."""
    from sentence_transformers.sentence_transformer.modules import Transformer

    if not isinstance(model.st[0], Transformer):
        raise ModelNotFoundError(
            f"TSDAE needs a transformer as the model's first module; {model.info.name} starts with "
            f"{type(model.st[0]).__name__}."
        )
    if not model.info.path or not Path(model.info.path).is_dir():
        raise ModelNotFoundError(
            f"TSDAE builds its decoder from the base model's files, and {model.info.name!r} has no folder on disk "
            "(an in-memory model). Save it first (`model.st.save('base-dir')`) and pass that folder."
        )
    root = Path(model.info.path)
    folder = root
    modules_file = root / "modules.json"
    if modules_file.is_file():
        for entry in json.loads(modules_file.read_text(encoding="utf-8")):
            if entry.get("idx") == 0 or entry.get("name") == "0":
                folder = root / entry.get("path", "")
                break
    if not (folder / "config.json").is_file():
        raise ModelNotFoundError(f"TSDAE needs the transformer's config.json in {folder}; it is not there.")
    return folder


def _train(
    st: SentenceTransformer,
    transformer_dir: Path,
    damaged: list[str],
    original: list[str],
    batch_size: int,
    lr: float,
    seed: int,
    show_progress: bool,
) -> tuple[list[dict[str, Any]], int, int]:
    """Train ``st`` in place; the trainer's log, the number of steps and of tied tensors."""
    import torch
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer.losses import DenoisingAutoEncoderLoss
    from transformers import PrinterCallback

    encoder = cast("PreTrainedModel", st[0].auto_model)
    # The installed loss builds the decoder from the encoder's config._name_or_path when tied (it ignores
    # decoder_name_or_path then); point it at the local folder so nothing is looked up on the hub.
    encoder.config._name_or_path = str(transformer_dir)
    weights = {name: tensor.detach().clone() for name, tensor in encoder.state_dict().items()}
    torch.manual_seed(seed)  # the decoder's new cross-attention and head weights
    try:
        with quiet_loggers("transformers", "sentence_transformers"):
            loss = DenoisingAutoEncoderLoss(st, decoder_name_or_path=None, tie_encoder_decoder=True)
    except (ValueError, OSError, AssertionError) as error:
        raise ModelNotFoundError(
            f"{transformer_dir} cannot serve as TSDAE's decoder (it needs a model class with a causal "
            f"language-model head, e.g. BERT's): {error}"
        ) from error
    # Tying makes the encoder use the decoder's tensors, loaded from disk: put back the weights the
    # model actually had (a caller's model may differ from its folder). The decoder shares them.
    encoder.load_state_dict(weights)
    tied = _count_tied(encoder, loss.decoder)
    if tied == 0:
        raise RuntimeError("The TSDAE decoder shares no weights with the encoder; tying failed.")

    batches = length_grouped_batches([len(text.split()) for text in original], batch_size, seed)
    steps = len(batches)
    with tempfile.TemporaryDirectory(prefix="embedlab-tsdae-") as scratch:
        args = SentenceTransformerTrainingArguments(
            output_dir=scratch,
            num_train_epochs=1,  # the epochs are already in the data, each with its own noise
            per_device_train_batch_size=batch_size,
            learning_rate=lr,
            lr_scheduler_type="constant",
            weight_decay=0.0,
            logging_steps=max(1, steps // 100),
            save_strategy="no",
            report_to="none",
            seed=seed,
            data_seed=seed,
            disable_tqdm=not show_progress,
            dataloader_pin_memory=torch.cuda.is_available(),
            batch_sampler=cast("Any", lambda dataset, **_: _FixedBatches(batches)),
        )
        dataset = Dataset.from_dict({"damaged": damaged, "original": original})
        trainer = SentenceTransformerTrainer(model=st, args=args, train_dataset=dataset, loss=loss)
        trainer.remove_callback(PrinterCallback)
        # the decoder's padding notice: pads are not scored
        with quiet_loggers("transformers", "sentence_transformers"):
            trainer.train()
        history = list(trainer.state.log_history)
        steps = int(trainer.state.global_step)
    st.eval()
    return history, steps, tied


def length_grouped_batches(lengths: Sequence[int], batch_size: int, seed: int, pool: int = 64) -> list[list[int]]:
    """Shuffled batches of indices, each drawn from texts of similar length, to spend less time on padding.

    The indices are shuffled, cut into pools of ``pool`` batches, each pool sorted by length and cut into
    batches, and the batches shuffled: every index appears once, batch order stays random.

    Example:
        >>> sorted(map(sorted, length_grouped_batches([5, 1, 4, 2], 2, seed=0)))
        [[0, 2], [1, 3]]
    """
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches: list[list[int]] = []
    for start in range(0, len(order), batch_size * pool):
        chunk = sorted(order[start : start + batch_size * pool], key=lambda index: lengths[index])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


class _FixedBatches:
    """A batch sampler that yields precomputed batches (the trainer's samplers cannot group by length)."""

    def __init__(self, batches: list[list[int]]) -> None:
        self.batches = batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def _count_tied(encoder: nn.Module, decoder: nn.Module) -> int:
    """How many of the encoder's parameters are the very same tensors as the decoder's."""
    decoder_ids = {id(parameter) for parameter in decoder.parameters()}
    return sum(id(parameter) in decoder_ids for parameter in encoder.parameters())
