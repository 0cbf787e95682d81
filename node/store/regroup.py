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


def _joined(tables: list[pa.Table]) -> pa.Table:
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables).combine_chunks()
