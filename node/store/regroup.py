"""Records regrouped into tables of a steady size on their way to be published.

A CSV reader's blocks hold a few thousand rows; every vectorised step (normalising, text
for the archive, digests) pays a fixed cost per table, and the stored Parquet gets one row
group per table. Tens of thousands of rows per table make those costs vanish while memory
stays bounded by the group size, not by the dataset.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

import pyarrow as pa

from node.core import constants

T = TypeVar("T")
Numbered = tuple[pa.Array, pa.Table]


def regrouped(
    tables: Iterable[pa.Table], rows: int = constants.PUBLISH_GROUP_ROWS
) -> Iterator[pa.Table]:
    """The same rows in the same order, in tables of about `rows` (the last may be short).

    Tables whose columns differ are never joined: each keeps its own schema, so a caller's
    check that later records add no column still sees every table's columns.
    """
    return _gathered(tables, lambda table: table, _joined, rows)


def regrouped_numbered(
    pairs: Iterable[Numbered], rows: int = constants.PUBLISH_GROUP_ROWS
) -> Iterator[Numbered]:
    """`regrouped` for (line of each row, table) pairs as a source reads them.

    Mapping and checking a table costs a few hundred Arrow calls whatever its length, and a
    1 MiB read block holds only a few thousand rows.
    """
    return _gathered(pairs, lambda pair: pair[1], _joined_numbered, rows)


def _gathered(
    items: Iterable[T], table_of: Callable[[T], pa.Table], join: Callable[[list[T]], T], rows: int
) -> Iterator[T]:
    """Items joined up to `rows` rows, never across a change of schema. If the items fail
    part-way, those read before the failure are passed on first, so they are still checked;
    nothing is yielded while a consumer closes this early."""
    pending: list[T] = []
    count = 0
    source = iter(items)
    while True:
        try:
            item = next(source)
        except StopIteration:
            break
        except Exception:
            if pending:
                yield join(pending)
            raise
        table = table_of(item)
        if pending and table.schema != table_of(pending[0]).schema:
            yield join(pending)
            pending, count = [], 0
        pending.append(item)
        count += table.num_rows
        if count >= rows:
            yield join(pending)
            pending, count = [], 0
    if pending:
        yield join(pending)


def _joined_numbered(pairs: list[Numbered]) -> Numbered:
    if len(pairs) == 1:
        return pairs[0]
    chunks = [c for lines, _ in pairs for c in getattr(lines, "chunks", [lines])]
    lines = pa.chunked_array(chunks, chunks[0].type).combine_chunks()
    return lines, _joined([table for _, table in pairs])


def _joined(tables: list[pa.Table]) -> pa.Table:
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables).combine_chunks()
