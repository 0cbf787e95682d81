"""Any stored batch reshaped to the one export schema, so every partition reads alike."""

from __future__ import annotations

import json
from functools import lru_cache, reduce
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from node.core.errors import ExportError
from node.core.licences import find_licence
from node.core.numbers import DECIMAL
from node.export.schema import EXPORT_SCHEMA, AcceptedNameLookup

_TEXT_MAP = pa.map_(pa.string(), pa.string())
_SCHEMA_NAMES = frozenset(EXPORT_SCHEMA.names)


@lru_cache(maxsize=64)
def _nulls(length: int, kind: pa.DataType) -> pa.Array:
    """One shared all-null array per type and length: arrays are immutable, and ~160 absent
    text columns would otherwise allocate ~80 MB of offsets per batch."""
    return pa.nulls(length, kind)


def _as_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    try:
        return pc.cast(column, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # Nested values (lists, structs) have no text cast: JSON keeps them readable.
        values = [None if v is None else json.dumps(v, default=str) for v in column.to_pylist()]
        return pa.chunked_array([pa.array(values, pa.string())])


def _text_map(names: list[str], columns: list[pa.ChunkedArray], length: int) -> pa.Array:
    """Text columns -> one map per row of the non-null values; null where a row has none.

    Vectorised: interleave the columns row by row with one `take`, then drop the nulls.
    """
    width = len(names)
    values = pa.concat_arrays([c.combine_chunks() for c in columns])
    position = pa.array(range(width * length), pa.int64())
    row = pc.divide(position, width)
    slot = pc.subtract(position, pc.multiply(row, width))
    values = pc.take(values, pc.add(pc.multiply(slot, length), row))
    keys = pc.take(pa.array(names, pa.string()), slot)
    present = pc.is_valid(values)
    counts = reduce(pc.add, [pc.cast(pc.is_valid(c), pa.int32()) for c in columns])
    offsets = pa.concat_arrays(
        [pa.array([0], pa.int32()), pc.cumulative_sum(counts).combine_chunks()]
    )
    empty = pc.equal(counts, 0).combine_chunks()
    return pa.MapArray.from_arrays(
        offsets, pc.filter(keys, present), pc.filter(values, present), _TEXT_MAP, mask=empty
    )


def _merge_maps(first: pa.ChunkedArray | pa.Array, second: pa.Array) -> pa.ChunkedArray | pa.Array:
    """Both maps' entries per row; a row-by-row loop, taken only when both have values."""
    if second.null_count == len(second):
        return first
    if first.null_count == len(first):
        return second
    rows = []
    for a, b in zip(first.to_pylist(), second.to_pylist(), strict=True):
        merged = {**dict(a or []), **dict(b or [])}
        rows.append(list(merged.items()) or None)
    return pa.array(rows, _TEXT_MAP)


def _typed(
    name: str, column: pa.ChunkedArray, kind: pa.DataType, failed: dict[str, Any]
) -> pa.ChunkedArray:
    """Cast a stored column to its export type; a value that will not cast is kept verbatim."""
    if column.type == kind:
        return column
    try:
        return pc.cast(column, kind)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        if not (pa.types.is_floating(kind) or pa.types.is_integer(kind)):
            raise ExportError(
                f"column {name}: {column.type} does not cast to {kind}: {exc}"
            ) from exc
    text = pc.utf8_trim_whitespace(_as_text(column))
    ok = pc.fill_null(pc.match_substring_regex(text, DECIMAL), False)
    number = pc.cast(pc.if_else(ok, text, pa.scalar(None, pa.string())), pa.float64())
    if pa.types.is_integer(kind):
        whole = pc.and_(pc.equal(pc.floor(number), number), pc.less(pc.abs(number), 2**31))
        ok = pc.and_(ok, pc.fill_null(whole, False))
        number = pc.if_else(ok, number, pa.scalar(None, pa.float64()))
    failed[name] = pc.if_else(pc.and_(pc.invert(ok), pc.is_valid(text)), text, None)
    return pc.cast(number, kind)


def _licences(given: pa.ChunkedArray | pa.Array) -> tuple[pa.Array, pa.Array]:
    """Each record's licence as one form, the SPDX id (`CC-BY-NC-4.0`, `GPL-2.0-only`), and
    its legal-code URL: sources write ids, URLs and GBIF titles, and a filter on one form
    silently misses the others. Text the node does not recognise stays as given."""
    if isinstance(given, pa.ChunkedArray):
        given = given.combine_chunks()
    encoded = pc.dictionary_encode(given)
    found = [find_licence(value) for value in encoded.dictionary.to_pylist()]
    ids = [
        lic.id if lic else value
        for lic, value in zip(found, encoded.dictionary.to_pylist(), strict=True)
    ]
    urls = [
        lic.url if lic else (value if value and "://" in value else None)
        for lic, value in zip(found, encoded.dictionary.to_pylist(), strict=True)
    ]
    return (
        pc.take(pa.array(ids, pa.string()), encoded.indices),
        pc.take(pa.array(urls, pa.string()), encoded.indices),
    )


def conform(
    table: pa.Table,
    source: str,
    dataset: str,
    licence: str | None,
    crosswalk: AcceptedNameLookup | None,
) -> pa.Table:
    """A batch of any stored layout -> EXPORT_SCHEMA: missing columns null, extras in a map."""
    length = table.num_rows
    failed: dict[str, Any] = {}
    columns: dict[str, Any] = {}
    for f in EXPORT_SCHEMA:
        if f.name in table.column_names:
            columns[f.name] = _typed(f.name, table.column(f.name), f.type, failed)
        else:
            columns[f.name] = _nulls(length, f.type)
    text = pa.string()
    columns["fed_source"] = pc.coalesce(columns["fed_source"], pa.scalar(source, text))
    columns["fed_dataset"] = pc.coalesce(columns["fed_dataset"], pa.scalar(dataset, text))
    given = pc.coalesce(columns["fed_licence"], columns["license"], pa.scalar(licence, text))
    columns["fed_licence"], urls = _licences(given)
    columns["license"] = pc.coalesce(columns["license"], urls)
    if crosswalk is not None:
        accepted, kind, on = crosswalk.lookup(columns["scientificName"])
        columns["fed_accepted_name"], columns["fed_match_kind"] = accepted, kind
        columns["fed_match_on"] = on
    if failed:
        added = _text_map(
            list(failed),
            [pa.chunked_array([c]) if isinstance(c, pa.Array) else c for c in failed.values()],
            length,
        )
        columns["fed_verbatim"] = _merge_maps(columns["fed_verbatim"], added)
    extras = [n for n in table.column_names if n not in _SCHEMA_NAMES]
    if extras:
        added = _text_map(extras, [_as_text(table.column(n)) for n in extras], length)
        columns["fed_extra"] = _merge_maps(columns["fed_extra"], added)
    return pa.table([columns[f.name] for f in EXPORT_SCHEMA], schema=EXPORT_SCHEMA)
