"""Parquet written in row groups of a fixed floor of rows, whatever size the tables come in.

A Parquet writer keeps every row group's metadata (each column chunk's offsets, encodings
and statistics, about 1 KB a column) until the file is closed, and every reader of the
file loads it all again. Written one row group per incoming batch (a 1 MiB CSV block is
about 4,500 rows), that metadata grows with the data: 13 MB per million harvested rows,
which is most of what made peak RSS grow with the dataset. Gathering the batches into
groups of `ROW_GROUP_ROWS` bounds it at a few MB for 20M rows, for the cost of holding
one group's rows (about 20 MB) while it fills.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from node.core.constants import ROW_GROUP_ROWS

# The node's own Parquet (stored records, digests) is read whole by the node, never
# filtered by statistics: without statistics zstd gives the same size in two thirds of the
# writing time. Text columns get a dictionary, capped small: one that repeats a few names
# (family, country, collector) encodes faster and smaller through it, and one of distinct
# values (ids, localities) gives up on it after 16 KiB instead of the default 1 MiB.
STORE_PARQUET: dict[str, Any] = {
    "compression": "zstd",
    "write_statistics": False,
    "dictionary_pagesize_limit": 16 * 1024,
}


def _text_columns(schema: pa.Schema) -> list[str]:
    return [
        f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
    ]


class RowGroupWriter:
    """A `pq.ParquetWriter` whose row groups hold at least `rows` rows (the last fewer),
    with `STORE_PARQUET`'s options unless `options` says otherwise.

    Tables must carry the writer's schema (conform them first); they are written as they
    are, only gathered, so the file's rows and order are those written.
    """

    def __init__(
        self,
        where: str | Path | pa.NativeFile,
        schema: pa.Schema,
        rows: int = ROW_GROUP_ROWS,
        **options: Any,
    ) -> None:
        chosen = {**STORE_PARQUET, "use_dictionary": _text_columns(schema), **options}
        self.writer = pq.ParquetWriter(where, schema, **chosen)
        self.rows = rows
        self.pending: list[pa.Table] = []
        self.pending_rows = 0

    @property
    def schema(self) -> pa.Schema:
        return self.writer.schema

    def write_table(self, table: pa.Table | pa.RecordBatch) -> None:
        if isinstance(table, pa.RecordBatch):
            table = pa.Table.from_batches([table])
        self.pending.append(table)
        self.pending_rows += table.num_rows
        if self.pending_rows >= self.rows:
            self.flush()

    def flush(self) -> None:
        """Write what is gathered as one row group (none when nothing is)."""
        if not self.pending:
            return
        gathered = pa.concat_tables(self.pending)
        self.pending, self.pending_rows = [], 0
        # One call, one row group: the writer's own cap on a group's rows is above ours.
        self.writer.write_table(gathered, row_group_size=max(self.rows, gathered.num_rows))

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.writer.close()

    def __enter__(self) -> RowGroupWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self.close()
        else:
            self.abandon()

    def abandon(self) -> None:
        """Close without writing what is gathered: the file is being given up."""
        self.pending, self.pending_rows = [], 0
        self.writer.close()
