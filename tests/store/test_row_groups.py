"""Stored Parquet keeps row groups of ROW_GROUP_ROWS whatever size the batches arrive in."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from node.core.constants import ROW_GROUP_ROWS
from node.store.row_groups import RowGroupWriter
from node.store.store import PART_NAME, write_parquet_atomic

BLOCK_ROWS = 4_500  # what one 1 MiB CSV block of occurrences holds


def _blocks(count: int, rows: int = BLOCK_ROWS) -> Iterator[pa.Table]:
    for n in range(count):
        ids = [f"urn:catalog:GXMI:{n * rows + i}" for i in range(rows)]
        yield pa.table({"occurrenceID": ids, "block": pa.array([n] * rows, pa.int32())})


def test_small_batches_are_gathered_into_few_row_groups(tmp_path: Path) -> None:
    blocks = 40  # 180,000 rows: 40 row groups if written as they came
    rows = write_parquet_atomic(tmp_path / "dataset", _blocks(blocks))
    parquet = pq.ParquetFile(tmp_path / "dataset" / PART_NAME)
    assert rows == blocks * BLOCK_ROWS == parquet.metadata.num_rows
    assert parquet.metadata.num_row_groups == math.ceil(rows / ROW_GROUP_ROWS)
    sizes = [parquet.metadata.row_group(i).num_rows for i in range(parquet.num_row_groups)]
    assert all(size >= ROW_GROUP_ROWS for size in sizes[:-1])
    table = parquet.read()
    assert table["occurrenceID"].to_pylist() == [
        f"urn:catalog:GXMI:{i}" for i in range(blocks * BLOCK_ROWS)
    ]  # every row, in the order written


def test_a_batch_larger_than_a_group_stays_one_group(tmp_path: Path) -> None:
    path = tmp_path / "big.parquet"
    [big] = _blocks(1, rows=3 * 1000)
    with RowGroupWriter(path, big.schema, rows=1000) as writer:
        writer.write_table(big)
        writer.write_table(big.slice(0, 10).to_batches()[0])  # a RecordBatch is taken too
    metadata = pq.ParquetFile(path).metadata
    assert [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)] == [3000, 10]


def test_an_abandoned_write_keeps_none_of_the_gathered_rows(tmp_path: Path) -> None:
    path = tmp_path / "given-up.parquet"
    [block] = _blocks(1)
    with pytest.raises(RuntimeError), RowGroupWriter(path, block.schema) as writer:
        writer.write_table(block)
        raise RuntimeError("the source turned out invalid")
    assert pq.ParquetFile(path).metadata.num_rows == 0


def test_a_failed_stream_leaves_the_stored_snapshot_as_it_was(tmp_path: Path) -> None:
    dest = tmp_path / "dataset"
    write_parquet_atomic(dest, _blocks(2))

    def failing() -> Iterator[pa.Table]:
        yield from _blocks(3)
        raise RuntimeError("the peer's archive is cut short")

    with pytest.raises(RuntimeError):
        write_parquet_atomic(dest, failing())
    assert pq.read_metadata(dest / PART_NAME).num_rows == 2 * BLOCK_ROWS
    kept = (dest / PART_NAME).resolve().parent
    assert sorted(tmp_path.iterdir()) == sorted([dest, kept])  # the failed snapshot is gone
