"""Records regrouped into tables of a steady size on their way to be published.

A CSV reader's blocks hold a few thousand rows; every vectorised step (normalising, text
for the archive, digests) pays a fixed cost per table, and the stored Parquet gets one row
group per table. Tens of thousands of rows per table make those costs vanish while memory
stays bounded by the group size, not by the dataset.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pyarrow as pa

from node.core import constants


def regrouped(
    tables: Iterable[pa.Table], rows: int = constants.PUBLISH_GROUP_ROWS
) -> Iterator[pa.Table]:
    """The same rows in the same order, in tables of about `rows` (the last may be short).

    Tables whose columns differ are never joined: each keeps its own schema, so a caller's
    check that later records add no column still sees every table's columns.
    """
    pending: list[pa.Table] = []
    count = 0
    for table in tables:
        if pending and table.schema != pending[0].schema:
            yield _joined(pending)
            pending, count = [], 0
        pending.append(table)
        count += table.num_rows
        if count >= rows:
            yield _joined(pending)
            pending, count = [], 0
    if pending:
        yield _joined(pending)


def regrouped_numbered(
    pairs: Iterable[tuple[pa.Array, pa.Table]], rows: int = constants.PUBLISH_GROUP_ROWS
) -> Iterator[tuple[pa.Array, pa.Table]]:
    """`regrouped` for (line of each row, table) pairs as a source reads them.

    Mapping and checking a table costs a few hundred Arrow calls whatever its length, and a
    1 MiB read block holds only a few thousand rows. If the source fails part-way, the rows
    read before the failure are passed on first, so they are still checked.
    """
    pending: list[tuple[pa.Array, pa.Table]] = []
    count = 0
    source = iter(pairs)
    while True:
        try:
            lines, table = next(source)
        except StopIteration:
            break
        except Exception:
            if pending:
                yield _joined_numbered(pending)
            raise
        if pending and table.schema != pending[0][1].schema:
            yield _joined_numbered(pending)
            pending, count = [], 0
        pending.append((lines, table))
        count += table.num_rows
        if count >= rows:
            yield _joined_numbered(pending)
            pending, count = [], 0
    if pending:
        yield _joined_numbered(pending)


def _joined_numbered(pairs: list[tuple[pa.Array, pa.Table]]) -> tuple[pa.Array, pa.Table]:
    if len(pairs) == 1:
        return pairs[0]
    chunks = [c for lines, _ in pairs for c in getattr(lines, "chunks", [lines])]
    lines = pa.chunked_array(chunks, chunks[0].type).combine_chunks()
    return lines, _joined([table for _, table in pairs])


def _joined(tables: list[pa.Table]) -> pa.Table:
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables).combine_chunks()
