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
from node.core.numbers import DECIMAL, INTEGER
from node.core.terms import FLOAT_TERMS, INT_TERMS, PROVENANCE_FIELDS, arrow_type

VERBATIM_FIELD = pa.field("fed_verbatim", pa.map_(pa.string(), pa.string()))
# Node columns that are data, not provenance: kept as given (vernacular names in zh/vi/en).
PASS_THROUGH_PREFIXES = ("fed_vernacular_",)


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


def _event_dates(event_date: pa.Array) -> tuple[pa.Array, pa.Array, pa.Array]:
    """Parse distinct values once: occurrence data repeats few dates many times."""
    days = plain_days(event_date)
    encoded = pc.dictionary_encode(pc.if_else(pc.is_null(days), event_date, None))
    parsed = [parse_event_date(v) for v in encoded.dictionary.to_pylist()]
    starts = pa.array([p[0] for p in parsed], pa.date32())
    stops = pa.array([p[1] for p in parsed], pa.date32())
    start = pc.coalesce(days, pc.take(starts, encoded.indices))
    stop = pc.coalesce(days, pc.take(stops, encoded.indices))
    nonempty = pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(event_date)), 0)
    bad = pc.and_(pc.fill_null(nonempty, False), pc.is_null(start))
    return start, stop, bad


def _cast(column: pa.Array, term: str) -> tuple[pa.Array, pa.Array, pa.Array]:
    """Cast a text column; return (typed, cast-failed mask, out-of-range mask)."""
    target = arrow_type(term)
    pattern = INTEGER if pa.types.is_integer(target) else DECIMAL
    trimmed = pc.utf8_trim_whitespace(column)
    present = pc.fill_null(pc.greater(pc.utf8_length(trimmed), 0), False)
    ok = pc.fill_null(pc.match_substring_regex(trimmed, pattern), False)
    typed = pc.cast(pc.if_else(ok, trimmed, pa.scalar(None, pa.string())), pa.float64())
    if pa.types.is_integer(target):
        too_big = pc.fill_null(pc.greater(pc.abs(typed), 2**31 - 1), False)
        ok = pc.and_(ok, pc.invert(too_big))
        typed = pc.cast(pc.if_else(ok, typed, pa.scalar(None, pa.float64())), target)
    failed = pc.and_(present, pc.invert(ok))
    if term in _RANGES:
        low, high, _ = _RANGES[term]
        outside = pc.or_(pc.less(typed, low), pc.greater(typed, high))
        out_of_range = pc.fill_null(outside, False)
    else:
        out_of_range = pa.array([False] * len(column), pa.bool_())
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
        return pa.array([None] * length, VERBATIM_FIELD.type)
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
        return pa.array([False] * length, pa.bool_())
    return pc.fill_null(pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(notes)), 0), False)


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
            typed, failed, out_of_range = _cast(column, name)
            columns[name] = typed
            flags.append((_INVALID_FLAG.get(name, f"{name.upper()}_INVALID"), failed))
            failures.append((name, failed, column))
            if name in _RANGES:
                flags.append((_RANGES[name][2], out_of_range))
        else:
            columns[name] = nfc(column)
    if "eventDate" in columns:
        start, stop, bad = _event_dates(columns["eventDate"])
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
            value = provenance.get(field.name)
            columns[field.name] = pa.array([value] * length, field.type)
    columns[VERBATIM_FIELD.name] = _verbatim_map(failures, length)
    return pa.table(columns)
