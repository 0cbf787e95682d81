"""Record-level gaps GBIF flags: an empty scientificName, a placeholder country code, and
Dublin Core terms that extensions use."""

from __future__ import annotations

import zipfile
from pathlib import Path

from node.publish.validate import validate_archive, validate_source

EML = (
    "<eml><dataset><title>t</title><abstract><para>a</para></abstract><intellectualRights>"
    "http://creativecommons.org/licenses/by/4.0/legalcode</intellectualRights></dataset></eml>"
)


def test_validate__empty_scientific_name_and_placeholder_country_are_flagged(
    tmp_path: Path,
) -> None:
    source = tmp_path / "occurrence.csv"
    source.write_text(
        "occurrenceID,basisOfRecord,scientificName,eventDate,countryCode\n"
        "o1,PreservedSpecimen,Paphiopedilum helenae,2001-05-01,VN\n"
        "o2,PreservedSpecimen,,2001-05-01,XX\n"
        "o3,PreservedSpecimen,  ,2001-05-01,ZZ\n"
        "o4,PreservedSpecimen,Aus bus,2001-05-01,CHN\n"
        "o5,PreservedSpecimen,Aus bus,2001-05-01,cn\n"
    )
    report = validate_source(source)
    assert report.counts["SCIENTIFIC_NAME_MISSING"] == 2
    assert report.counts["COUNTRY_CODE_INVALID"] == 3
    flagged = {p.value for p in report.problems if p.kind == "COUNTRY_CODE_INVALID"}
    assert flagged == {"XX", "ZZ", "CHN"}
    assert report.publishable  # warnings, as GBIF flags such records when it indexes them


def test_validate__dublin_core_description_is_a_known_term(tmp_path: Path) -> None:
    meta = (
        '<archive xmlns="http://rs.tdwg.org/dwc/text/" metadata="eml.xml">'
        '<core rowType="http://rs.tdwg.org/dwc/terms/Taxon" encoding="UTF-8" '
        'fieldsTerminatedBy="\\t" ignoreHeaderLines="1"><files><location>taxa.txt</location>'
        '</files><id index="0"/><field index="1" term="http://rs.tdwg.org/dwc/terms/taxonID"/>'
        '<field index="2" term="http://rs.tdwg.org/dwc/terms/scientificName"/></core>'
        '<extension rowType="http://rs.gbif.org/terms/1.0/Description" encoding="UTF-8" '
        'fieldsTerminatedBy="\\t" ignoreHeaderLines="1"><files><location>desc.txt</location>'
        '</files><coreid index="0"/>'
        '<field index="1" term="http://purl.org/dc/terms/description"/>'
        '<field index="2" term="http://purl.org/dc/terms/nonsense"/>'
        '<field index="3" term="http://rs.tdwg.org/dwc/terms/notATerm"/></extension></archive>'
    )
    path = tmp_path / "dwca.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("meta.xml", meta)
        archive.writestr("eml.xml", EML)
        archive.writestr("taxa.txt", "id\ttaxonID\tscientificName\n1\tt1\tAus bus\n")
        archive.writestr("desc.txt", "coreid\tdescription\tx\ty\n1\tEpiphyte on limestone\t\t\n")
    report = validate_archive(path)
    unknown = {p.field for p in report.problems if p.kind == "UNKNOWN_TERM"}
    assert unknown == {"notATerm"}
