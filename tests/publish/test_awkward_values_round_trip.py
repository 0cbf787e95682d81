"""Round trips with awkward real-world data: source -> archive -> reader, value for value."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import pytest
import tomlkit
from dwca.read import DwCAReader

from node.cli.commands.datasets import publish_one
from node.core.config import CONFIG_FILE, load_config
from node.core.errors import InvalidSource
from node.core.terms import short_name
from node.dwca.reader import open_archive
from node.publish.versions import latest_version
from node.store.home import init_home

DATA = Path(__file__).resolve().parents[1] / "data"
DWC = "http://rs.tdwg.org/dwc/terms/"


def _zip(path: Path, meta: str, data: str) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("meta.xml", meta)
        archive.writestr("occurrence.txt", data)
    return path


def test_reader__a_term_mapped_twice_shifts_no_other_column(tmp_path: Path) -> None:
    """meta.xml mapping one term to two columns must not hand the second one's values to
    the terms after it (country read 'Bbb' here); the last mapping wins, as in
    python-dwca-reader's rows."""
    meta = f"""<?xml version="1.0" encoding="UTF-8"?>
<archive xmlns="http://rs.tdwg.org/dwc/text/">
  <core encoding="UTF-8" fieldsTerminatedBy="\\t" linesTerminatedBy="\\n"
        fieldsEnclosedBy="" ignoreHeaderLines="1" rowType="{DWC}Occurrence">
    <files><location>occurrence.txt</location></files>
    <id index="0"/>
    <field index="1" term="{DWC}scientificName"/>
    <field index="2" term="{DWC}locality"/>
    <field index="3" term="{DWC}scientificName"/>
    <field index="4" term="{DWC}country"/>
    <field term="{DWC}basisOfRecord" default="PreservedSpecimen"/>
  </core>
</archive>"""
    data = "id\tsn\tloc\tsn2\tcountry\n1\tAaa\tL1\tBbb\tChina\n"
    path = _zip(tmp_path / "twice.zip", meta, data)
    with open_archive(path) as archive:
        ours = archive.read_table().to_pylist()
    with DwCAReader(str(path)) as reader:
        reference = [{short_name(k): v for k, v in row.data.items()} for row in reader]
    assert ours == [{"id": "1", **reference[0]}]
    assert ours[0]["country"] == "China"


# -- publishing an institution's file ------------------------------------------------------
def _home(tmp_path: Path, source: str, text: str, kind: str = "occurrence") -> Path:
    home = tmp_path / "node"
    init_home(home, "gxib", "Guangxi Institute of Botany", country="CN")
    (home / "sources" / source).write_text(text, encoding="utf-8")
    document = tomlkit.parse((home / CONFIG_FILE).read_text(encoding="utf-8"))
    datasets = document.setdefault("datasets", tomlkit.aot())
    datasets.append(
        {
            "id": "occ",
            "title": "Karst plants",
            "type": kind,
            "source": f"sources/{source}",
            "licence": "CC-BY-4.0",
            "abstract": "Specimens of karst plants.",
            "creator": "GXIB",
        }
    )
    (home / CONFIG_FILE).write_text(tomlkit.dumps(document), encoding="utf-8")
    return home


def _published(home: Path) -> list[dict[str, str]]:
    info = latest_version(load_config(home), "occ")
    assert info is not None
    with DwCAReader(str(info.path)) as reader:
        return [{short_name(k): v for k, v in row.data.items()} for row in reader]


def test_publish__a_row_with_missing_cells_is_not_dropped_silently(tmp_path: Path) -> None:
    """A row the CSV parser cannot use (a cell short) was left out of the archive while
    publish reported success, and --skip-invalid left it out of rejects.csv too."""
    text = (
        "occurrenceID,scientificName,basisOfRecord,eventDate\n"
        "GX-1,Primulina tabacum,PreservedSpecimen,2020-05-01\n"
        "GX-2,Begonia masoniana,PreservedSpecimen\n"
        "GX-3,Paphiopedilum micranthum,PreservedSpecimen,2021-06-02\n"
    )
    home = _home(tmp_path, "occ.csv", text)
    with pytest.raises(InvalidSource, match="not published"):
        publish_one(home, "occ", skip_invalid=False, major=False)
    assert latest_version(load_config(home), "occ") is None

    message = publish_one(home, "occ", skip_invalid=True, major=False)
    assert "2 records" in message and "1 rows rejected" in message
    assert [r["occurrenceID"] for r in _published(home)] == ["GX-1", "GX-3"]
    info = latest_version(load_config(home), "occ")
    assert info is not None
    with open(info.folder / "rejects.csv", encoding="utf-8-sig", newline="") as handle:
        rejects = list(csv.DictReader(handle))
    assert [(r["line"], r["reason"]) for r in rejects] == [
        ("3", "has 3 columns, expected 4; the row is skipped")
    ]


def test_publish__an_archive_as_the_source_publishes(tmp_path: Path) -> None:
    """node.toml may name a DwC-A as a dataset's source (its own files or a DwC-A);
    publishing it raised NotImplementedError, as archives are read mapped, not raw."""
    home = _home(tmp_path, "occ.csv", "", kind="checklist")
    source = DATA / "dwca" / "python-dwca-reader" / "dwca-star-test-archive.zip"
    (home / "sources" / "occ.zip").write_bytes(source.read_bytes())
    path = home / CONFIG_FILE
    path.write_text(path.read_text(encoding="utf-8").replace("occ.csv", "occ.zip"), "utf-8")
    with DwCAReader(str(source)) as reader:
        expected = [{short_name(k): v for k, v in row.data.items()} for row in reader]
    for skip_invalid in (False, True):
        publish_one(home, "occ", skip_invalid=skip_invalid, major=False)
        published = _published(home)
        assert [{k: r[k] for k in expected[0]} for r in published] == expected
