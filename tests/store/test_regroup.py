"""Regrouping records for publishing keeps every row, its order, and each table's columns."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pytest

from node.core.errors import InvalidSource
from node.store.regroup import regrouped, regrouped_numbered


def _table(start: int, rows: int, extra: bool = False) -> pa.Table:
    columns = {"occurrenceID": [f"GX-{i}" for i in range(start, start + rows)]}
    if extra:
        columns["locality"] = ["Napo"] * rows
    return pa.table(columns)


def test_regrouped__small_tables_join_up_to_the_group_size_in_order() -> None:
    tables = [_table(i * 7, 7) for i in range(10)]  # 70 rows in tables of 7
    groups = list(regrouped(tables, rows=20))
    assert [g.num_rows for g in groups] == [21, 21, 21, 7]
    ids = [v for g in groups for v in g["occurrenceID"].to_pylist()]
    assert ids == [f"GX-{i}" for i in range(70)]
    assert all(g["occurrenceID"].num_chunks == 1 for g in groups)


def test_regrouped__a_table_with_other_columns_is_never_merged_into_its_neighbours() -> None:
    tables = [_table(0, 3), _table(3, 3, extra=True), _table(6, 3)]
    groups = list(regrouped(tables, rows=100))
    assert [g.column_names for g in groups] == [
        ["occurrenceID"],
        ["occurrenceID", "locality"],
        ["occurrenceID"],
    ]
    assert sum(g.num_rows for g in groups) == 9


def test_regrouped__a_large_table_passes_whole() -> None:
    big = _table(0, 50)
    assert [g.num_rows for g in regrouped([big], rows=20)] == [50]


def _numbered(blocks: int, rows: int, fail_after: int | None = None) -> Iterator[tuple]:
    for block in range(blocks):
        if block == fail_after:
            raise InvalidSource("line 99: not UTF-8")
        start = block * rows
        yield pa.array(range(start + 2, start + rows + 2), pa.int64()), _table(start, rows)


def test_regrouped_numbered__lines_travel_with_their_rows() -> None:
    groups = list(regrouped_numbered(_numbered(5, 7), rows=20))
    assert [len(lines) for lines, _ in groups] == [21, 14]
    for lines, table in groups:
        ids = [int(v.removeprefix("GX-")) for v in table["occurrenceID"].to_pylist()]
        assert lines.to_pylist() == [i + 2 for i in ids]


def test_regrouped_numbered__rows_read_before_a_failure_are_passed_on_first() -> None:
    seen: list[int] = []
    with pytest.raises(InvalidSource, match="not UTF-8"):
        for lines, _ in regrouped_numbered(_numbered(5, 7, fail_after=2), rows=100):
            seen += lines.to_pylist()
    assert seen == list(range(2, 16))  # both blocks read before the failure


def test_regrouped_numbered__a_consumer_may_stop_early() -> None:
    groups = regrouped_numbered(_numbered(5, 7), rows=10)
    next(groups)
    groups.close()  # no RuntimeError: nothing is yielded while closing
