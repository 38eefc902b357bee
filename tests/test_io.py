from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from embedlab import EmbeddingModel, InputError, read_embeddings, read_texts, write_embeddings
from embedlab.adapt.data import read_training_pairs
from embedlab.evaluate import load_pairs
from embedlab.io import read_records, writable_files, writable_folder, writable_path


def test_txt_one_text_per_line_blank_lines_skipped(tmp_path: Path) -> None:
    path = tmp_path / "in.txt"
    path.write_text("first\n\nsecond\n   \nthird\n", encoding="utf-8")
    records = read_texts(path)
    assert records.texts == ["first", "second", "third"]
    assert records.ids == ["1", "3", "5"]
    assert records.skipped_blank_lines == 2


def test_jsonl_csv_tsv_parquet_agree(tmp_path: Path) -> None:
    rows = [{"_id": "a", "title": "T1", "text": "alpha"}, {"_id": "b", "title": "", "text": "beta, with comma"}]
    (tmp_path / "in.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    (tmp_path / "in.csv").write_text('_id,title,text\na,T1,alpha\nb,,"beta, with comma"\n', encoding="utf-8")
    (tmp_path / "in.tsv").write_text("_id\ttitle\ttext\na\tT1\talpha\nb\t\tbeta, with comma\n", encoding="utf-8")
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "in.parquet")
    for suffix in ("jsonl", "csv", "tsv", "parquet"):
        records = read_texts(tmp_path / f"in.{suffix}", title_field="title")
        assert records.ids == ["a", "b"], suffix
        assert records.texts == ["alpha", "beta, with comma"], suffix
        assert records.titles == ["T1", None], suffix


def test_custom_fields_and_row_number_ids(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('{"body": "x", "key": 7}\n{"body": "y", "key": 8}\n', encoding="utf-8")
    assert read_texts(path, text_field="body", id_field="key").ids == ["7", "8"]
    assert read_texts(path, text_field="body").ids == ["0", "1"]


def test_non_utf8_file_names_byte_and_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("fine line\ncaf\xe9 au lait\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"not valid UTF-8 at byte 13 \(line 2\).*iconv"):
        read_texts(path)


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffid,text\n1,hello\n".encode())
    assert read_texts(path).texts == ["hello"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"text": "ok"}\n{"text": broken}\n', r"in.jsonl:2: not valid JSON"),
        ('{"text": "ok"}\n["a list"]\n', r"in.jsonl:2: each line must be a JSON object"),
        ('{"body": "ok"}\n', r"no text field 'text'; fields are: body"),
        ('{"text": "ok"}\n{"text": null}\n', r"in.jsonl:2: NoneType in 'text', not a string"),
        ('\n{"text": "ok"}\n\n{"text": 3}\n', r"in.jsonl:4: int in 'text'"),  # the line, blank lines counted
        ('{"id": 1, "text": "a"}\n{"id": 1, "text": "b"}\n', r"ids must be unique; repeated: 1"),
    ],
)
def test_malformed_records_are_named(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        read_texts(path)


def test_unknown_format_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown input format"):
        read_texts(tmp_path / "in.docx")
    with pytest.raises(InputError, match="no such file"):
        read_texts(tmp_path / "missing.txt")


@pytest.mark.parametrize("suffix", [".parquet", ".npy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int8, np.uint8])
def test_embeddings_round_trip_with_ids_and_model(
    tmp_path: Path, model: EmbeddingModel, suffix: str, dtype: type
) -> None:
    vectors = (np.arange(12).reshape(3, 4) - 5).astype(dtype)
    path = write_embeddings(tmp_path / f"out{suffix}", ["a", "b", "c"], vectors, info=model.info, precision="int8")
    back = read_embeddings(path)
    assert back.ids == ["a", "b", "c"]
    np.testing.assert_array_equal(back.vectors, vectors)
    assert back.vectors.dtype == dtype
    assert back.meta["model"]["fingerprint"] == model.fingerprint
    assert back.meta["precision"] == "int8"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"out{suffix}"] + (["out.meta.json"] if suffix == ".npy" else [])
    )  # no temporary files left behind


def test_write_refuses_mismatched_ids_and_unknown_format(tmp_path: Path, model: EmbeddingModel) -> None:
    with pytest.raises(InputError, match="2 ids for 3 vectors"):
        write_embeddings(tmp_path / "o.parquet", ["a", "b"], np.zeros((3, 4)), info=model.info)
    with pytest.raises(InputError, match="Unknown precision 'x'"):  # read_embeddings would refuse the file
        write_embeddings(tmp_path / "o.parquet", ["a"], np.zeros((1, 4)), info=model.info, precision="x")
    with pytest.raises(InputError, match=r"parquet or \.npy"):
        write_embeddings(tmp_path / "o.csv", ["a"], np.zeros((1, 4)), info=model.info)


def test_corrupt_embeddings_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"garbage")
    with pytest.raises(InputError, match="corrupt"):
        read_embeddings(path)


