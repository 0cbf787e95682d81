"""Every dialect meta.xml can declare, read as GBIF's reader reads it, and what is not data
refused with exit 1 and a reason. Each archive is a real zip written here."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from dwca.read import DwCAReader

from node.cli import main
from node.dwca.reader import open_archive
from node.publish.validate import validate_archive

DWC = "http://rs.tdwg.org/dwc/terms/"
GBIF = "http://rs.gbif.org/terms/1.0/"
EML = (
    "<eml><dataset><title>t</title><abstract><para>a</para></abstract><intellectualRights>"
    "http://creativecommons.org/licenses/by/4.0/legalcode</intellectualRights></dataset></eml>"
)


def _zip(tmp_path: Path, files: dict[str, str], name: str = "dwca.zip") -> Path:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in files.items():
            archive.writestr(member, text)
    return path


def _section(
    tag: str, locations: list[str], key: str, terms: list[str], attributes: str, row_type: str
) -> str:
    files = "".join(f"<location>{n}</location>" for n in locations)
    fields = "".join(f'<field index="{i + 1}" term="{t}"/>' for i, t in enumerate(terms))
    return (
        f'<{tag} rowType="{row_type}" {attributes}><files>{files}</files>'
        f'<{key} index="0"/>{fields}</{tag}>'
    )


def _meta(*sections: str) -> str:
    return (
        '<?xml version="1.0"?><archive xmlns="http://rs.tdwg.org/dwc/text/" metadata="eml.xml">'
        + "".join(sections)
        + "</archive>"
    )


CORE_TERMS = [DWC + "occurrenceID", DWC + "scientificName"]
TAB = 'fieldsTerminatedBy="\\t" linesTerminatedBy="\\n" ignoreHeaderLines="1"'


def _rows(path: Path) -> list[dict[str, str]]:
    with open_archive(path) as archive:
        return archive.read_table().to_pylist()


def test_reader__meta_without_encoding_reads_as_utf8(tmp_path: Path) -> None:
    core = _section("core", ["occ.txt"], "id", CORE_TERMS, TAB, DWC + "Occurrence")
    data = "id\toccurrenceID\tscientificName\n1\to1\tPaphiopedilum hangianum Perner & Gruss\n"
    path = _zip(tmp_path, {"meta.xml": _meta(core), "occ.txt": data, "eml.xml": EML})
    assert [r["scientificName"] for r in _rows(path)] == ["Paphiopedilum hangianum Perner & Gruss"]
    assert validate_archive(path).publishable


def test_reader__empty_fields_enclosed_by_means_no_quoting(tmp_path: Path) -> None:
    attributes = TAB + ' encoding="UTF-8" fieldsEnclosedBy=""'
    core = _section("core", ["occ.txt"], "id", CORE_TERMS, attributes, DWC + "Occurrence")
    lines = ["id\toccurrenceID\tscientificName"]
    # Unbalanced and embedded quotes: taken as quoting they would swallow the next rows.
    lines += [f'{i}\to{i}\t"Cypripedium {i} cf. "sp' for i in range(50)]
    files = {"meta.xml": _meta(core), "occ.txt": "\n".join(lines) + "\n", "eml.xml": EML}
    path = _zip(tmp_path, files)
    rows = _rows(path)
    assert len(rows) == 50
    assert rows[7]["scientificName"] == '"Cypripedium 7 cf. "sp'
    with DwCAReader(str(path)) as reference:
        assert len(list(reference)) == 50


def test_reader__core_split_over_several_locations_is_read_whole(tmp_path: Path) -> None:
    attributes = TAB + ' encoding="UTF-8"'
    parts = ["part1.txt", "part2.txt", "part3.txt"]
    core = _section("core", parts, "id", CORE_TERMS, attributes, DWC + "Occurrence")
    files = {"meta.xml": _meta(core), "eml.xml": EML}
    for n, part in enumerate(parts):
        files[part] = "id\toccurrenceID\tscientificName\n" + "".join(
            f"{n}{i}\to{n}{i}\tAus bus\n" for i in range(2)
        )
    rows = _rows(_zip(tmp_path, files))
    assert [r["occurrenceID"] for r in rows] == ["o00", "o01", "o10", "o11", "o20", "o21"]


def test_reader__empty_lines_are_skipped_not_fatal(tmp_path: Path) -> None:
    core = _section("core", ["occ.txt"], "id", CORE_TERMS, TAB, DWC + "Occurrence")
    data = "id\toccurrenceID\tscientificName\n\n1\to1\tAus bus\n\n\n2\to2\tAus cus\n\n"
    path = _zip(tmp_path, {"meta.xml": _meta(core), "occ.txt": data, "eml.xml": EML})
    assert [r["occurrenceID"] for r in _rows(path)] == ["o1", "o2"]
    assert validate_archive(path).publishable


def test_reader__headerless_file_reads_every_line_as_data(tmp_path: Path) -> None:
    attributes = 'encoding="UTF-8" fieldsTerminatedBy="," fieldsEnclosedBy="&quot;"'
    core = _section("core", ["occ.csv"], "id", CORE_TERMS, attributes, DWC + "Occurrence")
    data = "".join(f'{i},o{i},"Aus bus, var. {i}"\n' for i in range(99))
    path = _zip(tmp_path, {"meta.xml": _meta(core), "occ.csv": data, "eml.xml": EML})
    report = validate_archive(path)
    assert report.records == {"occ.csv": 99}
    assert report.publishable
    with DwCAReader(str(path)) as reference:
        assert len(list(reference)) == 99


def test_reader__extension_keyed_by_id_instead_of_coreid(tmp_path: Path) -> None:
    attributes = TAB + ' encoding="UTF-8"'
    core = _section("core", ["taxa.txt"], "id", [DWC + "taxonID", DWC + "scientificName"],
                    attributes, DWC + "Taxon")  # fmt: skip
    extension = _section("extension", ["vern.txt"], "id", [DWC + "vernacularName"],
                         attributes, GBIF + "VernacularName")  # fmt: skip
    files = {
        "meta.xml": _meta(core, extension),
        "eml.xml": EML,
        "taxa.txt": "id\ttaxonID\tscientificName\n1\tt1\tPaphiopedilum helenae\n",
        "vern.txt": "id\tvernacularName\n1\tlan hài helen\n1\t海伦兜兰\n",
    }
    path = _zip(tmp_path, files)
    with open_archive(path) as archive:
        (vernacular,) = archive.extensions
        assert archive.read_table(vernacular).to_pylist() == [
            {"coreid": "1", "vernacularName": "lan hài helen"},
            {"coreid": "1", "vernacularName": "海伦兜兰"},
        ]
    assert validate_archive(path).publishable


def _validate(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["validate", *args])
    return result.exit_code, result.output


def test_validate__html_saved_as_zip_is_refused(tmp_path: Path) -> None:
    page = tmp_path / "occurrences.zip"
    page.write_text("<!DOCTYPE html>\n<html><body>502 Bad Gateway</body></html>\n")
    code, output = _validate(str(page))
    assert code == 1
    assert "not a zip or tar file" in output and "HTML page" in output


def test_validate__html_body_as_csv_is_refused(tmp_path: Path) -> None:
    page = tmp_path / "occurrences.csv"
    page.write_text("<html><head><title>Login</title></head><body>x</body></html>\n")
    code, output = _validate(str(page))
    assert code == 1
    assert "HTML page" in output


def test_validate__empty_core_is_refused(tmp_path: Path) -> None:
    core = _section("core", ["occ.txt"], "id", CORE_TERMS, TAB, DWC + "Occurrence")
    data = "id\toccurrenceID\tscientificName\n"
    code, output = _validate(str(_zip(tmp_path, {"meta.xml": _meta(core), "occ.txt": data})))
    assert code == 1
    assert "EMPTY_CORE" in output


def test_validate__headerless_csv_is_never_publishable_with_zero_rows(tmp_path: Path) -> None:
    source = tmp_path / "specimens.csv"
    source.write_text("".join(f"GXMI{i},Aus bus {i},2001-01-0{i % 9 + 1}\n" for i in range(99)))
    code, output = _validate(str(source))
    assert code == 1
    assert "EMPTY_CORE" in output


def test_validate__header_on_first_line_is_not_taken_for_a_preamble(tmp_path: Path) -> None:
    source = tmp_path / "occurrence.txt"
    rows = ["occurrenceID\tscientificName\tcountryCode\tdecimalLatitude\tdecimalLongitude"]
    # The first rows leave trailing cells off: by width alone, the header would be taken
    # for a title line and the first 16 records for a preamble.
    rows += [f"o{i}\tAus bus\tVN" for i in range(16)]
    rows += [f"o{i}\tAus bus\tVN\t21.{i}\t105.{i}" for i in range(16, 435)]
    source.write_text("\n".join(rows) + "\n")
    code, output = _validate(str(source))
    assert "above the header" not in output
    assert "occurrence.txt 419 rows" in output
    # The short rows are named, line by line, and block: nothing is lost silently.
    assert "COLUMN_MISMATCH: occurrence.txt line 2: has 3 columns, expected 5" in output
    assert "(16 in all)" in output
    assert code == 1


@pytest.mark.parametrize("header", ["ScientificName\tTaxonRank\tHigherTaxonID",
                                    "SCIENTIFICNAME\ttaxonrank\thigherTaxonID"])  # fmt: skip
def test_validate__single_file_with_capitalised_terms_is_a_checklist(
    tmp_path: Path, header: str
) -> None:
    source = tmp_path / "names.txt"
    source.write_text(f"{header}\nPaphiopedilum\tgenus\t\nPaphiopedilum helenae\tspecies\t1\n")
    _code, output = _validate(str(source))
    assert "(checklist; names.txt 2 rows)" in output
    # higherTaxonID is no Darwin Core term: it is named, never dropped silently.
    assert "column 'highertaxonid' is mapped to no term" in output.lower()
