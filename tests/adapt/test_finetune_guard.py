"""A fine-tune must train: warmup never takes every step, and an unchanged model is never registered."""

from __future__ import annotations

from pathlib import Path

import pytest

from embedlab import EmbeddingModel, load_model
from embedlab.adapt.data import TrainingSet
from embedlab.adapt.finetune import FinetuneConfig, _warmup_steps, finetune
from embedlab.errors import InputError


@pytest.mark.parametrize(
    ("planned", "max_steps", "ratio", "expected"),
    [(1, -1, 0.1, 0), (2, -1, 0.1, 1), (10, -1, 0.1, 1), (100, -1, 0.1, 10), (100, 3, 0.5, 2), (5, -1, 1.0, 4)],
)
def test_warmup_never_takes_every_step(planned: int, max_steps: int, ratio: float, expected: int) -> None:
    assert _warmup_steps(planned, FinetuneConfig(warmup_ratio=ratio, max_steps=max_steps)) == expected


@pytest.mark.slow
def test_one_batch_with_the_default_warmup_still_trains(
    tiny_train: TrainingSet, model: EmbeddingModel, tmp_path: Path
) -> None:
    config = FinetuneConfig(batch_size=8)  # eight pairs: one step, which the default warmup used to run at lr 0
    result = finetune(model, tiny_train, out=tmp_path / "ft", config=config, show_progress=False)
    assert result.lineage.fingerprint != model.fingerprint
    assert load_model(result.path, device="cpu").fingerprint == result.lineage.fingerprint


@pytest.mark.slow
def test_a_run_that_changes_no_weight_is_refused(
    tiny_train: TrainingSet, model: EmbeddingModel, tmp_path: Path
) -> None:
    config = FinetuneConfig(batch_size=8, lr=1e-300)  # a valid rate whose updates vanish in float32
    with pytest.raises(InputError, match=r"Training changed nothing.*not saved as a fine-tune"):
        finetune(model, tiny_train, out=tmp_path / "ft", config=config, show_progress=False)
    assert sorted(path.name for path in tmp_path.iterdir()) == []  # nothing registered, no work folder left
