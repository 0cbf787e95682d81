"""Normalising verbatim text into the stored layout: typed, flagged, never dropped."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from node.core.dates import parse_event_date
from node.store.records import to_stored_layout


def _one(**columns: str) -> dict[str, object]:
    table = pa.table({k: pa.array([v], pa.string()) for k, v in columns.items()})
    return to_stored_layout(table, {"fed_source": "gxib", "fed_dataset": "d"}).to_pylist()[0]


def test_normalise__numbers_become_typed_columns() -> None:
    row = _one(decimalLatitude=" 22.5 ", decimalLongitude="106.9", year="2019", individualCount="3")
    assert (row["decimalLatitude"], row["decimalLongitude"]) == (22.5, 106.9)
    assert (row["year"], row["individualCount"]) == (2019, 3)
    assert row["fed_issues"] == [] and row["fed_verbatim"] is None
    assert (row["fed_source"], row["fed_dataset"]) == ("gxib", "d")


def test_normalise__a_failed_cast_is_flagged_and_kept_verbatim() -> None:
    row = _one(decimalLatitude="22°30'N", decimalLongitude="106.9", year="about 1990")
    assert row["decimalLatitude"] is None and row["year"] is None
    assert set(row["fed_issues"]) == {"COORDINATE_INVALID", "RECORDED_DATE_INVALID"}
    assert dict(row["fed_verbatim"]) == {"decimalLatitude": "22°30'N", "year": "about 1990"}


def test_normalise__out_of_range_and_zero_coordinates_are_flagged_not_dropped() -> None:
    assert _one(decimalLatitude="95.2", decimalLongitude="10")["fed_issues"] == [
        "COORDINATE_OUT_OF_RANGE"
    ]
    assert _one(decimalLatitude="0", decimalLongitude="0")["fed_issues"] == ["ZERO_COORDINATE"]


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2020", dt.date(2020, 1, 1), dt.date(2020, 12, 31)),
        ("2020-02", dt.date(2020, 2, 1), dt.date(2020, 2, 29)),
        ("2020-03-05T10:00:00Z", dt.date(2020, 3, 5), dt.date(2020, 3, 5)),
        ("2019-01-01/2019-02-10", dt.date(2019, 1, 1), dt.date(2019, 2, 10)),
        ("2020-03-01/15", dt.date(2020, 3, 1), dt.date(2020, 3, 15)),
        ("2020-02-30", None, None),
        ("2020-05-01/2019-01-01", None, None),
        ("Tue Apr 01 1930", None, None),
    ],
)
def test_parse_event_date__iso_dates_months_years_and_intervals(
    text: str, start: dt.date | None, end: dt.date | None
) -> None:
    assert parse_event_date(text) == (start, end)


def test_normalise__event_dates_give_first_and_last_day_and_flag_the_unreadable() -> None:
    good = _one(eventDate="2021-07")
    assert (good["fed_event_start"], good["fed_event_end"]) == (
        dt.date(2021, 7, 1),
        dt.date(2021, 7, 31),
    )
    bad = _one(eventDate="yesterday")
    assert bad["fed_event_start"] is None and "RECORDED_DATE_INVALID" in bad["fed_issues"]
    assert bad["eventDate"] == "yesterday"


def test_normalise__vernacular_names_pass_through_and_generalisation_is_recognised() -> None:
    row = _one(
        scientificName="Primulina eburnea",
        fed_vernacular_zh="牛耳朵",
        dataGeneralizations="Coordinates generalised to 0.1 degrees",
    )
    assert row["fed_vernacular_zh"] == "牛耳朵"
    assert row["fed_generalised"] is True
    assert _one(scientificName="Begonia")["fed_generalised"] is False
