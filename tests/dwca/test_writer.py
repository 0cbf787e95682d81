"""The archive writer, checked by reading its zips back with python-dwca-reader and ours."""

from __future__ import annotations

import csv
import datetime as dt
import zipfile
from pathlib import Path

import defusedxml.ElementTree as safe_et
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dwca.read import DwCAReader

from node.core.errors import InvalidInput, InvalidSource
from node.core.terms import OCCURRENCE_ROW_TYPE, TAXON_ROW_TYPE, VERNACULAR_ROW_TYPE, term_uri
from node.dwca.reader import open_archive
from node.dwca.writer import write_archive
from node.store.records import to_stored_layout

DATA = Path(__file__).parents[1] / "data"
CHECKLIST = DATA / "checklists" / "guangxi_cnplants.csv"
STAR_ARCHIVE = DATA / "dwca" / "python-dwca-reader" / "dwca-star-test-archive.zip"
EML = b'<?xml version="1.0"?><eml:eml xmlns:eml="https://eml.ecoinformatics.org/eml-2.2.0"/>'
DWC = "http://rs.tdwg.org/dwc/terms/"
TEXT_NS = "{http://rs.tdwg.org/dwc/text/}"


def guangxi_rows(limit: int = 300) -> list[dict[str, str]]:
    with open(CHECKLIST, encoding="utf-8", newline="") as handle:
        return [row for _, row in zip(range(limit), csv.DictReader(handle), strict=False)]


def checklist_table(rows: list[dict[str, str]]) -> pa.Table:
    """Real Guangxi names as a stored-layout checklist with Chinese vernacular names."""
    text = pa.table(
        {
            "taxonID": [f"gx-{i}" for i in range(len(rows))],
            "scientificName": [r["SPECIES_FULL"] for r in rows],
            "taxonRank": ["species"] * len(rows),
            "kingdom": ["Plantae"] * len(rows),
            "order": [r["ORDER"] for r in rows],
            "family": [r["FAMILY"] for r in rows],
            "genus": [r["GENUS"] for r in rows],
        }
    )
    table = to_stored_layout(text, {"fed_source": "gxib", "fed_licence": "CC-BY-4.0"})
    return table.append_column("fed_vernacular_zh", pa.array([r["SPECIES_CN"] for r in rows]))


def occurrence_table(columns: dict[str, list[str]]) -> pa.Table:
    return to_stored_layout(pa.table(columns), {"fed_source": "gxib"})


def test_write_archive__checklist_reads_back_with_python_dwca_reader(tmp_path: Path) -> None:
    rows = guangxi_rows()
    dest = tmp_path / "dwca.zip"
    stats = write_archive(dest, [checklist_table(rows)], TAXON_ROW_TYPE, EML)
    assert stats.core_records == len(rows) == 300
    assert stats.vernacular_records == sum(1 for r in rows if r["SPECIES_CN"].strip())
    with DwCAReader(str(dest)) as archive:
        assert archive.descriptor.core.type == TAXON_ROW_TYPE
        read = [
            (r.id, r.data, [e.data for e in r.extensions if e.rowtype == VERNACULAR_ROW_TYPE])
            for r in archive
        ]
    assert [r[0] for r in read] == [f"gx-{i}" for i in range(len(rows))]
    for (row_id, data, extensions), source in zip(read, rows, strict=True):
        assert data[DWC + "taxonID"] == row_id
        assert data[DWC + "scientificName"] == source["SPECIES_FULL"]
        assert data[DWC + "family"] == source["FAMILY"]
        assert data["http://purl.org/dc/terms/license"].endswith("/by/4.0/legalcode")
        names = [e[DWC + "vernacularName"] for e in extensions]
        assert names == ([source["SPECIES_CN"]] if source["SPECIES_CN"] else [])
        assert all(e["http://purl.org/dc/terms/language"] == "zh" for e in extensions)
    assert read[0][2][0][DWC + "vernacularName"] == "破布木"


