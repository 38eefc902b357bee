"""Adapt an embedding model to a domain, and keep what was done with the model.

- :func:`finetune`: contrastive fine-tuning (MNRL, cached MNRL, triplet, contrastive, cosine, CoSENT,
  optional Matryoshka) with the sentence-transformers trainer, dev evaluation and resume.
- :func:`mine_negatives` / :func:`curriculum`: random, BM25 and embedding negatives behind a
  false-negative guard, easy to hard.
- :func:`tsdae`: denoising auto-encoder on unlabelled text.
- :func:`augmented_sbert`: a cross-encoder labels silver pairs for the bi-encoder.
- :func:`synthesize`: doc2query through an OpenAI-compatible endpoint, or inverse cloze, round-trip filtered.
- :func:`adapt_auto`: choose the strategy from the data, adapt, evaluate base vs adapted, and keep the
  base unless the adapted model is significantly better (:func:`decide`).

Example:
    >>> from embedlab.adapt import TrainingSet, finetune  # fine-tuning takes minutes  # doctest: +SKIP
    >>> result = finetune(None, TrainingSet.from_benchmark(train_split), out="models/mine")  # doctest: +SKIP
"""

from embedlab.adapt.augsbert import augmented_sbert, train_cross_encoder
from embedlab.adapt.auto import adapt_auto, choose_strategy
from embedlab.adapt.data import TrainingSet, load_training, read_training_pairs
from embedlab.adapt.decision import Decision, decide
from embedlab.adapt.doc2query import doc2query
from embedlab.adapt.finetune import AdaptResult, FinetuneConfig, finetune
from embedlab.adapt.negatives import curriculum, mine_negatives
from embedlab.adapt.synthetic import inverse_cloze, synthesize
from embedlab.adapt.tsdae import tsdae

__all__ = [
    "AdaptResult",
    "Decision",
    "FinetuneConfig",
    "TrainingSet",
    "adapt_auto",
    "augmented_sbert",
    "choose_strategy",
    "curriculum",
    "decide",
    "doc2query",
    "finetune",
    "inverse_cloze",
    "load_training",
    "mine_negatives",
    "read_training_pairs",
    "synthesize",
    "train_cross_encoder",
    "tsdae",
]
