import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from embedlab import Encoder, load_model
from embedlab.adapt.data import read_training_pairs
from embedlab.adapt.finetune import FinetuneConfig, finetune
from embedlab.adapt.losses import training_rows
from embedlab.errors import InputError
from embedlab.registry import read_lineage

from .conftest import QUERIES


def test_training_rows_follow_each_loss(tiny_train):
    negatives = {q: ["dog"] for q in tiny_train.queries}
    mnrl = training_rows(tiny_train, negatives, "mnrl")
    assert list(mnrl) == ["anchor", "positive", "negative_1"] and len(mnrl["anchor"]) == 8
    triplet = training_rows(tiny_train, negatives, "triplet")
    assert list(triplet) == ["anchor", "positive", "negative"]
    scored = training_rows(tiny_train, negatives, "cosent")
    assert list(scored) == ["sentence1", "sentence2", "score"]
    assert scored["score"][:2] == [1.0, 0.0] and len(scored["score"]) == 16
    in_batch = training_rows(tiny_train, None, "mnrl")
    assert list(in_batch) == ["anchor", "positive"]


@pytest.mark.slow
def test_mnrl_loss_falls_and_the_saved_model_reloads_identically(tiny_train, model, tmp_path):
    before = Encoder(model, show_progress=False).encode(list(QUERIES.values()))
    # One batch holds all eight pairs, so every step sees the same batch and the losses are comparable.
    config = FinetuneConfig(epochs=4, batch_size=8, lr=1e-4, checkpoint_steps=1)
    result = finetune(model, tiny_train, out=tmp_path / "ft", config=config, show_progress=False)
    assert len(result.losses) == 4
    assert result.losses[-1] < result.losses[0]
    texts = list(QUERIES.values())
    assert result.model is not None
    in_memory = result.model.encode(texts)
    np.testing.assert_allclose(SentenceTransformer(str(result.path), device="cpu").encode(texts), in_memory, atol=1e-5)
    np.testing.assert_allclose(load_model(result.path, device="cpu").st.encode(texts), in_memory, atol=1e-5)
    assert np.abs(in_memory - before).max() > 1e-3  # it did train
    # The caller's model is untouched.
    np.testing.assert_allclose(Encoder(model, show_progress=False).encode(texts), before, atol=1e-6)
    lineage = read_lineage(result.path)
    assert lineage is not None and lineage.method == "finetune"
    assert lineage.base_fingerprint == model.info.fingerprint and lineage.fingerprint != model.info.fingerprint
    assert lineage.data["pairs"] == 8 and lineage.params["lr"] == 1e-4
    assert not (tmp_path / ".ft.work").exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    "config",
    [
        FinetuneConfig(loss="cached_mnrl", mini_batch_size=2, negatives="bm25"),
        FinetuneConfig(loss="triplet", negatives="random"),
        FinetuneConfig(loss="contrastive"),
        FinetuneConfig(loss="cosine"),
        FinetuneConfig(loss="cosent", matryoshka_dims=(384, 128, 32)),
    ],
    ids=lambda config: config.loss + ("+matryoshka" if config.matryoshka_dims else ""),
)
def test_every_loss_trains_and_saves(config, tiny_train, model, tmp_path):
    config.batch_size, config.max_steps = 4, 2
    result = finetune(model, tiny_train, out=tmp_path / "m", config=config, show_progress=False)
    assert result.losses and all(np.isfinite(result.losses))
    assert SentenceTransformer(str(result.path), device="cpu").encode(["a query"]).shape == (1, 384)


@pytest.mark.slow
def test_curriculum_trains_one_stage_per_epoch_easy_to_hard(tiny_train, model, tmp_path):
    config = FinetuneConfig(negatives="curriculum", epochs=3, batch_size=4, max_steps=1)
    result = finetune(model, tiny_train, out=tmp_path / "c", config=config, dev=tiny_train, show_progress=False)
    assert result.lineage.params["stages"] == ["random", "bm25", "embedding"]
    assert [entry.get("negatives") for entry in result.dev] == [None, "random", "bm25", "embedding"]
    assert result.lineage.metrics["dev"]["ndcg@10"] >= result.lineage.metrics["dev_base"]["ndcg@10"]


def test_output_that_exists_or_empty_data_is_refused(tiny_train, model, tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(InputError, match="already exists"):
        finetune(model, tiny_train, out=tmp_path / "taken")
    with pytest.raises(InputError, match="Unknown loss"):
        FinetuneConfig(loss="hinge")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="matryoshka"):
        finetune(model, tiny_train, out=tmp_path / "m", config=FinetuneConfig(matryoshka_dims=(512,)))


def test_pairs_file_becomes_a_training_set(tmp_path):
    path = tmp_path / "pairs.jsonl"
    rows = [
        {"query": "a", "document": "doc one", "negative": "doc three"},
        {"query": "a", "document": "doc two"},
        {"query": "b", "document": "doc one"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    train = read_training_pairs(path)
    assert train.n_pairs == 3 and len(train.queries) == 2 and len(train.corpus) == 3
    assert [train.corpus[d] for d in train.negatives["q0"]] == ["doc three"]
    path.write_text(json.dumps({"query": "a", "document": ""}))
    with pytest.raises(InputError, match=r"\.jsonl:1: an empty"):
        read_training_pairs(path)


RESUMABLE = """
import json, sys
from embedlab.adapt.data import read_training_pairs
from embedlab.adapt.finetune import FinetuneConfig, finetune
train = read_training_pairs(sys.argv[1])
config = FinetuneConfig(epochs=12, batch_size=4, checkpoint_steps=4, lr=1e-5)
result = finetune(None, train, out=sys.argv[2], config=config, show_progress=False)
steps = [entry["step"] for entry in result.history if "loss" in entry]
print(json.dumps({"resumed": result.resumed, "first_step": min(steps), "last_step": max(steps)}))
"""


@pytest.mark.slow
def test_a_killed_run_resumes_from_its_last_checkpoint(tiny_train, tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("\n".join(json.dumps({"anchor": QUERIES[k], "positive": tiny_train.corpus[k]}) for k in QUERIES))
    script, out = tmp_path / "train.py", tmp_path / "model"
    script.write_text(RESUMABLE)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, str(script), str(pairs), str(out)]
    run = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    checkpoints = tmp_path / ".model.work" / "stage-0" / "checkpoints"
    deadline = time.monotonic() + 300
    while not list(checkpoints.glob("checkpoint-*/trainer_state.json")) and time.monotonic() < deadline:
        assert run.poll() is None, "training ended before its first checkpoint"
        time.sleep(0.2)
    time.sleep(0.5)  # let the checkpoint finish writing its files
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert not out.exists()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=True)
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["resumed"] and summary["first_step"] > 1 and summary["last_step"] == 24
    assert SentenceTransformer(str(out), device="cpu").encode(["x"]).shape == (1, 384)
