"""Versions compared record by record, also when the join is split into passes."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from node.core import constants
from node.publish.versions import compare_versions, diff_buckets


def _digests(path: Path, ids: list[str], digests: list[int]) -> Path:
    pq.write_table(pa.table({"id": ids, "digest": pa.array(digests, pa.int64())}), path)
    return path


@pytest.fixture
def versions(tmp_path: Path) -> tuple[Path, Path]:
    """Old: ids 0..59,999. New: 0..9,999 removed, 10,000..19,999 changed, 20,000..59,999
    kept, 60,000..64,999 added."""
    old_ids = [f"GXIB:{i}" for i in range(60_000)]
    old = _digests(tmp_path / "old.parquet", old_ids, list(range(60_000)))
    new_ids = [f"GXIB:{i}" for i in range(10_000, 65_000)]
    new_digests = [i + 1 if i < 20_000 else i for i in range(10_000, 65_000)]
    new = _digests(tmp_path / "new.parquet", new_ids, new_digests)
    return new, old


def test_compare_versions__counts_each_kind_of_change(versions: tuple[Path, Path]) -> None:
    new, old = versions
    assert diff_buckets(new, old) == 1
    changes = compare_versions(new, old, "1.0", metadata_changed=False)
    assert (changes.added, changes.removed, changes.changed, changes.unchanged) == (
        5_000,
        10_000,
        10_000,
        40_000,
    )
    assert changes.records == 55_000


def test_compare_versions__passes_over_buckets_add_up_to_the_same_counts(
    versions: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    new, old = versions
    whole = compare_versions(new, old, "1.0", metadata_changed=False)
    monkeypatch.setattr(constants, "DIFF_BUCKET_BYTES", 200_000)
    assert diff_buckets(new, old) > 5  # the join now runs in several passes
    assert compare_versions(new, old, "1.0", metadata_changed=False) == whole


def test_diff_buckets__grow_with_the_larger_side(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = _digests(tmp_path / "small.parquet", ["a"], [1])
    ids = [f"https://data.example.org/occurrence/{i:012d}" for i in range(100_000)]
    large = _digests(tmp_path / "large.parquet", ids, list(range(100_000)))
    assert diff_buckets(small, small) == 1
    monkeypatch.setattr(constants, "DIFF_BUCKET_BYTES", 1_000_000)
    # ~5.5 MB of ids and 4.8 MB of per-row estimate over 1 MB buckets
    assert 9 <= diff_buckets(small, large) <= 12
