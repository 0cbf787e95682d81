"""Embargoes decided on every date a record carries, the latest one deciding.

A record can be dated by `eventDate` (ISO 8601 or the forms node.core.dates reads),
`year`/`month`/`day`, `verbatimEventDate` and `modified`; an embargo that looked at one of
them could be bypassed through another. A partial date counts as its last day (2025 ->
2025-12-31). A record is released only when at least one date is readable, every date it
writes is readable, and the latest is on or before the cutoff: a date that cannot be read
might be yesterday's.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc

from node.core.dates import parse_event_date

TEXT_DATE_TERMS = ("eventDate", "verbatimEventDate", "modified")
PARTS = ("year", "month", "day")
EVENT_END = "fed_event_end"  # node.store.records: the end of the parsed eventDate
VERBATIM = "fed_verbatim"  # node.store.records: the text of values that failed their cast


def released(table: pa.Table, cutoff: dt.date) -> pa.Array:
    """True where the record's latest date is readable and on or before `cutoff`."""
    latest, unreadable = latest_dates(table)
    on_time = pc.fill_null(pc.less_equal(latest, pa.scalar(cutoff, pa.date32())), False)
    return pc.and_(on_time, pc.invert(unreadable))


def latest_dates(table: pa.Table) -> tuple[pa.Array, pa.Array]:
    """(latest last day among the record's dates or null, some written date is unreadable)."""
    rows = table.num_rows
    latest = pa.nulls(rows, pa.date32())
    unreadable = pa.repeat(pa.scalar(False), rows)
    texts = [_text(table, term) for term in TEXT_DATE_TERMS if term in table.column_names]
    if any(part in table.column_names for part in PARTS):
        texts.append(_parts_text(table))
    for text in texts:
        end, bad = _ends(text)
        latest = pc.max_element_wise(latest, end, skip_nulls=True)
        unreadable = pc.or_(unreadable, bad)
    if EVENT_END in table.column_names:
        event_end = pc.cast(table.column(EVENT_END).combine_chunks(), pa.date32())
        latest = pc.max_element_wise(latest, event_end, skip_nulls=True)
    return latest, pc.or_(unreadable, _failed_casts(table))


def _ends(text: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Last day of each value, and whether a non-empty value could not be read."""
    encoded = pc.dictionary_encode(text)
    ends, bad = [], []
    for value in encoded.dictionary.to_pylist():
        stop = parse_event_date(value)[1]
        ends.append(stop)
        bad.append(stop is None and bool(value and value.strip()))
    return (
        pc.take(pa.array(ends, pa.date32()), encoded.indices),
        pc.fill_null(pc.take(pa.array(bad, pa.bool_()), encoded.indices), False),
    )


def _parts_text(table: pa.Table) -> pa.Array:
    """year, month, day -> "2026-11-20", "2026-11", "2026"; a month or day without the
    parts above it is unreadable text, so the record stays home."""
    year, month, day = (_text(table, p) if p in table.column_names else None for p in PARTS)
    rows = table.num_rows
    empty = pa.repeat(pa.scalar("", pa.string()), rows)
    year = pc.fill_null(year, "") if year is not None else empty
    month = pc.fill_null(month, "") if month is not None else empty
    day = pc.fill_null(day, "") if day is not None else empty
    has_month, has_day = pc.greater(pc.utf8_length(month), 0), pc.greater(pc.utf8_length(day), 0)
    text = pc.if_else(has_month, pc.binary_join_element_wise(year, month, "-"), year)
    text = pc.if_else(has_day, pc.binary_join_element_wise(text, day, "-"), text)
    orphan = pc.and_(pc.equal(pc.utf8_length(year), 0), pc.or_(has_month, has_day))
    gap = pc.and_(has_day, pc.invert(has_month))
    return pc.if_else(pc.or_(orphan, gap), "unreadable partial date", text)


def _failed_casts(table: pa.Table) -> pa.Array:
    """Records whose year, month or day text failed its cast (kept in fed_verbatim)."""
    rows = table.num_rows
    if VERBATIM not in table.column_names:
        return pa.repeat(pa.scalar(False), rows)
    verbatim = table.column(VERBATIM).combine_chunks()
    if verbatim.null_count == len(verbatim):
        return pa.repeat(pa.scalar(False), rows)
    as_list = verbatim.cast(pa.list_(pa.struct([("key", pa.string()), ("value", pa.string())])))
    keys = pc.struct_field(pc.list_flatten(as_list), "key")
    parents = pc.list_parent_indices(as_list)
    hit = pc.is_in(keys, pa.array([*PARTS, *TEXT_DATE_TERMS]))
    flagged = pc.unique(parents.filter(hit))
    return pc.is_in(pa.array(range(rows), pa.int64()), pc.cast(flagged, pa.int64()))


def _text(table: pa.Table, name: str) -> pa.Array:
    values = table.column(name).combine_chunks()
    return values if pa.types.is_string(values.type) else pc.cast(values, pa.string())
