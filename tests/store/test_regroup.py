"""Regrouping records for publishing keeps every row, its order, and each table's columns."""

from __future__ import annotations

import pyarrow as pa

from node.store.regroup import regrouped


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
