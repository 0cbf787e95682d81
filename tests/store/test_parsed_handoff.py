"""Coordinates and event dates parsed by validation reach the stored layout unchanged.

Publishing checks each batch, then lays it out for the store; the numbers and plain days
the checks read are handed on instead of being parsed again. Whatever the text, the layout
built from the hand-off must equal the layout built from the text alone.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from node.publish.report import ValidationRun
from node.publish.rules import check_records
from node.store.records import PARSED_PREFIX, to_stored_layout, with_parsed

PROVENANCE = {"fed_source": "gxib", "fed_dataset": "d"}

# Text shaped like what institutions write in these columns, and what they get wrong.
_NUMBERS = st.sampled_from(
    ["22.5", " 22.5 ", "-106.9", ".5", "1e3", "+3", "0", "95.2", "-181", "22,5", "22°30'N",
     "N 22", "", "  ", "nan", "inf", "1e999", "٢٢", "22.5\t", "1.", "-0"]
)  # fmt: skip
_DATES = st.sampled_from(
    ["2020-05-01", " 2020-05-01", "2020-02-30", "2020-5-1", "2019-03", "2019", "",
     "2018-04-01/2018-04-30", "2018-04-01/15", "May 2019", "0000-01-01", "2020-13-01",
     "２０２０-０５-０１", "2021-06-07T10:00", "9999-12-31"]
)  # fmt: skip


def _checked(table: pa.Table) -> pa.Table:
    parsed: dict[str, object] = {}
    check_records(ValidationRun(Path("x.csv")), table, pa.array(range(table.num_rows)),
                  "x.csv", occurrence=True, parsed=parsed)  # type: ignore[arg-type]  # fmt: skip
    return with_parsed(table, parsed)  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_NUMBERS, _NUMBERS, _DATES, st.booleans()), min_size=1, max_size=40))
def test_handoff__the_layout_is_the_same_with_or_without_it(
    rows: list[tuple[str, str, str, bool]],
) -> None:
    table = pa.table(
        {
            "occurrenceID": pa.array([f"r{i}" for i in range(len(rows))]),
            "decimalLatitude": pa.array([r[0] if r[3] else None for r in rows], pa.string()),
            "decimalLongitude": pa.array([r[1] for r in rows]),
            "eventDate": pa.array([r[2] if r[3] else None for r in rows], pa.string()),
        }
    )
    handed = _checked(table)
    assert any(n.startswith(PARSED_PREFIX) for n in handed.column_names)
    alone = to_stored_layout(table, PROVENANCE)
    assert to_stored_layout(handed, PROVENANCE).equals(alone)
    # Rows filtered out and batches joined, as --skip-invalid and regrouping do.
    keep = pa.array([i % 3 != 1 for i in range(len(rows))])
    joined = pa.concat_tables([handed.filter(keep), handed])
    expected = pa.concat_tables([alone.filter(keep), alone])
    assert to_stored_layout(joined, PROVENANCE).equals(expected.combine_chunks())


def test_handoff__never_reaches_the_stored_layout() -> None:
    table = pa.table({"decimalLatitude": ["22.5"], "eventDate": ["2020-05-01"]})
    stored = to_stored_layout(_checked(table), PROVENANCE)
    assert not [n for n in stored.column_names if n.startswith(PARSED_PREFIX)]


def test_handoff__a_column_of_another_type_under_its_name_is_not_trusted() -> None:
    """A source column that happens to carry the name is text, not parsed values."""
    table = pa.table(
        {
            "decimalLatitude": ["95.2", "x"],
            f"{PARSED_PREFIX}decimalLatitude": ["1", "2"],
            "eventDate": ["2020-05-01", "nope"],
            f"{PARSED_PREFIX}eventDate": pa.array([0, 0], pa.int32()),
        }
    )
    row, bad = to_stored_layout(table, PROVENANCE).to_pylist()
    assert row["decimalLatitude"] == 95.2 and row["fed_issues"] == ["COORDINATE_OUT_OF_RANGE"]
    assert str(row["fed_event_start"]) == "2020-05-01"
    assert bad["decimalLatitude"] is None
    assert set(bad["fed_issues"]) == {"COORDINATE_INVALID", "RECORDED_DATE_INVALID"}
