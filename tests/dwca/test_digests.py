"""Per-record digests: the scheme is pinned, and an archive alone gives the same digests."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from node.core.terms import OCCURRENCE_ROW_TYPE
from node.dwca.digests import archive_digests, digests_of
from node.dwca.writer import write_archive
from node.store.records import to_stored_layout

EML = b"<eml/>"


def test_digests_of__follow_the_xxh3_specification() -> None:
    # XXH3-64 of the empty input with seed 0, from xxHash's own test vectors.
    empty = 0x2D06800538D394C2
    assert digests_of(pa.array([""])).to_pylist() == [empty]
    # High bit set: stored as the two's-complement signed value.
    digests = digests_of(pa.array(["o1\tBegonia", "桂林", "o1\tBegonia"])).to_pylist()
    assert digests[0] == digests[2] and len(set(digests)) == 2


def test_archive_digests__equal_the_writers_for_every_record(tmp_path: Path) -> None:
    table = to_stored_layout(
        pa.table(
            {
                "occurrenceID": ["o1", "o2", "o3", "o4", "o5"],
                "scientificName": ["Begonia a", "Begonia b", "Begonia c", "Begonia d", "B e"],
                "locality": ["Guilin", "Napo\tcounty", None, "Hà Giang", "Cao Bằng"],
            }
        )
    )
    table = table.append_column(
        "fed_vernacular_zh", pa.array(["秋海棠 | 别名", None, " | ", "甲|乙|", "丙"])
    ).append_column("fed_vernacular_vi", pa.array([None, "Thu hải đường", None, "", "a  |b"]))
    written = tmp_path / "written.parquet"
    write_archive(
        tmp_path / "dwca.zip",
        [table.slice(0, 2), table.slice(2)],
        OCCURRENCE_ROW_TYPE,
        EML,
        digests_path=written,
    )
    rebuilt = tmp_path / "rebuilt.parquet"
    assert archive_digests(tmp_path / "dwca.zip", rebuilt, fold_vernacular=True) == 5
    assert pq.read_table(rebuilt).to_pylist() == pq.read_table(written).to_pylist()
    # Without the names the records with names digest differently: the names count.
    bare = tmp_path / "bare.parquet"
    archive_digests(tmp_path / "dwca.zip", bare, fold_vernacular=False)
    same = [
        a == b
        for a, b in zip(
            pq.read_table(bare).to_pylist(), pq.read_table(written).to_pylist(), strict=True
        )
    ]
    assert same == [False, False, True, False, False]