def test_write_archive__checklist_reads_back_with_open_archive(tmp_path: Path) -> None:
    rows = guangxi_rows(120)
    dest = tmp_path / "dwca.zip"
    write_archive(dest, [checklist_table(rows)], TAXON_ROW_TYPE, EML)
    with open_archive(dest) as archive:
        core = archive.read_table()
        extension = archive.extension(VERNACULAR_ROW_TYPE)
        assert extension is not None
        names = archive.read_table(extension)
        assert not archive.problems
    assert core.column("scientificName").to_pylist() == [r["SPECIES_FULL"] for r in rows]
    assert core.column("id").to_pylist() == core.column("taxonID").to_pylist()
    assert names.column_names == ["coreid", "vernacularName", "language"]
    assert names.column("vernacularName").to_pylist()[:3] == ["破布木", "二叉破布木", "密花厚壳树"]


def test_write_archive__several_vernacular_names_become_several_rows(tmp_path: Path) -> None:
    table = occurrence_table({"occurrenceID": ["o1", "o2"], "scientificName": ["A b", "C d"]})
    table = table.append_column("fed_vernacular_zh", pa.array(["报春花 | 藏报春", None]))
    table = table.append_column("fed_vernacular_vi", pa.array(["", "Hoa anh thảo"]))
    dest = tmp_path / "dwca.zip"
    stats = write_archive(dest, [table], OCCURRENCE_ROW_TYPE, EML)
    assert stats.vernacular_records == 3
    with DwCAReader(str(dest)) as archive:
        by_id = {
            row.id: [
                (e.data[DWC + "vernacularName"], e.data[term_uri("language")])
                for e in row.extensions
            ]
            for row in archive
        }
    assert by_id == {"o1": [("报春花", "zh"), ("藏报春", "zh")], "o2": [("Hoa anh thảo", "vi")]}


def test_write_archive__tabs_and_newlines_in_values_become_spaces(tmp_path: Path) -> None:
    table = occurrence_table(
        {
            "occurrenceID": ["o1", "o2"],
            "locality": ["Longzhou\tcounty", "line one\r\nline two\nthree"],
            "occurrenceRemarks": ['a "quoted" value', "trailing\t"],
        }
    )
    dest = tmp_path / "dwca.zip"
    write_archive(dest, [table], OCCURRENCE_ROW_TYPE, EML)
    with DwCAReader(str(dest)) as archive:
        rows = [(r.data[DWC + "locality"], r.data[DWC + "occurrenceRemarks"]) for r in archive]
    assert rows == [
        ("Longzhou county", 'a "quoted" value'),
        ("line one  line two three", "trailing "),
    ]


def test_write_archive__typed_values_are_written_exactly(tmp_path: Path) -> None:
    table = occurrence_table(
        {
            "occurrenceID": ["o1", "o2", "o3"],
            "decimalLatitude": ["22.123456789", "not a number", ""],
            "decimalLongitude": ["106.5", "107", "108.00"],
            "year": ["1998", "2001", "twenty"],
            "eventDate": ["1998-05-01", "2001", ""],
        }
    )
    dest = tmp_path / "dwca.zip"
    write_archive(dest, [table], OCCURRENCE_ROW_TYPE, EML)
    with open_archive(dest) as archive:
        core = archive.read_table()
    assert core.column("decimalLatitude").to_pylist() == ["22.123456789", "not a number", ""]
    assert [float(v) for v in core.column("decimalLongitude").to_pylist()] == [106.5, 107, 108]
    assert core.column("year").to_pylist() == ["1998", "2001", "twenty"]
    assert core.column("eventDate").to_pylist() == ["1998-05-01", "2001", ""]


