"""Embargoes read dates exactly as the stored records do (node.core.dates), in every form."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from agreements.scope import released
from node.core.dates import parse_event_date

CUTOFF = dt.date(2025, 1, 1)


@pytest.mark.parametrize(
    "modified",
    ["20/11/2026", "2026年11月", "Nov. 20, 2026", "2026-11-20T08:00:00Z", "2026"],
)
def test_a_recent_modified_date_holds_the_record_back_in_any_form_the_node_reads(
    modified: str,
) -> None:
    table = pa.table({"modified": [modified], "eventDate": ["2020-01-01"]})
    assert parse_event_date(modified)[1] is not None  # the records parser reads it
    assert released(table, CUTOFF).to_pylist() == [False]


@pytest.mark.parametrize(
    ("event_date", "expected"),
    [
        ("2024-12-01/2025-02-01", False),  # an interval counts to its end
        ("2024-12-01/15", True),  # an abbreviated end, read as the stored records read it
        ("2024-12", True),
        ("sometime in 2024", False),  # unreadable: held back
    ],
)
def test_event_dates_without_parsed_columns_are_read_like_stored_ones(
    event_date: str, expected: bool
) -> None:
    table = pa.table({"eventDate": [event_date]})
    assert released(table, CUTOFF).to_pylist() == [expected]
