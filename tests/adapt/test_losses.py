from dataclasses import asdict

import pytest

from embedlab.adapt.finetune import FinetuneConfig
from embedlab.adapt.losses import LOSS_NAMES, LOSSES, loss_spec
from embedlab.errors import InputError


def test_every_loss_declares_its_columns_and_builds(model):
    assert tuple(LOSSES) == LOSS_NAMES
    for name, spec in LOSSES.items():
        loss = spec.build(model.st, asdict(FinetuneConfig(loss=name)))
        assert type(loss).__name__ == spec.st_class
        assert spec.columns[:2] in {("anchor", "positive"), ("sentence1", "sentence2")}
        assert spec.in_batch == (spec.columns[-1] == "negative_*")
    wrapped = loss_spec("cosent").build(model.st, asdict(FinetuneConfig(loss="cosent", matryoshka_dims=(384, 64))))
    assert type(wrapped).__name__ == "MatryoshkaLoss"
    assert LOSSES["cached_mnrl"].build(model.st, asdict(FinetuneConfig(mini_batch_size=4))).mini_batch_size == 4


def test_rows_need_the_negatives_the_loss_needs(tiny_train):
    with pytest.raises(InputError, match="needs 1"):
        LOSSES["triplet"].rows(tiny_train, None, 1)
    with pytest.raises(InputError, match="Unknown loss"):
        loss_spec("hinge")
