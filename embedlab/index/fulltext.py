"""Full-text upkeep: LanceDB's BM25 index over the rows' ``fts_text`` (title and text).

English stemming and stop words. Rows not yet in the full-text index are still searched (by a scan), so a
small backlog costs little, while rebuilding on every commit would make each small add cost as much as
indexing the whole table: the index is rebuilt only once :data:`STALE` of the rows are not in it.
"""

from __future__ import annotations

from typing import Any

from embedlab.index.expansion import Expansion

STALE = 0.1  # rebuild the full-text index once this share of rows is not in it


def refresh(table: Any) -> None:
    """(Re)build the full-text index of ``table`` when it is missing or too many rows are not in it yet."""
    from lancedb.index import FTS

    indices = [index for index in table.list_indices() if index.columns == ["fts_text"]]
    stale = indices and table.index_stats(indices[0].name).num_unindexed_rows > STALE * table.count_rows()
    if not indices or stale:
        table.create_index("fts_text", replace=True, config=FTS(language="English", stem=True, remove_stop_words=True))


def query(table: Any, text: str | Expansion, limit: int) -> Any:
    """A BM25 query of ``text`` over ``table`` for its ``limit`` best rows (``_score`` on each).

    An :class:`Expansion` adds its terms, each term's BM25 score multiplied by its weight.
    """
    if isinstance(text, Expansion) and text.terms:
        from lancedb.query import BooleanQuery, MatchQuery, Occur

        match: Any = MatchQuery  # a pydantic dataclass: mypy reads every field as required
        parts = [match(text.query, "fts_text"), *(match(word, "fts_text", boost=b) for word, b in text.terms)]
        return table.search(BooleanQuery([(Occur.SHOULD, part) for part in parts])).limit(limit)
    plain = text.query if isinstance(text, Expansion) else text
    return table.search(plain, query_type="fts", fts_columns="fts_text").limit(limit)
