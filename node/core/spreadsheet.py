"""Cells of the CSV files people open in spreadsheets, made safe to open.

Names and values in crosswalk.csv, review.csv and rejects.csv come from partners'
checklists and institutions' source files. A cell such as `=HYPERLINK(...)` or
`=cmd|' /C calc'!A0` is run as a formula by spreadsheet programs (CSV injection). The
OWASP rule is applied: a text cell starting with `=`, `+`, `-`, `@`, a tab or a carriage
return is written with a leading `'`, which spreadsheets show as text. A cell already
starting with `'` gets one more, so reading a file back (`unescape_cell`) gives exactly
the value written.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa
import pyarrow.compute as pc

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_ESCAPED = (*_TRIGGERS, "'")
_PATTERN = "^['=+\\-@\t\r]"


def safe_cell(value: object) -> object:
    """`value` as a spreadsheet shows it, never as a formula; non-text values unchanged."""
    if isinstance(value, str) and value.startswith(_ESCAPED):
        return "'" + value
    return value


def unescape_cell(value: str) -> str:
    """The value `safe_cell` was given, from what it wrote (files read back: decisions)."""
    if value.startswith("'") and value[1:].startswith(_ESCAPED):
        return value[1:]
    return value


def safe_row(row: Mapping[str, object]) -> dict[str, object]:
    return {key: safe_cell(value) for key, value in row.items()}


def safe_table(table: pa.Table) -> pa.Table:
    """`safe_cell` on every text column of an Arrow table (vectorised)."""
    columns = []
    for column in table.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            risky = pc.fill_null(pc.match_substring_regex(column, _PATTERN), False)
            column = pc.if_else(risky, pc.binary_join_element_wise("'", column, ""), column)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=table.schema)
