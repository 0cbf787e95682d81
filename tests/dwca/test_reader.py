"""The reader against python-dwca-reader on every real sample archive, and its refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from dwca.read import DwCAReader

from node.core.errors import InvalidArchive
from node.core.terms import short_name
from node.dwca.reader import open_archive

DATA = Path(__file__).resolve().parents[1] / "data" / "dwca"
SAMPLES = DATA / "python-dwca-reader"
ARCHIVES = sorted(
    [p for p in SAMPLES.iterdir() if p.suffix in (".zip", ".tgz") or p.is_dir()]
    + [p for p in (DATA / "ipt").iterdir() if p.suffix == ".zip"]
)
# Archives python-dwca-reader refuses too, and the reason ours gives.
BROKEN = {
    "dwca-inside-parent-invalid.zip": "malformed XML",
    "dwca-noidelementincoremapping.zip": "required element",
    "dwca-invalid-simple-toomuch.zip": "ambiguous",
    "dwca-invalid-simple-two.zip": "ambiguous",
    "dwca-malformed-descriptor": "column index 234",
    "dwca-missing-extension-details": "path is not specified",
}


def _reference_rows(path: Path) -> list[tuple[str | None, dict[str, str]]]:
    with DwCAReader(str(path)) as reader:
        return [(row.id, {short_name(k): v for k, v in row.data.items()}) for row in reader]


def _our_rows(path: Path) -> list[tuple[str | None, dict[str, str]]]:
    with open_archive(path) as archive:
        rows = archive.read_table().to_pylist()
    return [(row.pop("id", None), row) for row in rows]


@pytest.mark.parametrize("path", ARCHIVES, ids=lambda p: p.name)
def test_reader__rows_equal_python_dwca_reader_or_clear_error(path: Path) -> None:
    if path.name in BROKEN:
        with pytest.raises(InvalidArchive, match=BROKEN[path.name]):
            _our_rows(path)
        return
    if path.name == "dwca-invalid-lacks-metadata":
        # python-dwca-reader refuses a meta.xml naming a missing EML; the data is readable,
        # so we read it and the validator reports the missing metadata.
        assert len(_our_rows(path)) == 2
        return
    assert _our_rows(path) == _reference_rows(path)


def test_reader__extension_rows_carry_coreid_and_vernacular_names() -> None:
    with open_archive(SAMPLES / "dwca-star-test-archive.zip") as archive:
        vernacular = archive.extension("http://rs.gbif.org/terms/1.0/VernacularName")
        assert vernacular is not None
        table = archive.read_table(vernacular)
    assert table.column_names[0] == "coreid"
    assert "vernacularName" in table.column_names
    assert table.num_rows > 0


def test_reader__default_values_fill_missing_columns() -> None:
    with open_archive(SAMPLES / "dwca-test-default.zip") as archive:
        table = archive.read_table()
    assert set(table.column("country").to_pylist()) == {"Belgium"}


def test_reader__windows1252_and_tgz_and_subfolder_archives_read() -> None:
    for name in (
        "dwca-metadata-windows1252-encoding",
        "dwca-simple-test-archive.tgz",
        "dwca-simple-subdir.zip",
    ):
        with open_archive(SAMPLES / name) as archive:
            assert archive.read_table().num_rows >= 2


def test_reader__streams_in_batches_of_bounded_size(tmp_path: Path) -> None:
    import zipfile

    rows = 60_000
    data = "id\tscientificName\n" + "".join(f"{i}\tPrimulina eburnea\n" for i in range(rows))
    meta = (
        '<archive xmlns="http://rs.tdwg.org/dwc/text/"><core encoding="UTF-8" '
        'fieldsTerminatedBy="\\t" linesTerminatedBy="\\n" fieldsEnclosedBy="" '
        'ignoreHeaderLines="1" rowType="http://rs.tdwg.org/dwc/terms/Occurrence">'
        '<files><location>occurrence.txt</location></files><id index="0"/>'
        '<field index="1" term="http://rs.tdwg.org/dwc/terms/scientificName"/></core></archive>'
    )
    path = tmp_path / "big.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("meta.xml", meta)
        archive.writestr("occurrence.txt", data)
    with open_archive(path) as archive:
        sizes = [batch.num_rows for batch in archive.iter_batches(block_bytes=64 * 1024)]
    assert sum(sizes) == rows
    assert len(sizes) > 5 and max(sizes) < rows


def test_reader__row_with_wrong_column_count_is_recorded_not_dropped_silently(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "archive"
    folder.mkdir()
    (folder / "occurrence.txt").write_text(
        "occurrenceID\tscientificName\n1\tBegonia\n2\tBegonia\textra\n3\tPrimulina\n",
        encoding="utf-8",
    )
    with open_archive(folder) as archive:
        table = archive.read_table()
        problems = archive.problems
    assert table.column("occurrenceID").to_pylist() == ["1", "3"]
    assert len(problems) == 1 and problems[0].line == 3 and "3 columns" in problems[0].detail


def test_reader__undeclared_encoding_gives_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "archive"
    folder.mkdir()
    (folder / "occurrence.txt").write_bytes(
        "occurrenceID\tvernacularName\n1\t报春苣苔\n".encode("gb18030")
    )
    with pytest.raises(InvalidArchive, match="not valid"), open_archive(folder) as archive:
        archive.read_table()