def test_write_archive__meta_xml_follows_the_ipt_shape(tmp_path: Path) -> None:
    table = checklist_table(guangxi_rows(5))
    dest = tmp_path / "dwca.zip"
    stats = write_archive(dest, [table], TAXON_ROW_TYPE, EML)
    with zipfile.ZipFile(dest) as archive:
        assert sorted(archive.namelist()) == [
            "eml.xml",
            "meta.xml",
            "taxon.txt",
            "vernacularname.txt",
        ]
        meta = safe_et.fromstring(archive.read("meta.xml"))
        header = archive.read("taxon.txt").decode("utf-8").split("\n", 1)[0]
        assert archive.read("eml.xml") == EML
    assert meta.get("metadata") == "eml.xml"
    core, extension = meta.find(TEXT_NS + "core"), meta.find(TEXT_NS + "extension")
    assert core.get("fieldsEnclosedBy") == "" and core.get("fieldsTerminatedBy") == "\\t"
    assert core.get("ignoreHeaderLines") == "1" and core.get("encoding") == "UTF-8"
    assert core.find(TEXT_NS + "id").get("index") == "0"
    assert extension.find(TEXT_NS + "coreid").get("index") == "0"
    fields = [(f.get("index"), f.get("term")) for f in core.findall(TEXT_NS + "field")]
    assert fields[0] == ("1", DWC + "taxonID")
    assert header.split("\t") == list(stats.columns)
    assert all(not name.startswith("fed_") for name in stats.columns)
    assert "license" in stats.columns


def test_write_archive__many_batches_stream_into_one_file(tmp_path: Path) -> None:
    rows = guangxi_rows(300)
    table = checklist_table(rows)
    batches = [table.slice(i, 64) for i in range(0, table.num_rows, 64)]
    one, many = tmp_path / "one.zip", tmp_path / "many.zip"
    when = dt.datetime(2026, 1, 2, 3, 4, 5)
    first = write_archive(one, [table], TAXON_ROW_TYPE, EML, modified=when)
    second = write_archive(many, iter(batches), TAXON_ROW_TYPE, EML, modified=when)
    assert first.sha256 == second.sha256 and first.bytes == second.bytes
    assert second.core_records == 300


def test_write_archive__coverage_spans_the_records(tmp_path: Path) -> None:
    table = occurrence_table(
        {
            "occurrenceID": ["o1", "o2", "o3", "o4"],
            "decimalLatitude": ["22.5", "23.9", "0", "95"],
            "decimalLongitude": ["106.7", "105.1", "0", "100"],
            "eventDate": ["1998-05-01", "2003-07", "", ""],
            "year": ["", "", "1990", ""],
            "family": ["Gesneriaceae", "Gesneriaceae", "Begoniaceae", ""],
            "genus": ["Primulina", "Primulina", "Begonia", ""],
        }
    )
    stats = write_archive(tmp_path / "dwca.zip", [table], OCCURRENCE_ROW_TYPE, EML)
    coverage = stats.coverage
    assert coverage.bbox == (105.1, 22.5, 106.7, 23.9)  # (0, 0) and latitude 95 ignored
    assert (coverage.start, coverage.end) == (dt.date(1990, 1, 1), dt.date(2003, 7, 31))
    assert coverage.families == {"Gesneriaceae": 2, "Begoniaceae": 1}
    assert coverage.genera == {"Primulina": 2, "Begonia": 1}


def test_write_archive__eml_function_sees_the_coverage(tmp_path: Path) -> None:
    seen = []

    def eml(coverage: object) -> bytes:
        seen.append(coverage)
        return EML

    table = occurrence_table({"occurrenceID": ["o1"], "family": ["Begoniaceae"]})
    stats = write_archive(tmp_path / "dwca.zip", [table], OCCURRENCE_ROW_TYPE, eml)
    assert seen == [stats.coverage]


