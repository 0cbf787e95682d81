"""Enforcement against records built to slip past it: text that survives a nulled value."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pyarrow as pa

from agreements.enforce import enforce
from node.core.terms import OCCURRENCE_ROW_TYPE
from node.dwca.writer import write_archive
from tests.agreements.agreement_builders import DATASET, FLOW, NOW, agreement_text, signed
from tests.agreements.test_enforce import karst

GENERALISE_ALL = '\n[[flows.sensitive]]\naction = "generalise"\ngrid_degrees = 0.1\n'


def _published(table: pa.Table, flow_toml: str, tmp_path: Path) -> str:
    """occurrence.txt of the archive a peer receives for `table` under the flow."""
    agreement = signed(agreement_text(FLOW + flow_toml))
    shared, _ = enforce(table, agreement, agreement.flows[0], NOW, DATASET)
    dest = tmp_path / "dwca.zip"
    write_archive(dest, [shared], OCCURRENCE_ROW_TYPE, b"<eml/>", modified=NOW)
    with zipfile.ZipFile(dest) as archive:
        return archive.read("occurrence.txt").decode("utf-8")


def test_generalised_coordinate_that_failed_its_cast_does_not_survive_in_fed_verbatim(
    tmp_path: Path,
) -> None:
    # A latitude in degrees-minutes fails the float cast: the typed column is null and the
    # text is kept in fed_verbatim, which the archive writer publishes for a null value.
    table = karst(decimalLatitude=["23°27'31.5\"N", "22.5712", "-23.45", None])
    text = _published(table, GENERALISE_ALL, tmp_path)
    assert "23°27'31.5" not in text


def test_withheld_typed_field_that_failed_its_cast_does_not_survive_in_fed_verbatim(
    tmp_path: Path,
) -> None:
    table = karst(
        individualCount=["about 12", "3", None, None],
        decimalLongitude=["106°47'20\"E", "105.8867", "106.25", None],
    )
    text = _published(table, 'withhold = ["individualCount", "decimalLongitude"]\n', tmp_path)
    assert "about 12" not in text
    assert "106°47'20" not in text


def test_cleared_typed_field_that_failed_its_cast_does_not_survive(tmp_path: Path) -> None:
    table = karst(minimumElevationInMeters=["ca. 1234 m", None, None, None])
    rule = GENERALISE_ALL + 'clear = ["minimumElevationInMeters"]\n'
    assert "1234" not in _published(table, rule, tmp_path)


def test_verbatim_text_of_untouched_fields_is_still_published(tmp_path: Path) -> None:
    """Only what enforcement nulls loses its verbatim text; other failed casts keep it."""
    table = karst(individualCount=["about 12", "3", None, None])
    assert "about 12" in _published(table, GENERALISE_ALL, tmp_path)


def test_embargo_is_not_evaded_by_an_old_modified_date() -> None:
    """A record last "modified" years ago but observed last week (or dated in the future,
    a typo) is still recent: the later of the two dates decides, the stricter reading."""
    from tests.agreements.agreement_builders import records
    from tests.agreements.test_enforce import run

    table = records(
        occurrenceID=["recent", "future", "old"],
        modified=["2015-01-01", "2015-01-01", "2015-01-01"],
        eventDate=["2026-05-25", "2031-04-01", "2014-06-01"],
    )
    rows, report = run(table, "embargo_days = 365\n")
    assert [row["occurrenceID"] for row in rows] == ["old"]
    assert report["embargoed"] == 2
