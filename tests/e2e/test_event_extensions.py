"""An Event-core archive (plots with Occurrence, MeasurementOrFact and Multimedia
extensions) published by gxib and harvested by vnmn under a signed agreement: extension
rows follow their records through enforcement."""

from __future__ import annotations

import asyncio
import zipfile
from pathlib import Path

from node.dwca.extension_tables import load_extensions
from node.store.store import Store, read_parquet
from tests.e2e.conftest import Federation, cli
from tests.nodes import running

DWC = "http://rs.tdwg.org/dwc/terms/"
DC = "http://purl.org/dc/terms/"
GBIF = "http://rs.gbif.org/terms/1.0/"
EXACT_PHOTO = "https://example.org/photos/plot-2-orchid.jpg"
FLOW = """
[[flows]]
from = "gxib"
to = "vnmn"
datasets = ["gxib-plots"]
licence = "CC-BY-NC-4.0"
attribution = "Guangxi Institute of Botany (GXIB)"
purposes = ["research"]
region = { countries = ["CN"] }

[[flows.sensitive]]
threat = ["CR"]
action = "generalise"
grid_degrees = 0.1
"""


def _file(rows: list[list[str]]) -> str:
    return "".join("\t".join(r) + "\n" for r in rows)


def _extension(row_type: str, location: str, terms: list[str]) -> str:
    fields = "".join(f'<field index="{i}" term="{t}"/>' for i, t in enumerate(terms, start=1))
    return (
        f'<extension encoding="UTF-8" fieldsTerminatedBy="\\t" linesTerminatedBy="\\n" '
        f'fieldsEnclosedBy="" ignoreHeaderLines="1" rowType="{row_type}">'
        f'<files><location>{location}</location></files><coreid index="0"/>{fields}</extension>'
    )


def plots_archive(path: Path) -> Path:
    """Two karst plots; plot-2 holds a critically endangered orchid."""
    event_names = ("eventID", "eventDate", "countryCode", "decimalLatitude",
                   "decimalLongitude", "locality", "samplingProtocol")  # fmt: skip
    occurrence_names = ("occurrenceID", "scientificName", "family", "basisOfRecord",
                        "iucnRedListCategory")  # fmt: skip
    event_terms = [DWC + t for t in event_names]
    occurrence_terms = [DWC + t for t in occurrence_names]
    mof_terms = [DWC + "measurementType", DWC + "measurementValue"]
    media_terms = [DC + "identifier", DC + "type", DC + "license"]
    core_fields = "".join(
        f'<field index="{i}" term="{t}"/>' for i, t in enumerate(event_terms, start=1)
    )
    meta = (
        '<archive xmlns="http://rs.tdwg.org/dwc/text/" metadata="eml.xml">'
        '<core encoding="UTF-8" fieldsTerminatedBy="\\t" linesTerminatedBy="\\n" '
        f'fieldsEnclosedBy="" ignoreHeaderLines="1" rowType="{DWC}Event">'
        f'<files><location>event.txt</location></files><id index="0"/>{core_fields}</core>'
        + _extension(DWC + "Occurrence", "occurrence.txt", occurrence_terms)
        + _extension(DWC + "MeasurementOrFact", "measurementorfact.txt", mof_terms)
        + _extension(GBIF + "Multimedia", "multimedia.txt", media_terms)
        + "</archive>"
    )
    events = [
        ["id", "eventID", "eventDate", "countryCode", "decimalLatitude", "decimalLongitude",
         "locality", "samplingProtocol"],
        ["plot-1", "plot-1", "2019-05-01", "CN", "22.84321", "106.62312", "Nonggang ridge",
         "20x20 m plot"],
        ["plot-2", "plot-2", "2019-05-02", "CN", "22.91234", "106.71234", "Cave mouth 3",
         "20x20 m plot"],
    ]  # fmt: skip
    occurrences = [
        ["coreid", "occurrenceID", "scientificName", "family", "basisOfRecord",
         "iucnRedListCategory"],
        ["plot-1", "occ-1", "Begonia fimbristipula", "Begoniaceae", "HumanObservation", "LC"],
        ["plot-2", "occ-2", "Paphiopedilum hangianum", "Orchidaceae", "HumanObservation", "CR"],
    ]  # fmt: skip
    measurements = [
        ["coreid", "measurementType", "measurementValue"],
        ["plot-1", "canopy cover", "80"],
        ["plot-2", "canopy cover", "65"],
        ["plot-2", "GPS latitude", "22.91234"],
    ]
    media = [
        ["coreid", "identifier", "type", "license"],
        ["plot-1", "https://example.org/photos/plot-1.jpg", "StillImage", "CC-BY-4.0"],
        ["plot-2", EXACT_PHOTO, "StillImage", "CC-BY-4.0"],
    ]
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("meta.xml", meta)
        archive.writestr("event.txt", _file(events))
        archive.writestr("occurrence.txt", _file(occurrences))
        archive.writestr("measurementorfact.txt", _file(measurements))
        archive.writestr("multimedia.txt", _file(media))
    return path