def test_write_archive__digests_change_only_with_the_record(tmp_path: Path) -> None:
    before = occurrence_table({"occurrenceID": ["o1", "o2"], "locality": ["A", "B"]})
    after = occurrence_table({"occurrenceID": ["o1", "o2"], "locality": ["A", "B2"]})
    write_archive(
        tmp_path / "a.zip", [before], OCCURRENCE_ROW_TYPE, EML, digests_path=tmp_path / "a.parquet"
    )
    write_archive(
        tmp_path / "b.zip", [after], OCCURRENCE_ROW_TYPE, EML, digests_path=tmp_path / "b.parquet"
    )
    a = pq.read_table(tmp_path / "a.parquet").to_pylist()
    b = pq.read_table(tmp_path / "b.parquet").to_pylist()
    assert [r["id"] for r in a] == ["o1", "o2"]
    assert a[0] == b[0] and a[1]["digest"] != b[1]["digest"]


def test_write_archive__real_star_archive_round_trips(tmp_path: Path) -> None:
    with open_archive(STAR_ARCHIVE) as archive:
        core = archive.read_table()
        extension = archive.extension(VERNACULAR_ROW_TYPE)
        assert extension is not None
        names = archive.read_table(extension).to_pylist()
    # The sample's languages are English words; the node keeps ISO 639-1 codes.
    codes = {"english": "en", "afrikaans": "af", "finnish": "fi"}
    per_record: dict[tuple[str, str], list[str]] = {}
    for row in names:
        per_record.setdefault((row["coreid"], codes[row["language"]]), []).append(
            row["vernacularName"]
        )
    table = to_stored_layout(core.rename_columns(["taxonID", *core.column_names[1:]]))
    for code in sorted(set(codes.values())):
        column = [" | ".join(per_record.get((i, code), [])) for i in table["taxonID"].to_pylist()]
        table = table.append_column(f"fed_vernacular_{code}", pa.array(column))
    dest = tmp_path / "dwca.zip"
    write_archive(dest, [table], TAXON_ROW_TYPE, EML)
    # Our archive adds taxonID (the id's term) and an empty license (no licence given).
    added_terms = {DWC + "taxonID", "http://purl.org/dc/terms/license"}

    def star(path: Path) -> list[tuple[str, dict[str, str], list[str]]]:
        with DwCAReader(str(path)) as archive:
            return [
                (
                    r.id,
                    {k: v for k, v in r.data.items() if k not in added_terms},
                    sorted(e.data[DWC + "vernacularName"] for e in r.extensions),
                )
                for r in archive
            ]

    original = star(STAR_ARCHIVE)
    assert len(original) == 4
    assert star(dest) == original


def test_write_archive__empty_id_is_refused_and_nothing_is_left(tmp_path: Path) -> None:
    dest = tmp_path / "dwca.zip"
    dest.write_bytes(b"previous archive")
    table = occurrence_table({"occurrenceID": ["o1", " ", "o3"], "locality": ["a", "b", "c"]})
    with pytest.raises(InvalidSource, match="occurrenceID is empty in record"):
        write_archive(dest, [table], OCCURRENCE_ROW_TYPE, EML)
    assert dest.read_bytes() == b"previous archive"
    assert [p.name for p in tmp_path.iterdir()] == ["dwca.zip"]


def test_write_archive__failing_source_leaves_the_previous_archive(tmp_path: Path) -> None:
    dest = tmp_path / "dwca.zip"
    dest.write_bytes(b"previous archive")

    def batches():  # type: ignore[no-untyped-def]
        yield occurrence_table({"occurrenceID": ["o1"]})
        raise OSError("source file vanished")

    with pytest.raises(OSError, match="vanished"):
        write_archive(dest, batches(), OCCURRENCE_ROW_TYPE, EML)
    assert dest.read_bytes() == b"previous archive"
    assert [p.name for p in tmp_path.iterdir()] == ["dwca.zip"]


def test_write_archive__missing_id_column_is_refused(tmp_path: Path) -> None:
    table = occurrence_table({"catalogNumber": ["1"]})
    with pytest.raises(InvalidInput, match="no occurrenceID column"):
        write_archive(tmp_path / "dwca.zip", [table], OCCURRENCE_ROW_TYPE, EML)
