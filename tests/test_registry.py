import json
import threading

import numpy as np
import pytest

from embedlab import load_model
from embedlab.errors import InputError, ModelNotFoundError
from embedlab.models import bundled_model_dir
from embedlab.registry import Lineage, ModelRegistry, data_hash, read_lineage, save_model, write_lineage


def _lineage(model, **metrics) -> Lineage:
    return Lineage(method="test", base="bundled", base_fingerprint=model.info.fingerprint, metrics=metrics)


def test_registered_model_loads_by_name_with_its_lineage(model, tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDLAB_HOME", str(tmp_path))
    registry = ModelRegistry()
    path = registry.save(model.st, "mine", _lineage(model, dev={"ndcg@10": 0.5}))
    assert path == tmp_path / "models" / "mine"
    loaded = load_model("mine", device="cpu")
    assert loaded.info.source == "registry" and loaded.info.fingerprint == model.info.fingerprint
    np.testing.assert_allclose(loaded.st.encode(["hi"]), model.st.encode(["hi"]), atol=1e-6)
    entry = registry.get("mine")
    assert entry.lineage.fingerprint == model.info.fingerprint and entry.lineage.created
    assert [e.name for e in registry.entries()] == ["mine"]


def test_compare_lines_up_every_recorded_metric(model, tmp_path):
    registry = ModelRegistry(tmp_path)
    registry.save(model.st, "a", _lineage(model, dev={"ndcg@10": 0.5}))
    registry.save(model.st, "b", _lineage(model, dev={"ndcg@10": 0.7}, test={"ndcg@10": 0.6}))
    rows = registry.compare(["a", "b"])
    assert [row["dev.ndcg@10"] for row in rows] == [0.5, 0.7]
    assert [row["test.ndcg@10"] for row in rows] == [None, 0.6]
    with pytest.raises(ModelNotFoundError, match="registered: a, b"):
        registry.get("c")


def test_saves_never_overwrite_and_are_atomic(model, tmp_path, monkeypatch):
    with pytest.raises(InputError, match="base model"):
        save_model(model.st, bundled_model_dir(), Lineage("x", str(bundled_model_dir()), "f"), overwrite=True)
    out = save_model(model.st, tmp_path / "m", _lineage(model))
    with pytest.raises(InputError, match="already exists"):
        save_model(model.st, out, _lineage(model))

    def broken_save(path: str) -> None:
        (tmp_path / "half-written").write_text("")
        raise OSError("disk full")

    monkeypatch.setattr(model.st, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_model(model.st, tmp_path / "other", _lineage(model))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["half-written", "m"]  # no partial model, no temp dir
    assert read_lineage(out) is not None


def test_a_corrupt_lineage_file_is_a_clear_error(model, tmp_path):
    out = save_model(model.st, tmp_path / "m", _lineage(model))
    (out / "embedlab.json").write_text("{not json")
    with pytest.raises(InputError, match="lineage"):
        read_lineage(out)


def test_data_hash_depends_on_content_and_order():
    assert data_hash([("q", "d")]) == data_hash([("q", "d")])
    assert data_hash([("q", "d"), ("r", "e")]) != data_hash([("r", "e"), ("q", "d")])
    assert len(json.dumps(data_hash([]))) == 18


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[1, 2]", "a JSON object is expected, not list"),
        ('{"method": "x"}', "missing base, base_fingerprint"),
        ('{"method": "x", "base": "b", "base_fingerprint": "f", "metrics": [1]}', "wrong type of metrics"),
        ("\x00\xff binary", "not a readable lineage file"),
    ],
)
def test_lineage_files_of_the_wrong_shape_are_clear_errors(tmp_path, content, message):
    (tmp_path / "embedlab.json").write_text(content, encoding="latin-1")
    with pytest.raises(InputError, match=message):
        read_lineage(tmp_path)


def test_one_unreadable_entry_does_not_hide_the_others(tmp_path):
    registry = ModelRegistry(tmp_path)
    for name, content in (("good", {"method": "m", "base": "b", "base_fingerprint": "f"}), ("bad", [1, 2])):
        (tmp_path / name).mkdir()
        (tmp_path / name / "embedlab.json").write_text(json.dumps(content))
    found, unreadable = registry.scan()
    assert [entry.name for entry in found] == [entry.name for entry in registry.entries()] == ["good"]
    assert [(bad.name, "not list" in bad.reason) for bad in unreadable] == [("bad", True)]
    with pytest.raises(InputError, match="not a readable lineage file"):
        registry.compare(["good", "bad"])


def test_lineage_rewritten_from_threads_at_once_stays_whole(tmp_path):
    """Adding metrics from several threads (a server, parallel evaluations) never tears or loses the file."""
    lineages = [Lineage(method="test", base="bundled", base_fingerprint="f", params={"n": i}) for i in range(8)]
    errors: list[BaseException] = []

    def rewrite(lineage: Lineage) -> None:
        try:
            for _ in range(25):
                write_lineage(tmp_path, lineage)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=rewrite, args=(lineage,)) for lineage in lineages]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert read_lineage(tmp_path).params in [{"n": i} for i in range(8)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["embedlab.json"]
