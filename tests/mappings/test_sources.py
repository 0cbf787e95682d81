"""Reading institutions' own files: dialects, encodings, spreadsheets and archives."""

from __future__ import annotations

import datetime as dt
import unicodedata
from pathlib import Path

import openpyxl
import pyarrow as pa
import pytest

from mappings.columns import mapping_from_dict
from mappings.sources import detect_encoding, open_source
from node.core import constants
from node.core.errors import InvalidSource

DATA = Path(__file__).resolve().parents[1] / "data"
SAMPLES = Path(__file__).resolve().parents[2] / "node" / "samples"


def rows(source_path: Path, **kwargs: object) -> list[dict[str, str]]:
    source = open_source(source_path, **kwargs)  # type: ignore[arg-type]
    return [r for batch in source.batches() for r in batch.to_pylist()]


@pytest.mark.parametrize(
    ("delimiter", "name"), [(",", "comma"), ("\t", "tab"), (";", "semicolon"), ("|", "pipe")]
)
def test_open_source__sniffs_the_delimiter(tmp_path: Path, delimiter: str, name: str) -> None:
    path = tmp_path / f"{name}.csv"
    lines = ["scientificName", "locality", "occurrenceID"]
    body = [["Begonia masoniana", "Napo, karst hill", "a-1"], ["Primulina sp.", "", "a-2"]]
    text = delimiter.join(lines) + "\n"
    for row in body:
        text += delimiter.join(f'"{v}"' if delimiter in v or "," in v else v for v in row) + "\n"
    path.write_text(text, encoding="utf-8")
    source = open_source(path)
    assert source.delimiter == delimiter
    assert [r["locality"] for b in source.batches() for r in b.to_pylist()] == [
        "Napo, karst hill",
        "",
    ]


def test_open_source__quoted_values_keep_delimiters_newlines_and_quotes(tmp_path: Path) -> None:
    path = tmp_path / "quoted.csv"
    path.write_text(
        'occurrenceID,locality,occurrenceRemarks\n1,"Jingxi, Guangxi","two\nlines"\n'
        '2,"Debao","said ""karst"""\n',
        encoding="utf-8",
    )
    got = rows(path)
    assert got[0]["locality"] == "Jingxi, Guangxi"
    assert got[0]["occurrenceRemarks"] == "two\nlines"
    assert got[1]["occurrenceRemarks"] == 'said "karst"'


