"""What counts as a number in Darwin Core text, for every layer that casts one.

One pattern, so that a value the store keeps as a number is the value validation,
enforcement and the export accept too: `12`, `-3.5`, `.5`, `1e3`, spaces around allowed;
`1,5`, `12°` and `N 22` are text. Used with pyarrow.compute.match_substring_regex.
"""

from __future__ import annotations

from typing import NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

DECIMAL = r"^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$"
INTEGER = r"^\s*[-+]?\d+\s*$"


class ParsedNumbers(NamedTuple):
    """A text column read as numbers."""

    values: pa.Array  # float64; null where the text is empty or is no number
    failed: pa.Array  # bool; true where there is text and it is no number


def parse_numbers(text: pa.Array, pattern: str = DECIMAL) -> ParsedNumbers:
    """The values of a text column that match `pattern` (DECIMAL or INTEGER), as float64."""
    trimmed = pc.utf8_trim_whitespace(text)
    present = pc.fill_null(pc.greater(pc.utf8_length(trimmed), 0), False)
    ok = pc.fill_null(pc.match_substring_regex(trimmed, pattern), False)
    values = pc.cast(pc.if_else(ok, trimmed, pa.scalar(None, pa.string())), pa.float64())
    return ParsedNumbers(values, pc.and_(present, pc.invert(ok)))
