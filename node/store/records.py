"""Turn verbatim Darwin Core text batches into the node's stored record layout.

Every term stays under its own name. Numeric terms become typed columns; a value that
fails its cast becomes null there, keeps its verbatim text in `fed_verbatim` and gets a
flag in `fed_issues` (in the spirit of GBIF's issue flags), so nothing is ever dropped.
Vectorised with pyarrow.compute: a million rows normalise in well under a second.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from node.core.composed import nfc
from node.core.dates import parse_event_date, plain_days
from node.core.numbers import DECIMAL, INTEGER, ParsedNumbers, parse_numbers
from node.core.terms import FLOAT_TERMS, INT_TERMS, PROVENANCE_FIELDS, arrow_type

VERBATIM_FIELD = pa.field("fed_verbatim", pa.map_(pa.string(), pa.string()))
# Node columns that are data, not provenance: kept as given (vernacular names in zh/vi/en).
PASS_THROUGH_PREFIXES = ("fed_vernacular_",)


# Validation reads a source's coordinates and event dates to check them, and hands what it
# parsed to this layout as extra columns (`with_parsed`), so no value is parsed twice. They
# ride along through row filters and regrouping, and never reach the stored layout; one of
# an unexpected type is ignored and the text is parsed here.
PARSED_PREFIX = "fed_parsed:"
_PARSED_NUMBERS = pa.struct([("value", pa.float64()), ("failed", pa.bool_())])

# GBIF-style flag per typed term when the text cannot be cast.
_INVALID_FLAG = {
    "decimalLatitude": "COORDINATE_INVALID",
    "decimalLongitude": "COORDINATE_INVALID",
    "coordinateUncertaintyInMeters": "COORDINATE_UNCERTAINTY_METERS_INVALID",
    "year": "RECORDED_DATE_INVALID",
    "month": "RECORDED_DATE_INVALID",
    "day": "RECORDED_DATE_INVALID",
    "individualCount": "INDIVIDUAL_COUNT_INVALID",
}
_RANGES = {
    "decimalLatitude": (-90.0, 90.0, "COORDINATE_OUT_OF_RANGE"),
    "decimalLongitude": (-180.0, 180.0, "COORDINATE_OUT_OF_RANGE"),
    "coordinateUncertaintyInMeters": (0.0, 20_037_509.0, "COORDINATE_UNCERTAINTY_METERS_INVALID"),
    "month": (1, 12, "RECORDED_DATE_INVALID"),
    "day": (1, 31, "RECORDED_DATE_INVALID"),
}


def _event_dates(
    event_date: pa.Array, days: pa.Array | None = None
) -> tuple[pa.Array, pa.Array, pa.Array]:
    """Parse distinct values once: occurrence data repeats few dates many times.

    `days` is `plain_days(event_date)` when validation has computed it already.
    """
    days = plain_days(event_date) if days is None else days
    encoded = pc.dictionary_encode(pc.if_else(pc.is_null(days), event_date, None))
    parsed = [parse_event_date(v) for v in encoded.dictionary.to_pylist()]
    starts = pa.array([p[0] for p in parsed], pa.date32())
    stops = pa.array([p[1] for p in parsed], pa.date32())
    start = pc.coalesce(days, pc.take(starts, encoded.indices))
    stop = pc.coalesce(days, pc.take(stops, encoded.indices))
    nonempty = pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(event_date)), 0)
    bad = pc.and_(pc.fill_null(nonempty, False), pc.is_null(start))
    return start, stop, bad


def _cast(
    column: pa.Array, term: str, parsed: ParsedNumbers | None = None
) -> tuple[pa.Array, pa.Array, pa.Array]:
    """Cast a text column; return (typed, cast-failed mask, out-of-range mask).

    `parsed` is `parse_numbers(column)` when validation has read the column already.
    """
    target = arrow_type(term)
    integer = pa.types.is_integer(target)
    if parsed is None:
        parsed = parse_numbers(column, INTEGER if integer else DECIMAL)
    typed, failed = parsed
    if integer:
        too_big = pc.fill_null(pc.greater(pc.abs(typed), 2**31 - 1), False)
        failed = pc.or_(failed, too_big)
        typed = pc.cast(pc.if_else(too_big, pa.scalar(None, pa.float64()), typed), target)
    if term in _RANGES:
        low, high, _ = _RANGES[term]
        outside = pc.or_(pc.less(typed, low), pc.greater(typed, high))
        out_of_range = pc.fill_null(outside, False)
    else:
        out_of_range = pa.repeat(pa.scalar(False), len(column))
    return typed, failed, out_of_range


def _issue_lists(flags: list[tuple[str, pa.Array]], length: int) -> pa.Array:
    """Combine per-flag boolean masks into a list<string> column, without a Python row loop
    when no row is flagged (the common case)."""
    active = [(name, mask) for name, mask in flags if pc.any(mask).as_py()]
    if not active:
        offsets = pa.array(np.zeros(length + 1, np.int32))  # every row: an empty list
        return pa.ListArray.from_arrays(offsets, pa.array([], pa.string()))
    masks = [mask.to_pylist() for _, mask in active]
    names = [name for name, _ in active]
    rows = []
    for i in range(length):
        row = []
        for name, mask in zip(names, masks, strict=True):
            if mask[i] and name not in row:
                row.append(name)
        rows.append(row)
    return pa.array(rows, pa.list_(pa.string()))


def _verbatim_map(failures: list[tuple[str, pa.Array, pa.Array]], length: int) -> pa.Array:
    active = [(t, m, c) for t, m, c in failures if pc.any(m).as_py()]
    if not active:
        return pa.nulls(length, VERBATIM_FIELD.type)
    rows: list[list[tuple[str, str]] | None] = [None] * length
    for term, mask, column in active:
        values = column.to_pylist()
        for i, failed in enumerate(mask.to_pylist()):
            if failed:
                rows[i] = [*(rows[i] or []), (term, values[i])]
    return pa.array(rows, VERBATIM_FIELD.type)


def _generalised(columns: dict[str, pa.Array], length: int) -> pa.Array:
    """Records that arrive generalised say so in dataGeneralizations (Darwin Core)."""
    notes = columns.get("dataGeneralizations")
    if notes is None:
        return pa.repeat(pa.scalar(False), length)
    return pc.fill_null(pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(notes)), 0), False)


def with_parsed(table: pa.Table, parsed: Mapping[str, ParsedNumbers | pa.Array]) -> pa.Table:
    """`table` carrying, for the layout, numbers (`parse_numbers`) and days (`plain_days`)
    parsed from its columns."""
    for term, values in parsed.items():
        if isinstance(values, ParsedNumbers):
            values = pa.StructArray.from_arrays(list(values), fields=list(_PARSED_NUMBERS))
        table = table.append_column(PARSED_PREFIX + term, values)
    return table


def _parsed(table: pa.Table, term: str, kind: pa.DataType) -> pa.Array | None:
    name = PARSED_PREFIX + term
    if name not in table.column_names or table.schema.field(name).type != kind:
        return None
    return table.column(name).combine_chunks()


def _parsed_numbers(table: pa.Table, term: str) -> ParsedNumbers | None:
    found = _parsed(table, term, _PARSED_NUMBERS)
    return None if found is None else ParsedNumbers(*found.flatten())


def _constant(value: object, kind: pa.DataType, length: int) -> pa.Array:
    """`value` on every row, built in Arrow (a Python list of it cost more than the casts)."""
    if value is None:
        return pa.nulls(length, kind)
    return pa.repeat(pa.scalar(value, kind), length)


def to_stored_layout(
    batch: pa.RecordBatch | pa.Table,
    provenance: Mapping[str, object] | None = None,
) -> pa.Table:
    """Verbatim text columns (short term names) -> the stored layout with provenance.

    Args:
        batch: columns named by short Darwin Core term, all text.
        provenance: constant values for `fed_source`, `fed_dataset`, ... columns.
    """
    table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
    table = table.combine_chunks()
    length = table.num_rows
    columns: dict[str, pa.Array] = {}
    flags: list[tuple[str, pa.Array]] = []
    failures: list[tuple[str, pa.Array, pa.Array]] = []
    for name in table.column_names:
        if name.startswith(PASS_THROUGH_PREFIXES):
            columns[name] = nfc(table.column(name).combine_chunks())
            continue
        if name.startswith("fed_"):
            continue
        column = (
            table.column(name).chunk(0)
            if table.column(name).num_chunks
            else pa.array([], pa.string())
        )
        if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
            column = pc.cast(column, pa.string())
        if name in FLOAT_TERMS or name in INT_TERMS:
            hint = _parsed_numbers(table, name) if name in FLOAT_TERMS else None
            typed, failed, out_of_range = _cast(column, name, hint)
            columns[name] = typed
            flags.append((_INVALID_FLAG.get(name, f"{name.upper()}_INVALID"), failed))
            failures.append((name, failed, column))
            if name in _RANGES:
                flags.append((_RANGES[name][2], out_of_range))
        else:
            columns[name] = nfc(column)
    if "eventDate" in columns:
        days = _parsed(table, "eventDate", pa.date32())
        start, stop, bad = _event_dates(columns["eventDate"], days)
        flags.append(("RECORDED_DATE_INVALID", bad))
    else:
        start = stop = pa.nulls(length, pa.date32())
    if "decimalLatitude" in columns and "decimalLongitude" in columns:
        zero = pc.and_(
            pc.fill_null(pc.equal(columns["decimalLatitude"], 0.0), False),
            pc.fill_null(pc.equal(columns["decimalLongitude"], 0.0), False),
        )
        flags.append(("ZERO_COORDINATE", zero))
    provenance = dict(provenance or {})
    for field in PROVENANCE_FIELDS:
        if field.name == "fed_issues":
            columns[field.name] = _issue_lists(flags, length)
        elif field.name == "fed_event_start":
            columns[field.name] = start
        elif field.name == "fed_event_end":
            columns[field.name] = stop
        elif field.name == "fed_generalised" and "fed_generalised" not in provenance:
            columns[field.name] = _generalised(columns, length)
        else:
            columns[field.name] = _constant(provenance.get(field.name), field.type, length)
    columns[VERBATIM_FIELD.name] = _verbatim_map(failures, length)
    return pa.table(columns)
