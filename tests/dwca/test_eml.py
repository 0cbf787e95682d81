"""eml.xml: the GBIF profile's required parts, licences, coverage, and reading peers' EML."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
import zipfile
from collections import Counter
from pathlib import Path

import defusedxml.ElementTree as safe_et
import pyarrow as pa
import pytest
from dwca.read import DwCAReader

from node.core.config import DatasetConfig, NodeConfig
from node.core.errors import ConfigError, UnsafeArchive
from node.core.licences import find_licence, licence_url
from node.core.terms import OCCURRENCE_ROW_TYPE
from node.dwca.coverage import Coverage
from node.dwca.eml import (
    DATASET_ORDER,
    build_eml,
    eml_problems,
    parse_eml,
)
from node.dwca.writer import write_archive
from node.store.records import to_stored_layout

IPT_ARCHIVE = Path(__file__).parents[1] / "data" / "dwca" / "ipt" / "dwca-inside-parent.zip"
NS = "{https://eml.ecoinformatics.org/eml-2.2.0}"
NODE = NodeConfig(
    home=Path("."),
    id="vnmn",
    name="Vietnam National Museum of Nature",
    country="VN",
    url="https://node.vnmn.example/",
    contact_email="data@vnmn.example",
)


def dataset(**changes: object) -> DatasetConfig:
    fields = {
        "id": "vn-karst",
        "title": "Thực vật núi đá vôi miền Bắc Việt Nam",
        "type": "occurrence",
        "source": "sources/karst.xlsx",
        "licence": "CC-BY-NC-4.0",
        "abstract": "Herbarium specimens from the limestone karst of northern Vietnam.",
        "creator": "Nguyễn Văn A",
        "keywords": ("karst", "Gesneriaceae"),
        "language": "vi",
        **changes,
    }
    return DatasetConfig(**fields)  # type: ignore[arg-type]


def coverage() -> Coverage:
    return Coverage(
        records=3,
        georeferenced=2,
        west=103.25,
        east=106.0,
        south=20.5,
        north=23.375,
        start=dt.date(1998, 5, 1),
        end=dt.date(2024, 11, 30),
        families=Counter({"Gesneriaceae": 2, "Begoniaceae": 1}),
        genera=Counter({"Primulina": 2, "Begonia": 1}),
    )


def build(**changes: object) -> bytes:
    return build_eml(
        dataset(**changes),
        NODE,
        coverage(),
        "1.2",
        dt.date(2026, 3, 1),
        change_summary="Since version 1.1: 3 added.",
        modified=dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC),
    )


def test_build_eml__has_every_element_the_gbif_profile_requires() -> None:
    root = safe_et.fromstring(build())
    assert root.tag == NS + "eml"
    assert root.get("packageId") == "https://node.vnmn.example/datasets/vn-karst/v1.2"
    assert (root.get("system"), root.get("scope")) == ("http://gbif.org", "system")
    assert root.get("{http://www.w3.org/XML/1998/namespace}lang") == "vi"
    ds = root.find("dataset")
    assert ds.findtext("title") == "Thực vật núi đá vôi miền Bắc Việt Nam"
    assert ds.findtext("creator/individualName/surName") == "Nguyễn Văn A"
    assert ds.findtext("creator/organizationName") == NODE.name
    assert ds.findtext("contact/electronicMailAddress") == "data@vnmn.example"
    assert ds.findtext("metadataProvider/address/country") == "VN"
    assert ds.findtext("pubDate") == "2026-03-01"
    assert ds.findtext("abstract/para").startswith("Herbarium specimens")
    assert [k.text for k in ds.findall("keywordSet/keyword")] == [
        "karst",
        "Gesneriaceae",
        "Occurrence",
    ]
    assert ds.findtext("maintenance/description/para") == "Since version 1.1: 3 added."
    assert (
        root.findtext("additionalMetadata/metadata/gbif/dateStamp") == "2026-03-01T08:00:00+00:00"
    )
    assert root.findtext("additionalMetadata/metadata/gbif/hierarchyLevel") == "dataset"
    order = [DATASET_ORDER.index(child.tag) for child in ds]
    assert order == sorted(order)
    assert eml_problems(build()) == []


def test_build_eml__licence_uses_gbif_wording_and_legal_code_url() -> None:
    ds = safe_et.fromstring(build()).find("dataset")
    link = ds.find("intellectualRights/para/ulink")
    assert link.get("url") == "http://creativecommons.org/licenses/by-nc/4.0/legalcode"
    assert link.findtext("citetitle") == (
        "Creative Commons Attribution Non Commercial (CC-BY-NC) 4.0 License"
    )
    text = "".join(ds.find("intellectualRights/para").itertext())
    assert text == (
        "This work is licensed under a Creative Commons Attribution Non Commercial "
        "(CC-BY-NC) 4.0 License."
    )
    assert ds.findtext("licensed/identifier") == "CC-BY-NC-4.0"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CC0-1.0", "CC0-1.0"),
        ("cc by 4.0", "CC-BY-4.0"),
        ("CC-BY-NC-4.0", "CC-BY-NC-4.0"),
        ("https://creativecommons.org/licenses/by/4.0/", "CC-BY-4.0"),
        ("http://creativecommons.org/publicdomain/zero/1.0/legalcode", "CC0-1.0"),
        ("Creative Commons Attribution (CC-BY) 4.0 License", "CC-BY-4.0"),
        ("CC-BY-SA-4.0", None),
        ("", None),
    ],
)
def test_find_licence__accepts_ids_urls_and_titles(text: str, expected: str | None) -> None:
    found = find_licence(text)
    assert (found.id if found else None) == expected


def test_licence_url__unknown_text_is_kept() -> None:
    assert licence_url("CC0-1.0") == "http://creativecommons.org/publicdomain/zero/1.0/legalcode"
    assert licence_url("All rights reserved") == "All rights reserved"


def test_build_eml__coverage_comes_from_the_data() -> None:
    ds = safe_et.fromstring(build()).find("dataset")
    box = ds.find("coverage/geographicCoverage/boundingCoordinates")
    assert [
        box.findtext(f"{side}BoundingCoordinate") for side in ("west", "east", "north", "south")
    ] == [
        "103.25",
        "106",
        "23.375",
        "20.5",
    ]
    dates = ds.find("coverage/temporalCoverage/rangeOfDates")
    assert dates.findtext("beginDate/calendarDate") == "1998-05-01"
    assert dates.findtext("endDate/calendarDate") == "2024-11-30"
    taxa = [
        (t.findtext("taxonRankName"), t.findtext("taxonRankValue"))
        for t in ds.findall("coverage/taxonomicCoverage/taxonomicClassification")
    ]
    assert taxa == [
        ("family", "Gesneriaceae"),
        ("family", "Begoniaceae"),
        ("genus", "Primulina"),
        ("genus", "Begonia"),
    ]


def test_build_eml__without_coverage_omits_it() -> None:
    document = build_eml(dataset(), NODE, Coverage(), "1.0", dt.date(2026, 1, 1))
    assert safe_et.fromstring(document).find("dataset/coverage") is None
    assert eml_problems(document) == []


def test_build_eml__missing_abstract_is_refused_with_the_fix() -> None:
    with pytest.raises(ConfigError, match=r"vn-karst.*needs an `abstract`"):
        build(abstract="  ")


def test_build_eml__licence_gbif_does_not_accept_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"CC-BY-SA-4\.0.*CC0-1\.0, CC-BY-4\.0, CC-BY-NC-4\.0"):
        build(licence="CC-BY-SA-4.0")


def test_eml_problems__names_what_is_missing_or_misplaced() -> None:
    document = build()
    root = safe_et.fromstring(document)
    ds = root.find("dataset")
    ds.remove(ds.find("contact"))
    ds.remove(ds.find("intellectualRights"))
    title = ds.find("title")
    ds.remove(title)
    ds.append(title)
    problems = eml_problems(ET.tostring(root))
    assert "no contact with a surName, organizationName or positionName" in problems
    assert "no licence in intellectualRights" in problems
    assert "<dataset> children are out of the profile's order" in problems


def test_eml_problems__refuses_entities() -> None:
    bomb = b'<!DOCTYPE x [<!ENTITY a "aaaa">]><eml:eml xmlns:eml="x">&a;</eml:eml>'
    with pytest.raises(UnsafeArchive):
        eml_problems(bomb)


def test_parse_eml__reads_back_our_own_document(tmp_path: Path) -> None:
    path = tmp_path / "eml.xml"
    path.write_bytes(build())
    assert parse_eml(path) == {
        "title": "Thực vật núi đá vôi miền Bắc Việt Nam",
        "licence": "CC-BY-NC-4.0",
        "pubDate": "2026-03-01",
        "version": "1.2",
        "packageId": "https://node.vnmn.example/datasets/vn-karst/v1.2",
    }


def test_parse_eml__real_ipt_eml_keeps_an_unknown_licence_as_text(tmp_path: Path) -> None:
    with zipfile.ZipFile(IPT_ARCHIVE) as archive:
        path = tmp_path / "eml.xml"
        path.write_bytes(archive.read("dwca-inside-parent/eml.xml"))
    parsed = parse_eml(path)
    assert (
        parsed["title"]
        == "Aves Tanzanian collection at the Natural History Museum of Denmark (SNM)"
    )
    assert parsed["pubDate"] == "2012-12-02"
    assert parsed["version"] == "5"
    assert "creativecommons.org/licenses/by-nc/3.0" in (parsed["licence"] or "")


def test_build_eml__inside_an_archive_python_dwca_reader_reads_it(tmp_path: Path) -> None:
    table = to_stored_layout(
        pa.table(
            {"occurrenceID": ["o1"], "decimalLatitude": ["21.0"], "decimalLongitude": ["105.8"]}
        )
    )
    dest = tmp_path / "dwca.zip"

    def eml(found: Coverage) -> bytes:
        return build_eml(dataset(), NODE, found, "1.0", dt.date(2026, 1, 1))

    write_archive(dest, [table], OCCURRENCE_ROW_TYPE, eml)
    with DwCAReader(str(dest)) as archive:
        metadata = archive.metadata
    assert metadata.find("dataset/title").text == "Thực vật núi đá vôi miền Bắc Việt Nam"
    assert (
        metadata.find(
            "dataset/coverage/geographicCoverage/boundingCoordinates/westBoundingCoordinate"
        ).text
        == "105.8"
    )
