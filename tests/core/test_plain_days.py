"""Plain `YYYY-MM-DD` days read in Arrow mean what the Python date reader says they mean."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from node.core.dates import is_iso_event_date, parse_event_date, plain_days

AWKWARD = [
    "2020-05-01",
    "2020-02-29",
    "2019-02-29",  # no such day
    "2020-02-30",  # Arrow's parser would roll it over to March
    "1900-02-29",  # not a leap year
    "0000-01-01",  # no year zero in the calendar dates use
    "0001-01-01",
    "9999-12-31",
    "2020-13-01",
    "2020-00-10",
    "2020-1-01",
    " 2020-01-01",
    "2020-01-01T10:00",
    "2020-01-01/05",
    "01/02/2020",
    "２０２０-０１-０１",  # full-width digits: left to the Python reader (NFKC)
    "",
    None,
]


def test_plain_days__agree_with_the_python_reader_or_defer_to_it() -> None:
    days = plain_days(pa.array(AWKWARD, pa.string())).to_pylist()
    for text, day in zip(AWKWARD, days, strict=True):
        if day is None:
            continue  # left to parse_event_date
        assert parse_event_date(text) == (day, day), text
        assert is_iso_event_date(text), text
    read = dict(zip(AWKWARD, days, strict=True))
    assert read["2020-05-01"] == dt.date(2020, 5, 1)
    assert read["0001-01-01"] == dt.date(1, 1, 1)
    for rolled_over in ("2019-02-29", "2020-02-30", "1900-02-29", "0000-01-01", "2020-13-01"):
        assert read[rolled_over] is None
        assert parse_event_date(rolled_over) == (None, None)


def test_plain_days__take_chunked_and_dictionary_free_input() -> None:
    chunked = pa.chunked_array([["2021-03-04"], ["not a date", None]])
    assert plain_days(chunked).to_pylist() == [dt.date(2021, 3, 4), None, None]
