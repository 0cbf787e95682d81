"""What counts as a number in Darwin Core text, for every layer that casts one.

One pattern, so that a value the store keeps as a number is the value validation,
enforcement and the export accept too: `12`, `-3.5`, `.5`, `1e3`, spaces around allowed;
`1,5`, `12°` and `N 22` are text. Used with pyarrow.compute.match_substring_regex.
"""

DECIMAL = r"^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$"
INTEGER = r"^\s*[-+]?\d+\s*$"