def test_open_source__utf8_bom_and_a_title_line_above_the_header(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes("\ufeff标本数据导出 2024\nscientificName;occurrenceID\nBegonia a;1\n".encode())
    source = open_source(path)
    assert source.encoding == "utf-8"
    assert "byte order mark" in source.encoding_reason
    assert source.columns == ["scientificName", "occurrenceID"]
    assert any("skipped 1 line(s) above the header" in n for n in source.notes)
    assert rows(path) == [{"occurrenceID": "1", "scientificName": "Begonia a"}]


def test_open_source__detects_gb18030_and_says_so() -> None:
    source = open_source(SAMPLES / "gxib" / "occurrences.csv")
    assert source.encoding == "gb18030"
    assert source.encoding_detected
    assert "encoding gb18030 (detected: charset-normalizer" in source.describe()
    assert source.columns[:3] == ["记录编号", "记录类型", "学名"]


def test_open_source__detects_windows_1258_and_composes_tones() -> None:
    path = SAMPLES / "vnmn" / "occurrences.csv"
    source = open_source(path, SAMPLES / "vnmn" / "occurrences.mapping.toml")
    assert source.encoding == "cp1258"
    assert "Tỉnh" in source.columns  # the header is composed (NFC) too
    provinces = {r["stateProvince"] for b in source.batches() for r in b.to_pylist()}
    assert "Cao Bằng" in provinces
    assert all(unicodedata.is_normalized("NFC", p) for p in provinces)


def test_open_source__declared_encoding_wins_over_detection(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("locality,occurrenceID\nCafé du Parc,1\n".encode("cp1252"))
    source = open_source(path, encoding="windows-1252")
    assert (source.encoding, source.encoding_detected) == ("cp1252", False)
    assert rows(path, encoding="windows-1252")[0]["locality"] == "Café du Parc"


def test_open_source__undecodable_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "broken.csv"
    good = "occurrenceID,vernacularName\n" + "".join(f"{i},秋海棠\n" for i in range(20))
    path.write_bytes(good.encode() + b"20,\xb8\xd5\xba\xa3\n")
    source = open_source(path)
    assert source.encoding == "utf-8"
    with pytest.raises(InvalidSource, match=r"broken\.csv line 22: not valid utf-8"):
        list(source.batches())


def test_open_source__rows_with_a_wrong_column_count_are_reported_by_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text("occurrenceID,locality\n1,a\n2\n3,c\n4,d,extra\n5,e\n", encoding="utf-8")
    mapping = mapping_from_dict({"id": {"generate": "line"}}, origin="m")
    source = open_source(path, mapping, dataset_type="checklist", dataset_id="d")
    got = [r for b in source.batches() for r in b.to_pylist()]
    # the generated ids keep each row's own line, across the skipped ones
    assert [r["taxonID"] for r in got] == ["d:2", "d:4", "d:6"]
    assert [(p.line, p.kind) for p in source.problems] == [
        (3, "column_count"),
        (5, "column_count"),
    ]
    assert "has 1 columns, expected 2" in source.problems[0].detail


def test_open_source__streams_large_files_in_batches(tmp_path: Path) -> None:
    path = tmp_path / "large.csv"
    count = 3 * constants.CSV_BLOCK_BYTES // 40
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("occurrenceID,scientificName\n")
        for i in range(count):
            handle.write(f"GX-{i:08d},Begonia masoniana Irmsch.\n")
    source = open_source(path)
    sizes = [b.num_rows for b in source.batches()]
    assert len(sizes) > 1
    assert sum(sizes) == count


def test_open_source__xlsx_first_or_named_sheet(tmp_path: Path) -> None:
    path = tmp_path / "export.xlsx"
    book = openpyxl.Workbook()
    notes = book.active
    notes.title = "说明"
    notes.append(["这是说明页"])
    data = book.create_sheet("标本")
    data.append(["广西植物研究所 标本数据"])
    data.append(["occurrenceID", "eventDate", "individualCount", "decimalLatitude"])
    data.append(["GX-1", dt.datetime(2020, 5, 1), 3.0, 22.3456])
    data.append([None, None, None, None])
    data.append(["GX-2", dt.date(2021, 6, 2), 4, None, "stray"])
    book.save(path)
    source = open_source(path, sheet="标本")
    assert source.kind == "xlsx"
    assert [r for b in source.batches() for r in b.to_pylist()] == [
        {"occurrenceID": "GX-1", "eventDate": "2020-05-01", "individualCount": "3",
         "decimalLatitude": "22.3456"},
        {"occurrenceID": "GX-2", "eventDate": "2021-06-02", "individualCount": "4",
         "decimalLatitude": ""},
    ]  # fmt: skip
    assert [(p.line, p.kind) for p in source.problems] == [(5, "extra_cells")]
    assert open_source(path).columns == ["这是说明页"]  # the first sheet by default
    with pytest.raises(InvalidSource, match="no sheet 'Sheet9'"):
        open_source(path, sheet="Sheet9")


def test_open_source__archive_folds_vernacular_names_by_coreid() -> None:
    path = DATA / "dwca" / "python-dwca-reader" / "dwca-star-test-archive.zip"
    source = open_source(path, dataset_type="checklist")
    assert source.kind == "dwca"
    table = pa.concat_tables(list(source.batches()))
    assert table.column("taxonID").to_pylist() == ["1", "2", "3", "4"]
    # English names only: the Afrikaans and Finnish rows are not among zh, vi, en
    assert table.column("fed_vernacular_en").to_pylist() == ["ostrich", "", "", ""]


def test_open_source__simple_archive_headers_become_terms() -> None:
    path = DATA / "dwca" / "python-dwca-reader" / "dwca-simple-csv.zip"
    table = pa.concat_tables(list(open_source(path).batches()))
    assert {"occurrenceID", "scientificName", "catalogNumber"} <= set(table.column_names)
    assert table.num_rows == 3


def test_open_source__mapping_file_path_is_loaded() -> None:
    path = SAMPLES / "gxib" / "checklist.csv"
    source = open_source(
        path, SAMPLES / "gxib" / "checklist.mapping.toml", dataset_type="checklist",
        dataset_id="gxib-checklist",
    )  # fmt: skip
    first = next(source.batches()).to_pylist()[0]
    assert first["taxonID"] == "gxib-checklist:2"
    assert first["iucnRedListCategory"] == "LC"
    assert first["fed_vernacular_zh"]
    assert "ENDEMIC_TO_CHINA" in source.unmapped_columns


def test_open_source__missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidSource, match="no such file"):
        open_source(tmp_path / "nope.csv")


def test_detect_encoding__ascii_only_file_reads_as_utf8(tmp_path: Path) -> None:
    path = tmp_path / "ascii.csv"
    path.write_text("a,b\n1,2\n", encoding="ascii")
    assert detect_encoding(path) == ("utf-8", True, "ASCII only")


def test_detect_encoding__unknown_declared_encoding_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a\n", encoding="ascii")
    with pytest.raises(InvalidSource, match="unknown encoding 'gb-nope'"):
        detect_encoding(path, "gb-nope")