def test_only_line_feeds_split_lines(tmp_path: Path) -> None:
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text(json.dumps({"id": "a", "text": "one\u2028two"}, ensure_ascii=False) + "\n", encoding="utf-8")
    assert read_texts(jsonl).texts == ["one\u2028two"]
    txt = tmp_path / "in.txt"
    txt.write_text("first\x0cstill first\r\nsecond\n", encoding="utf-8")
    records = read_texts(txt)
    assert (records.ids, records.texts) == (["1", "2"], ["first\x0cstill first", "second"])


def test_tsv_quotes_are_text_and_rows_must_be_complete(tmp_path: Path) -> None:
    path = tmp_path / "in.tsv"
    path.write_text('id\ttext\n1\t"quoted" start\n2\tan "inner\n3\tend"\n', encoding="utf-8")
    assert read_texts(path).texts == ['"quoted" start', 'an "inner', 'end"']
    path.write_text("id\ttext\n1\tfine\n2\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"in.tsv:3: expected 2 fields"):
        read_texts(path)


def test_npy_and_sidecar_out_of_step(tmp_path: Path, model: EmbeddingModel) -> None:
    write_embeddings(tmp_path / "a.npy", ["x", "y", "z"], np.zeros((3, 4), np.float32), info=model.info)
    np.save(tmp_path / "a.npy", np.zeros((2, 4), np.float32))  # as if the sidecar belonged to another write
    with pytest.raises(InputError, match="out of step"):
        read_embeddings(tmp_path / "a.npy")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('id,text\n1,"unterminated\n2,ok\n', r"in.csv:2: malformed CSV .*never closed"),
        ('id,text\n1,"two\nlines"\n2,"ok" trailing\n', r"in.csv:4: malformed CSV \(',' expected after '\"'\)"),
        ("id,text,text\n1,a,b\n", r"in.csv:1: the header repeats the columns text"),
        ('id,text\n1,"a\nb"\n\n2,x,extra\n', r"in.csv:5: expected 2 fields \(id, text\), got 3"),
    ],
)
def test_malformed_csv_is_an_error_with_its_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "in.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        read_texts(path)


