"""Request bodies as JSON, bounded before parsing.

`json.loads` recurses once per nesting level: 100,000 `[` raise RecursionError, which no
handler expects (a 500). Nesting is measured first with a flat scan that skips strings,
so an over-deep body is a 400 whatever its shape, and the parser never sees it.
"""

from __future__ import annotations

import json
from typing import Any

from node.core.constants import MAX_JSON_DEPTH
from node.core.errors import InvalidInput


def json_depth(text: str) -> int:
    """Deepest nesting of arrays and objects, ignoring brackets inside strings."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def parse_json_body(body: bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The body as JSON, or InvalidInput (400) naming what is wrong with it."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"body is not UTF-8: {exc.reason} at byte {exc.start}") from None
    if json_depth(text) > max_depth:
        raise InvalidInput(f"body nests arrays or objects deeper than {max_depth} levels")
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise InvalidInput(f"body is not JSON: {exc}") from None
