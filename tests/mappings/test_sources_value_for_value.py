"""Institutions' own files read value for value: what the sheet or file shows is published."""

from __future__ import annotations

from pathlib import Path

import openpyxl

from mappings.sources import detect_encoding, open_source


def _rows(path: Path) -> list[dict[str, str]]:
    return [r for b in open_source(path).batches() for r in b.to_pylist()]


def test_xlsx__formula_results_read_as_the_sheet_shows_them(tmp_path: Path) -> None:
    """Excel keeps 15 significant digits and stores formula results with binary noise
    (=100*0.07 is 7.000000000000001): the sheet shows 7, and an individualCount of
    "7.000000000000001" would fail its integer cast."""
    path = tmp_path / "computed.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["occurrenceID", "individualCount", "catalogNumber", "verbatimLatitude"])
    sheet.append(["a-1", 100 * 0.07, 0.1 + 0.2, 22 + 30 / 60 + 15 / 3600])
    sheet.append(["a-2", 12.0, 22.3456, -1.5e-7])
    book.save(path)
    assert _rows(path) == [
        {"occurrenceID": "a-1", "individualCount": "7", "catalogNumber": "0.3",
         "verbatimLatitude": "22.5041666666667"},
        {"occurrenceID": "a-2", "individualCount": "12", "catalogNumber": "22.3456",
         "verbatimLatitude": "-1.5e-07"},
    ]  # fmt: skip


def test_detect_encoding__sparse_gb18030_text_is_not_read_as_another_encoding(
    tmp_path: Path,
) -> None:
    """A herbarium export in GB18030 with Latin names and only a few Chinese collector names
    gave charset-normalizer too little text: it guessed big5, cp949, cp850 ... and the names
    were published as mojibake, with no error."""
    chinese = {7: "韦发南", 32: "许为斌", 57: "张三", 82: "黄俊华"}
    rows = [f"GX-{i},Primulina tabacum,Longzhou,{chinese.get(i, 'Wei F.N.')}" for i in range(100)]
    path = tmp_path / "gxib.csv"
    text = "occurrenceID,scientificName,locality,recordedBy\n" + "\n".join(rows) + "\n"
    path.write_bytes(text.encode("gb18030"))
    assert detect_encoding(path)[0] == "gb18030"
    collectors = {r["recordedBy"] for r in _rows(path)}
    assert collectors == {"Wei F.N.", "韦发南", "许为斌", "张三", "黄俊华"}
    for single in ("韦发南", "凭祥市", "桂林"):
        path.write_bytes(f"occurrenceID,recordedBy\nGX-1,{single}\nGX-2,x\n".encode("gb18030"))
        assert detect_encoding(path)[0] == "gb18030", single