def test_quotes_that_are_text_and_quoted_line_breaks_still_read(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text('id,text\n1,a 5" screen\n2,"say ""hi""\nthen, go"\n\n3,end\n', encoding="utf-8")
    rows = read_records(path)
    assert [row["text"] for row in rows] == ['a 5" screen', 'say "hi"\nthen, go', "end"]
    assert [rows.where(i) for i in range(3)] == [f"{path}:2", f"{path}:3", f"{path}:6"]


def test_parquet_rows_are_named_by_row(tmp_path: Path) -> None:
    pq.write_table(pa.Table.from_pylist([{"text": "a"}, {"text": None}]), tmp_path / "in.parquet")
    with pytest.raises(InputError, match=r"in.parquet: row 2: NoneType in 'text'"):
        read_texts(tmp_path / "in.parquet")


def test_jsonl_rows_of_pairs_are_named_by_their_line(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text('{"text1": "a", "text2": "b", "score": "high"}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"pairs.jsonl:1: expected 'text1,text2,score'"):
        load_pairs(pairs)
    pairs.write_text('{"anchor": "", "positive": "b"}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"pairs.jsonl:1: an empty 'anchor'"):
        read_training_pairs(pairs)
    headerless = tmp_path / "sts.csv"
    headerless.write_text('a,b,1\n"c,d,2\ne,f,3\n', encoding="utf-8")  # would be one pair and a long text
    with pytest.raises(InputError, match=r"sts.csv:2: malformed CSV"):
        load_pairs(headerless)


@pytest.mark.parametrize(
    ("sidecar", "message"),
    [
        ("[1, 2]", "metadata is not a JSON object"),
        ('{"ids": 5, "count": "2"}', r"damaged \('ids' is not a list; 'count' is not a whole number\)"),
        ('{"precision": "int4", "model": [1]}', r"unknown precision 'int4'; 'model' is not an object"),
    ],
)
def test_damaged_embedding_metadata_is_a_clear_error(tmp_path: Path, sidecar: str, message: str) -> None:
    np.save(tmp_path / "e.npy", np.zeros((2, 4), np.float32))
    (tmp_path / "e.meta.json").write_text(sidecar)
    with pytest.raises(InputError, match=message):
        read_embeddings(tmp_path / "e.npy")


def test_embedding_files_that_are_not_vectors_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "empty.npy").write_bytes(b"")
    with pytest.raises(InputError, match=r"cannot read embeddings \(EOFError"):
        read_embeddings(tmp_path / "empty.npy")
    np.save(tmp_path / "text.npy", np.array([["a", "b"]]))
    with pytest.raises(InputError, match="must be real numbers"):
        read_embeddings(tmp_path / "text.npy")
    column = pa.FixedSizeListArray.from_arrays(pa.array([1.0, 2.0]), 2)
    pq.write_table(
        pa.table({"embedding": column}).replace_schema_metadata({b"embedlab": b"[1]"}), tmp_path / "m.parquet"
    )
    with pytest.raises(InputError, match="metadata is not a JSON object"):
        read_embeddings(tmp_path / "m.parquet")
    (tmp_path / "folder.parquet").mkdir()
    with pytest.raises(InputError, match="is a folder; give a file"):
        read_embeddings(tmp_path / "folder.parquet")
    with pytest.raises(InputError, match="is a folder; give a file"):
        read_texts(tmp_path / "folder.parquet")


def test_outputs_that_cannot_be_written_are_refused_before_any_work(tmp_path: Path, model: EmbeddingModel) -> None:
    (tmp_path / "out.parquet").mkdir()
    with pytest.raises(InputError, match="is a folder; give a file name"):
        write_embeddings(tmp_path / "out.parquet", ["a"], np.zeros((1, 4), np.float32), info=model.info)
    (tmp_path / "file.txt").write_text("mine")
    with pytest.raises(InputError, match=r"file\.txt is a file, not a folder"):
        writable_path(tmp_path / "file.txt" / "sub" / "out.npy")
    assert (tmp_path / "file.txt").read_text() == "mine"
    with pytest.raises(InputError) as refused:  # the path is named once when it is the file itself
        writable_folder(tmp_path / "file.txt")
    assert str(refused.value) == f"{tmp_path / 'file.txt'} is a file, not a folder."


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"id": "a", "text": "x"}\n{"text": "y"}\n', r"in.jsonl:2: NoneType in 'id', not a string or an integer"),
        ('{"id": {"a": 1}, "text": "x"}\n', r"in.jsonl:1: dict in 'id'"),
        ('{"id": true, "text": "x"}\n', r"in.jsonl:1: bool in 'id'"),
        ('{"id": 1, "text": "x", "title": ["t"]}\n', r"in.jsonl:1: list in 'title', not a title"),
    ],
)
def test_ids_and_titles_of_the_wrong_type_are_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        read_texts(path, title_field="title" if "title" in content else None)


def test_writable_files_checks_every_name_before_making_the_folder(tmp_path: Path) -> None:
    assert writable_files(tmp_path / "new" / "out", "a.json", "b.html") == [
        tmp_path / "new" / "out" / "a.json", tmp_path / "new" / "out" / "b.html"
    ]  # fmt: skip
    assert (tmp_path / "new" / "out").is_dir()
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(InputError, match="is a file, not a folder"):
        writable_files(tmp_path / "file" / "out", "a.json")
    (tmp_path / "half" / "b.html").mkdir(parents=True)
    with pytest.raises(InputError, match=r"b\.html is a folder"):
        writable_files(tmp_path / "half", "a.json", "b.html")
    assert not (tmp_path / "half" / "a.json").exists()