def _stored(home: Path, *where: str) -> dict[str, list[dict[str, object]]]:
    folder = Store(home).root.joinpath(*where)
    return {e.name: e.read().to_pylist() for e in load_extensions(folder)}


async def test_event_core_extensions_follow_enforcement(
    federation: Federation, tmp_path: Path
) -> None:
    gxib, vnmn = federation.gxib, federation.vnmn
    source = plots_archive(tmp_path / "plots.zip")
    gxib.edit_config(
        datasets=[
            {
                "id": "gxib-plots",
                "title": "Karst vegetation plots",
                "source": str(source),
                "type": "occurrence",
                "licence": "CC-BY-4.0",
                "abstract": "Vegetation plots in the limestone karst of south-west Guangxi.",
            }
        ]
    )
    published = cli("publish", "gxib-plots", "--home", str(gxib.home))
    assert published.exit_code == 0, published.output
    assert "3 Occurrence rows" not in published.output  # two occurrences, not three
    stored = _stored(gxib.home, "local", "gxib-plots")
    assert len(stored["MeasurementOrFact"]) == 3 and len(stored["Multimedia"]) == 2
    federation.install_agreement(federation.agreement_text() + FLOW)
    async with running(gxib):
        result = await asyncio.to_thread(cli, "harvest", "gxib", "--home", str(vnmn.home))
    assert result.exit_code == 0, result.output
    received = _stored(vnmn.home, "harvested", "gxib", "gxib-plots")
    events = read_parquet(Store(vnmn.home).harvested("gxib", "gxib-plots")).to_pylist()
    assert "eventID" in events[0], (events, received)
    by_event = {e["eventID"]: e for e in events}
    # plot-2 holds the CR orchid: the event itself is generalised to the 0.1 degree grid.
    assert by_event["plot-2"]["decimalLatitude"] != 22.91234
    assert round(by_event["plot-2"]["decimalLatitude"], 6) in (22.9, 22.95)
    assert not by_event["plot-2"].get("locality")
    assert by_event["plot-1"]["locality"] == "Nonggang ridge"
    photos = {r["coreid"]: r["identifier"] for r in received["Multimedia"]}
    assert photos["plot-1"] == "https://example.org/photos/plot-1.jpg"
    assert photos["plot-2"] in (None, "")
    values = [r["measurementValue"] for r in received["MeasurementOrFact"]]
    assert "22.91234" not in values and "80" in values
    occurrences = {r["occurrenceID"]: r for r in received["Occurrence"]}
    assert occurrences["occ-2"]["scientificName"] == "Paphiopedilum hangianum"
    assert occurrences["occ-1"]["coreid"] == "plot-1"
    harvested_zip = next(Store(vnmn.home).root.rglob("*.zip"), None)
    for path in [harvested_zip] if harvested_zip else []:
        assert EXACT_PHOTO.encode() not in path.read_bytes()
