"""Where a key sits in a TOML file, so every error can name its line.

tomllib returns plain dicts without positions; re-scanning the text for table headers and
`key =` lines recovers them well enough for error messages (agreements, node.toml and
column mappings share this one scanner).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

Path = tuple[str | int, ...]

_BARE_OR_QUOTED = r'(?:[A-Za-z0-9_-]+|"[^"]*"|\'[^\']*\')'
_KEY_LINE = re.compile(rf"^\s*({_BARE_OR_QUOTED}(?:\s*\.\s*{_BARE_OR_QUOTED})*)\s*=")
_HEADER_LINE = re.compile(r"^\s*(\[\[?)\s*([^\[\]]+?)\s*\]\]?\s*(?:#.*)?$")


def key_parts(dotted: str) -> tuple[str, ...]:
    """`a."b c".d` -> ("a", "b c", "d")."""
    return tuple(p.strip().strip("\"'") for p in re.findall(_BARE_OR_QUOTED, dotted))


def dotted(path: Sequence[str | int]) -> str:
    """("flows", 0, "taxa") -> "flows#1.taxa": arrays of tables counted from 1, as people do."""
    text = "".join(f"#{p + 1}" if isinstance(p, int) else f".{p}" for p in path)
    return text.lstrip(".")


class TomlLines:
    """Line of each key path, found by scanning the text: tomllib reports no positions.

    Paths index arrays of tables from 0, e.g. ("flows", 0, "sensitive", 1, "action").
    """

    def __init__(self, text: str) -> None:
        self.lines: dict[Path, int] = {}
        counts: dict[Path, int] = {}
        current: Path = ()
        for number, line in enumerate(text.splitlines(), 1):
            header = _HEADER_LINE.match(line)
            if header:
                parts = key_parts(header.group(2))
                is_array = header.group(1) == "[["
                path: Path = ()
                for n, part in enumerate(parts, 1):
                    path = (*path, part)
                    if path in counts and not (is_array and n == len(parts)):
                        path = (*path, counts[path] - 1)  # the latest [[table]] of that name
                if is_array:
                    counts[path] = counts.get(path, 0) + 1
                    self.lines.setdefault(path, number)
                    path = (*path, counts[path] - 1)
                current = path
                self.lines[path] = number
            elif key := _KEY_LINE.match(line):
                self.lines.setdefault(current + key_parts(key.group(1)), number)

    def line(self, path: Path) -> int | None:
        """The line of `path`, else of its nearest enclosing table; None when none is found."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None
