"""Round trips with awkward real-world data: source -> archive -> reader, value for value."""

from __future__ import annotations

import zipfile
from pathlib import Path

from dwca.read import DwCAReader

from mappings.terms import short_name
from node.dwca.reader import open_archive

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
