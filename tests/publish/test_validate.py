"""Validation reports: every sample archive gets the verdict GBIF would give, with a reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mappings.columns import mapping_from_dict
from node.publish.validate import ValidationReport, validate_archive, validate_source

DWCA = Path(__file__).resolve().parents[1] / "data" / "dwca"
NOT_ARCHIVES = {"LICENSE.txt", "description.rst", "rss.xml"}
NO_OCCURRENCE_ID = "GBIF needs a unique occurrenceID on every record"

# archive -> (publishable, a kind the report must hold, text the reasons or that kind's
# first problem must contain)
EXPECTED: dict[str, tuple[bool, str, str]] = {
    "ipt/dwca-differentcoreidtermindex.zip": (
        False, "RECORD_REFERENTIAL_INTEGRITY_VIOLATION", "matches no row of event.txt"),
    "ipt/dwca-extensionnotinstalled.zip": (
        False, "UNKNOWN_ROWTYPE", "OccurrenceNotInstalled is not registered"),
    "ipt/dwca-inside-parent-invalid.zip": (False, "META_XML_INVALID", "malformed XML"),
    "ipt/dwca-inside-parent.zip": (True, "OCCURRENCE_ID_MISSING", "no occurrenceID column"),
    "ipt/dwca-nocoreidtermmapping.zip": (
        False, "RECORD_REFERENTIAL_INTEGRITY_VIOLATION", "coreid '70b9a680"),
    "ipt/dwca-noidelementincoremapping.zip": (False, "META_XML_INVALID", "<id>"),
    "python-dwca-reader/dwca-2extensions.zip": (True, "REQUIRED_TERM_MISSING", "taxonID"),
    "python-dwca-reader/dwca-csv-quote-dir": (False, "OCCURRENCE_ID_MISSING", NO_OCCURRENCE_ID),
    "python-dwca-reader/dwca-default-metadata-filename.zip": (
        False, "LICENSE_MISSING_OR_UNKNOWN", "EML.xml"),
    "python-dwca-reader/dwca-ids.zip": (True, "REQUIRED_TERM_MISSING", "no taxonID column"),
    "python-dwca-reader/dwca-invalid-lacks-metadata": (
        False, "EML_NOT_FOUND", "names metadata 'eml.xml', which is not in the archive"),
    "python-dwca-reader/dwca-invalid-simple-toomuch.zip": (
        False, "ARCHIVE_UNREADABLE", "several data files"),
    "python-dwca-reader/dwca-invalid-simple-two.zip": (
        False, "ARCHIVE_UNREADABLE", "several data files"),
    "python-dwca-reader/dwca-malformed-descriptor": (
        False, "ARCHIVE_UNREADABLE", "column index 234"),
    "python-dwca-reader/dwca-meta-default-values": (
        False, "OCCURRENCE_ID_MISSING", NO_OCCURRENCE_ID),
    "python-dwca-reader/dwca-metadata-windows1252-encoding": (
        False, "TRIPLET_INCOMPLETE", "100% of records lack part of the institutionCode"),
    "python-dwca-reader/dwca-missing-extension-details": (
        False, "META_XML_INVALID", "path is not specified"),
    "python-dwca-reader/dwca-noheaders-1.zip": (False, "OCCURRENCE_ID_MISSING", NO_OCCURRENCE_ID),
    "python-dwca-reader/dwca-noheaders-2.zip": (False, "OCCURRENCE_ID_MISSING", NO_OCCURRENCE_ID),
    "python-dwca-reader/dwca-nometadata.zip": (False, "EML_NOT_FOUND", "no metadata document"),
    "python-dwca-reader/dwca-orphaned-rows.zip": (
        False, "RECORD_REFERENTIAL_INTEGRITY_VIOLATION", "coreid '5' matches no row of taxon.txt"),
    "python-dwca-reader/dwca-partial-default.zip": (
        False, "OCCURRENCE_ID_MISSING", NO_OCCURRENCE_ID),
    "python-dwca-reader/dwca-simple-csv-dos.zip": (
        False, "TRIPLET_INCOMPLETE", "33% of records lack part"),
    "python-dwca-reader/dwca-simple-csv-eml.zip": (
        False, "OCCURRENCE_ID_MISSING", "1 of 3 records have no occurrenceID"),
    "python-dwca-reader/dwca-simple-csv-notenclosed.zip": (
        False, "TRIPLET_INCOMPLETE", "33% of records lack part"),
    "python-dwca-reader/dwca-simple-csv.zip": (
        False, "TRIPLET_INCOMPLETE", "33% of records lack part"),
    "python-dwca-reader/dwca-simple-dir": (False, "OCCURRENCE_ID_MISSING", NO_OCCURRENCE_ID),
    "python-dwca-reader/dwca-simple-subdir.zip": (
        False, "OCCURRENCE_ID_MISSING", NO_OCCURRENCE_ID),
    "python-dwca-reader/dwca-simple-test-archive-enclosed.zip": (
        False, "OCCURRENCE_ID_MISSING", NO_OCCURRENCE_ID),
    "python-dwca-reader/dwca-simple-test-archive.tgz": (
        False, "OCCURRENCE_ID_MISSING", NO_OCCURRENCE_ID),
    "python-dwca-reader/dwca-simple-test-archive.zip": (
        False, "OCCURRENCE_ID_MISSING", NO_OCCURRENCE_ID),
    "python-dwca-reader/dwca-star-test-archive.zip": (
        True, "LICENSE_MISSING_OR_UNKNOWN", "licence"),
    "python-dwca-reader/dwca-test-default.zip": (
        False, "OCCURRENCE_ID_MISSING", NO_OCCURRENCE_ID),
    "python-dwca-reader/dwca-utf8-eol-test.zip": (
        True, "RECORDED_DATE_INVALID", "'Fri Mar 01 00:00:00 CET 1935'"),
    "python-dwca-reader/gbif-results-lacks-s-metadata.zip": (
        True, "BASIS_OF_RECORD_INVALID", "'UNKNOWN'"),
    "python-dwca-reader/gbif-results-whitespace-in-xml.zip": (
        True, "EML_INVALID", "malformed XML"),
    "python-dwca-reader/gbif-results.zip": (True, "UNKNOWN_TERM", "kingdomID"),
}  # fmt: skip

ARCHIVES = sorted(
    p.relative_to(DWCA).as_posix() for p in DWCA.glob("*/*") if p.name not in NOT_ARCHIVES
)


def explain(report: ValidationReport, kind: str) -> str:
    first = next((p for p in report.problems if p.kind == kind), None)
    return " ".join([*report.reasons, str(first) if first else ""])


@pytest.mark.parametrize("name", ARCHIVES)
def test_validate_archive__every_sample_archive_gets_its_verdict(name: str) -> None:
    assert name in EXPECTED, f"add the expected verdict for the new sample archive {name}"
    publishable, kind, text = EXPECTED[name]
    report = validate_archive(DWCA / name)
    assert report.publishable is publishable, report.format_text()
    assert kind in report.counts, report.format_text()
    assert text in explain(report, kind), report.format_text()
    if not publishable:
        assert report.reasons and report.blocking_kinds
    else:
        assert not report.reasons and not report.blocking_kinds
    json.dumps(report.to_dict())  # --json must serialise every report
    assert report.format_text().splitlines()[0].startswith(Path(name).name)


def test_validate_archive__orphans_name_their_lines_and_skipped_rows_are_reported() -> None:
    report = validate_archive(DWCA / "python-dwca-reader" / "dwca-orphaned-rows.zip")
    orphans = [p for p in report.problems if p.kind == "RECORD_REFERENTIAL_INTEGRITY_VIOLATION"]
    assert [(p.file, p.line, p.value) for p in orphans] == [
        ("description.txt", 5, "5"),
        ("description.txt", 6, "5"),
        ("description.txt", 7, "6"),
    ]
    skipped = [p for p in report.problems if p.kind == "COLUMN_MISMATCH"]
    assert [(p.file, p.line) for p in skipped] == [("vernacularname.txt", 6)]
    assert not skipped[0].blocking and orphans[0].blocking


def test_validate_archive__blocking_occurrence_problems_are_warnings_when_triplets_hold() -> None:
    report = validate_archive(DWCA / "ipt" / "dwca-inside-parent.zip")
    assert report.publishable
    assert any("triplets" in note for note in report.notes)
    assert not any(p.blocking for p in report.problems)


# -- archives built for one rule each -----------------------------------------------------
OCCURRENCE_FIELDS = ("occurrenceID", "basisOfRecord", "scientificName", "eventDate",
                     "decimalLatitude", "decimalLongitude", "institutionCode",
                     "collectionCode", "catalogNumber")  # fmt: skip


def archive(
    tmp_path: Path,
    rows: list[tuple[str, ...]],
    fields: tuple[str, ...] = OCCURRENCE_FIELDS,
    row_type: str = "Occurrence",
) -> Path:
    """A folder archive: meta.xml (id = column 0 and also the first field) + one data file."""
    folder = tmp_path / "dwca"
    folder.mkdir()
    mapped = "\n".join(
        f'    <field index="{i}" term="http://rs.tdwg.org/dwc/terms/{f}"/>'
        for i, f in enumerate(fields)
    )
    (folder / "meta.xml").write_text(
        '<archive xmlns="http://rs.tdwg.org/dwc/text/" metadata="eml.xml">\n'
        f'  <core encoding="UTF-8" fieldsTerminatedBy="\\t" linesTerminatedBy="\\n" '
        f'fieldsEnclosedBy="" ignoreHeaderLines="1" '
        f'rowType="http://rs.tdwg.org/dwc/terms/{row_type}">\n'
        "    <files><location>core.txt</location></files>\n"
        f'    <id index="0"/>\n{mapped}\n  </core>\n</archive>\n',
        encoding="utf-8",
    )
    (folder / "eml.xml").write_text(
        "<eml><dataset><intellectualRights>"
        "http://creativecommons.org/licenses/by/4.0/legalcode"
        "</intellectualRights></dataset></eml>",
        encoding="utf-8",
    )
    lines = ["\t".join(fields), *("\t".join(r) for r in rows)]
    (folder / "core.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def occurrence(n: int, **changes: str) -> tuple[str, ...]:
    values = {
        "occurrenceID": f"GX-{n}", "basisOfRecord": "PreservedSpecimen",
        "scientificName": "Begonia masoniana Irmsch.", "eventDate": "2019-05-12",
        "decimalLatitude": "23.1", "decimalLongitude": "106.4", "institutionCode": "GXIB",
        "collectionCode": "IBK", "catalogNumber": f"IBK{n:05d}",
    }  # fmt: skip
    values.update(changes)
    return tuple(values[f] for f in OCCURRENCE_FIELDS)


def test_validate_archive__clean_occurrences_are_publishable_without_problems(
    tmp_path: Path,
) -> None:
    report = validate_archive(archive(tmp_path, [occurrence(i) for i in range(1, 6)]))
    assert report.publishable
    assert report.counts == {}
    assert report.records == {"core.txt": 5}
    assert "publishable (occurrence; core.txt 5 rows)" in report.format_text()


def test_validate_archive__duplicate_occurrence_ids_fall_back_to_triplets(tmp_path: Path) -> None:
    rows = [occurrence(1), occurrence(2, occurrenceID="GX-1"), occurrence(3)]
    report = validate_archive(archive(tmp_path, rows))
    assert report.publishable  # unique triplets: GBIF's crawler accepts the archive
    duplicated = [p for p in report.problems if p.kind == "OCCURRENCE_ID_DUPLICATED"]
    assert duplicated[0].message == "occurrenceID 'GX-1' is used by 2 records (lines 2, 3)"
    assert not duplicated[0].blocking


def test_validate_archive__duplicate_ids_and_triplets_block(tmp_path: Path) -> None:
    rows = [occurrence(1), occurrence(1), occurrence(2), occurrence(3, occurrenceID="")]
    report = validate_archive(archive(tmp_path, rows))
    assert not report.publishable
    assert report.counts["OCCURRENCE_ID_DUPLICATED"] == 1
    assert report.counts["OCCURRENCE_ID_MISSING"] == 1
    assert report.counts["TRIPLET_DUPLICATED"] == 1
    assert "1 records repeat an occurrenceID" in report.reasons[0]
    assert "1 records repeat a triplet" in report.reasons[0]
    missing = next(p for p in report.problems if p.kind == "OCCURRENCE_ID_MISSING")
    assert (missing.line, missing.blocking) == (5, True)


def test_validate_archive__more_than_a_quarter_incomplete_triplets_block(tmp_path: Path) -> None:
    rows = [occurrence(i, occurrenceID="", catalogNumber="" if i % 2 else f"C{i}")
            for i in range(1, 9)]  # fmt: skip
    report = validate_archive(archive(tmp_path, rows))
    assert not report.publishable
    assert "50% of records lack part" in report.reasons[0]


def test_validate_archive__record_issues_are_warnings_with_lines(tmp_path: Path) -> None:
    rows = [
        occurrence(1),
        occurrence(2, decimalLatitude="95.2"),
        occurrence(3, decimalLongitude="106,4"),
        occurrence(4, eventDate="12/05/2019"),
        occurrence(5, basisOfRecord="标本"),
    ]
    report = validate_archive(archive(tmp_path, rows))
    assert report.publishable
    text = report.format_text()
    assert "core.txt line 3: decimalLatitude '95.2' is outside -90..90" in text
    assert "core.txt line 4: decimalLongitude '106,4' is not a decimal number" in text
    assert "core.txt line 5: eventDate '12/05/2019' is not an ISO 8601 date" in text
    assert "core.txt line 6: basisOfRecord '标本' is not in the Darwin Core type" in text
    assert "Warnings do not stop publishing" in text
    assert all(not p.blocking for p in report.problems)


def test_validate_archive__lines_count_rows_skipped_for_their_column_count(
    tmp_path: Path,
) -> None:
    folder = archive(tmp_path, [occurrence(1), occurrence(2), occurrence(3, decimalLatitude="-91")])
    text = (folder / "core.txt").read_text(encoding="utf-8").splitlines()
    text.insert(2, "GX-x\tonly two columns")
    (folder / "core.txt").write_text("\n".join(text) + "\n", encoding="utf-8")
    report = validate_archive(folder)
    skipped = next(p for p in report.problems if p.kind == "COLUMN_MISMATCH")
    out_of_range = next(p for p in report.problems if p.kind == "COORDINATE_OUT_OF_RANGE")
    assert (skipped.line, out_of_range.line) == (3, 5)


def test_validate_archive__checklist_needs_unique_taxon_ids(tmp_path: Path) -> None:
    fields = ("taxonID", "scientificName")
    rows = [("t1", "Primulina tabacum Hance"), ("t1", "Chirita tabacum"), ("", "Begonia sp.")]
    report = validate_archive(archive(tmp_path, rows, fields, row_type="Taxon"))
    assert report.dataset_type == "checklist"
    assert not report.publishable
    assert report.counts["ID_DUPLICATED"] == 1
    assert report.counts["ID_MISSING"] == 1
    assert any("taxonID 't1' is used by 2 records" in r for r in report.reasons)


def test_validate_archive__empty_core_is_refused(tmp_path: Path) -> None:
    report = validate_archive(archive(tmp_path, []))
    assert not report.publishable
    assert report.records == {"core.txt": 0}
    assert report.blocking_kinds == ["EMPTY_CORE"]


def test_validate_archive__garbage_is_not_publishable_and_never_raises(tmp_path: Path) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"PK\x03\x04 this is not really a zip \x00\x01")
    report = validate_archive(junk)
    assert not report.publishable
    assert report.blocking_kinds == ["ARCHIVE_UNREADABLE"]
    missing = validate_archive(tmp_path / "missing.zip")
    assert "no such file" in missing.reasons[0]


# -- sources ------------------------------------------------------------------------------
def test_validate_source__reports_mapping_gaps_and_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(
        "编号,学名,类型,备注\nGX-1,Begonia a,标本,x\n"
        "GX-1,Begonia b,观察,y\nGX-3,Begonia c,照片,z\n",
        encoding="utf-8",
    )
    mapping = mapping_from_dict(
        {
            "id": {"column": "编号"},
            "columns": {"学名": "scientificName", "类型": "basisOfRecord"},
            "translations": {
                "basisOfRecord": {"标本": "PreservedSpecimen", "观察": "HumanObservation"}
            },
        },
        origin="export.mapping.toml",
    )  # fmt: skip
    report = validate_source(path, mapping)
    assert not report.publishable
    assert report.counts["OCCURRENCE_ID_DUPLICATED"] == 1
    assert report.counts["UNMAPPED_COLUMN"] == 1
    untranslated = next(p for p in report.problems if p.kind == "UNTRANSLATED_VALUE")
    assert untranslated.value == "照片"
    assert report.counts["BASIS_OF_RECORD_INVALID"] == 1


def test_validate_source__broken_mapping_is_named(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("a\n1\n", encoding="utf-8")
    bad = tmp_path / "bad.toml"
    bad.write_text('[columns]\na = "scientificname"\n', encoding="utf-8")
    report = validate_source(path, bad)
    assert report.blocking_kinds == ["MAPPING_INVALID"]
    assert "did you mean 'scientificName'" in report.reasons[0]
    missing = validate_source(path, mapping_from_dict({"columns": {"b": "locality"}}, "m.toml"))
    assert missing.blocking_kinds == ["MAPPING_INVALID"]


def test_validate_source__undecodable_file_is_not_publishable(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(b"occurrenceID,locality\n" + "1,秋海棠\n".encode() * 30 + b"2,\xff\n")
    report = validate_source(path)
    assert report.blocking_kinds == ["SOURCE_UNREADABLE"]
    assert "line 32" in report.reasons[0]


def test_validate_source__lines_stay_exact_deep_in_a_file_of_many_blocks(tmp_path: Path) -> None:
    # ~7 MB: seven of the reader's 1 MiB blocks, with a short row and a multi-line
    # quoted locality before the problem, which sits in a late block.
    path = tmp_path / "export.csv"
    rows = ["occurrenceID,basisOfRecord,scientificName,locality,decimalLatitude,decimalLongitude"]
    for n in range(1, 120_001):
        latitude = "95.2" if n == 110_000 else "22.81"
        locality = '"karst hill\nnear the cave"' if n == 30_000 else "karst hill near the cave"
        rows.append(f"GX-{n},PreservedSpecimen,Begonia {n},{locality},{latitude},107.2")
    rows[60_000] = "GX-60000,PreservedSpecimen"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    text = validate_source(path).format_text()
    # Records count from the header's line 1; the quoted value spanning two lines is one.
    assert "line 60001: has 2 columns, expected 6; the row is skipped" in text
    assert "line 110001: decimalLatitude '95.2' is outside -90..90" in text
