"""`fednode validate` against the verdict GBIF's crawler gives the same sample archives.

GBIF decides whether an archive may be indexed in its crawler (gbif/crawler, class
`org.gbif.crawler.dwca.validator.DwcaValidator`) with the rules of the reports in gbif/gbif-api
(`org.gbif.api.model.crawler.OccurrenceValidationReport` and `GenericValidationReport`):

- OCCURRENCE rule: an Occurrence core is valid when every record has an occurrenceID and they
  are unique, or when at most 25% of records lack part of the institutionCode +
  collectionCode + catalogNumber triplet (INVALID_TRIPLET_THRESHOLD = 0.25) and the
  triplets are unique. The crawler reads `occurrenceID` only; the core `id` is not used.
- GENERIC rule: a Taxon (or Event) core is valid when no record lacks its id and none
  repeats one; the id is taxonID (eventID) when mapped, else the core `id` column.
- OPEN rule: an archive dwca-io cannot open (malformed meta.xml, an extension without a
  file, several data files and no meta.xml) is never validated, so never indexed.

Each row gives the crawler's verdict as it follows from one of these rules and the data
(counted with python-dwca-reader), and `validate`'s, which must match it except where a
row says why fednode is deliberately stricter.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from node.cli import main

DWCA = Path(__file__).resolve().parents[1] / "data" / "dwca"
PDR = "python-dwca-reader"

# archive -> (GBIF crawler's verdict, fednode validate's verdict, the rule and the data)
TABLE: dict[str, tuple[bool, bool, str]] = {
    "ipt/dwca-inside-parent.zip": (
        True, True, "OCCURRENCE: no occurrenceID, but 2 of 2 records carry the whole triplet"),
    "ipt/dwca-inside-parent-invalid.zip": (False, False, "OPEN: meta.xml is not well-formed"),
    f"{PDR}/dwca-utf8-eol-test.zip": (True, True, "OCCURRENCE: 1 record, 1 occurrenceID"),
    f"{PDR}/gbif-results.zip": (True, True, "OCCURRENCE: 158 unique occurrenceIDs"),
    f"{PDR}/gbif-results-lacks-s-metadata.zip": (
        True, True, "OCCURRENCE: 158 unique occurrenceIDs"),
    f"{PDR}/gbif-results-whitespace-in-xml.zip": (
        True, True, "OCCURRENCE: 158 unique occurrenceIDs"),
    f"{PDR}/dwca-simple-dir": (
        False, False, "OCCURRENCE: 4 records, no occurrenceID, no triplet (100% > 25%)"),
    f"{PDR}/dwca-simple-subdir.zip": (
        False, False, "OCCURRENCE: 2 records, no occurrenceID, no triplet"),
    f"{PDR}/dwca-simple-test-archive.tgz": (
        False, False, "OCCURRENCE: 2 records, no occurrenceID, no triplet"),
    f"{PDR}/dwca-nometadata.zip": (
        False, False, "OCCURRENCE: 2 records, no occurrenceID, no triplet"),
    f"{PDR}/dwca-csv-quote-dir": (
        False, False, "OCCURRENCE: 2 records, no occurrenceID, no triplet"),
    f"{PDR}/dwca-metadata-windows1252-encoding": (
        False, False, "OCCURRENCE: 4 records, no occurrenceID, no triplet"),
    f"{PDR}/dwca-test-default.zip": (
        False, False, "OCCURRENCE: 2 records, no occurrenceID, no triplet"),
    f"{PDR}/dwca-2extensions.zip": (
        True, True, "GENERIC: Taxon core, no taxonID term, 4 unique core ids"),
    f"{PDR}/dwca-ids.zip": (True, True, "GENERIC: Taxon core, 4 unique core ids"),
    f"{PDR}/dwca-star-test-archive.zip": (True, True, "GENERIC: Taxon core, 4 unique core ids"),
    f"{PDR}/dwca-invalid-simple-two.zip": (
        False, False, "OPEN: two data files and no meta.xml"),
    f"{PDR}/dwca-invalid-simple-toomuch.zip": (
        False, False, "OPEN: several data files and no meta.xml"),
    f"{PDR}/dwca-missing-extension-details": (
        False, False, "OPEN: an extension in meta.xml names no file"),
    # Stricter on purpose: the crawler's GENERIC rule looks at the 4 unique taxon ids only
    # and never meets the vernacular name whose coreid matches no taxon. A row that belongs
    # to no record follows no record's enforcement (withheld, generalised), so fednode
    # refuses to publish it rather than send it unchecked.
    f"{PDR}/dwca-orphaned-rows.zip": (
        True, False, "GENERIC: 4 unique taxon ids; an extension row matches no taxon"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(TABLE))
def test_validate__gives_gbif_crawlers_verdict_unless_stricter_on_purpose(name: str) -> None:
    crawler, expected, rule = TABLE[name]
    assert rule.split(":")[0] in ("OCCURRENCE", "GENERIC", "OPEN")
    result = CliRunner().invoke(main, ["validate", str(DWCA / name)])
    assert result.exit_code in (0, 1), result.output
    assert (result.exit_code == 0) == expected, f"{name} ({rule}):\n{result.output}"
    if crawler != expected:
        assert not expected, "fednode is never more lenient than GBIF's crawler"


def test_table__covers_both_verdicts_and_every_rule() -> None:
    verdicts = {crawler for crawler, _, _ in TABLE.values()}
    rules = {rule.split(":")[0] for _, _, rule in TABLE.values()}
    assert verdicts == {True, False} and rules == {"OCCURRENCE", "GENERIC", "OPEN"}
