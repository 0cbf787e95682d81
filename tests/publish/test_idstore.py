"""Identifier uniqueness out of core: counts and lines come from the values, not from the
hashes that pick the candidates."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from node.core.errors import InvalidSource
from node.publish.idstore import IdStore
from node.publish.versions import check_unique_ids


def test_duplicates__counted_and_located_exactly_across_batches() -> None:
    with IdStore() as ids:
        for start in range(0, 300_000, 100_000):
            values = [f"GXIB:{i}" for i in range(start, start + 100_000)]
            if start == 200_000:
                values[0] = "GXIB:7"  # line 200001 repeats line 8
                values[1] = "GXIB:7"  # and so does line 200002
                values[5] = "GXIB:150000"  # line 200006 repeats line 150001
            lines = pa.array(range(start + 1, start + 100_001), pa.int64())
            ids.add("occurrenceID", pa.array(values), lines)
        extra, first = ids.duplicates("occurrenceID", limit=10)
    assert extra == 3
    assert first == [("GXIB:7", 3, [8, 200001, 200002]), ("GXIB:150000", 2, [150001, 200006])]


def test_duplicates__none_among_distinct_values_and_empty_values_ignored() -> None:
    with IdStore() as ids:
        ids.add("id", pa.array(["a", "", "b", "", "c"]), pa.array(range(1, 6), pa.int64()))
        assert ids.duplicates("id", limit=5) == (0, [])
        assert ids.duplicates("never added", limit=5) == (0, [])


def test_check_unique_ids__the_last_net_names_repeated_ids(tmp_path: Path) -> None:
    ids = [f"GXIB:{i}" for i in range(50_000)] + ["GXIB:12", "GXIB:12", "GXIB:49999"]
    digests = tmp_path / "digests.parquet"
    pq.write_table(pa.table({"id": ids, "digest": pa.array(range(len(ids)), pa.int64())}), digests)
    with pytest.raises(InvalidSource, match=r"'GXIB:12' \(3x\), 'GXIB:49999' \(2x\)"):
        check_unique_ids(digests, "occurrenceID")
    pq.write_table(pa.table({"id": ids[:50_000], "digest": pa.array(range(50_000))}), digests)
    check_unique_ids(digests, "occurrenceID")
