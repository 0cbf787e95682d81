"""Vietnamese typed with combining marks (NFD, as macOS and some keyboards save it) is
composed (NFC) on the way in, so that a search typed the usual way finds it."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pyarrow as pa

from mappings.sources import open_source
from node.store.records import to_stored_layout

_LOCALITY = "Vườn quốc gia Cúc Phương, tỉnh Ninh Bình"  # a real place name
_NFD = unicodedata.normalize("NFD", _LOCALITY)


def test_utf8_csv_typed_in_nfd_is_read_as_nfc(tmp_path: Path) -> None:
    assert _NFD != _LOCALITY
    path = tmp_path / "nfd.csv"
    path.write_text(
        f'occurrenceID,scientificName,locality\nvn-1,Paphiopedilum hangianum,"{_NFD}"\n',
        encoding="utf-8",
    )
    (row,) = [r for batch in open_source(path).batches() for r in batch.to_pylist()]
    assert row["locality"] == _LOCALITY


def test_normalise__every_text_value_is_stored_in_nfc() -> None:
    table = pa.table(
        {
            "locality": [_NFD],
            "scientificName": [
                unicodedata.normalize("NFD", "Paphiopedilum hangianum Perner & Gruss")
            ],
            "fed_vernacular_vi": [unicodedata.normalize("NFD", "Lan hài hằng")],
        }
    )
    row = to_stored_layout(table, {"fed_source": "vnmn"}).to_pylist()[0]
    assert row["locality"] == _LOCALITY
    assert row["fed_vernacular_vi"] == "Lan hài hằng"
    assert all(unicodedata.is_normalized("NFC", v) for v in row.values() if isinstance(v, str))
