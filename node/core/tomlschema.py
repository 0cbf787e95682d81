"""Strict typed validation of TOML settings files, with errors a person can act on.

node.toml and column mappings are declared as pydantic models in strict mode: a quoted
`"false"` is text, not a boolean, and `"8701"` is not a port. A value that cannot be read
as the declared type is refused rather than guessed at, because a guess (`public = "false"`
read as true) can publish a threatened species' locality. Every problem is reported at once,
each with the file, its line and the type that was expected.
"""

from __future__ import annotations

import datetime as dt
import difflib
import types
import typing
from typing import Any, TypeVar

from pydantic import ConfigDict, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from node.core.errors import NodeError
from node.core.tomllines import TomlLines, dotted

# Every settings model uses this: types as written, no unknown keys, read-only once loaded.
STRICT = ConfigDict(strict=True, extra="forbid", frozen=True)

T = TypeVar("T")

_EXPECTED = {
    "bool_type": "a boolean: true or false, without quotes",
    "int_type": "a whole number, without quotes",
    "int_from_float": "a whole number, without quotes",
    "float_type": "a number, without quotes",
    "string_type": "text in quotes",
    "list_type": 'a list, e.g. ["a", "b"]',
    "tuple_type": 'a list, e.g. ["a", "b"]',
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "dataclass_type": "a table",
    "dataclass_exact_type": "a table",
    "string_too_short": "non-empty text",
}


def toml_type(value: Any) -> str:
    """How TOML spells the kind of a parsed value, for "got ..." in messages."""
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the text {value[:60]!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, dt.date | dt.time):
        return f"the date/time {value.isoformat()}"
    return type(value).__name__


def refuse(kind: str, expected: str, value: Any) -> PydanticCustomError:
    """A validation error that says what was expected and what the file holds instead."""
    context = {"expected": expected, "got": toml_type(value)}
    return PydanticCustomError(kind, "expected {expected}, got {got}", context)


def validate_toml(
    model: type[T], raw: dict[str, Any], *, text: str, source: str, error: type[NodeError]
) -> T:
    """`raw` (parsed from `text`) as `model`, or `error` listing every problem with its line."""
    try:
        return TypeAdapter(model).validate_python(raw)
    except ValidationError as exc:
        lines = TomlLines(text)
        found = []
        for problem in exc.errors(include_url=False):
            path = tuple(problem["loc"])
            line = lines.line(path)
            where = f"{source} line {line}" if line else source
            message = describe(problem, model)
            found.append((line or 0, f"{where}: {dotted(path) or 'top level'}: {message}"))
        raise error("\n".join(m for _, m in sorted(found))) from None


def describe(problem: ErrorDetails, root: type) -> str:
    """One problem in words: what was expected and what the file holds."""
    kind, value, context = problem["type"], problem.get("input"), problem.get("ctx") or {}
    got = toml_type(value)
    if kind == "missing":
        return "missing; this setting is required"
    if kind == "extra_forbidden":
        known = sorted(_fields(_model_at(root, tuple(problem["loc"])[:-1])))
        name = str(problem["loc"][-1])
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown setting {name!r}{hint}; known: {', '.join(known)}"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {got}"
    if kind == "string_pattern_mismatch":
        return f"expected text matching {context.get('pattern', '')}, got {got}"
    if kind == "literal_error":
        return f"expected one of {context.get('expected', '')}, got {got}"
    for bound, words in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
        if bound in context and kind.endswith(("than", "equal")):
            return f"expected a number {words} {context[bound]}, got {got}"
    return problem["msg"]


def _fields(model: type | None) -> dict[str, Any]:
    return dict(getattr(model, "__pydantic_fields__", {}) or {})


def _model_at(root: type, path: tuple[str | int, ...]) -> type | None:
    """The settings model that validates the table at `path`, to list its known keys."""
    current: Any = root
    for part in path:
        current = _unwrap(current)
        origin, args = typing.get_origin(current), typing.get_args(current)
        if origin in (tuple, list) and args:
            current = args[0]
        elif origin is dict and args:
            current = args[1]
        else:
            field = _fields(current).get(str(part))
            if field is None:
                return None
            current = field.annotation
    return _unwrap(current)


def _unwrap(annotation: Any) -> Any:
    """The type inside Annotated[...] and Optional[...] annotations."""
    while True:
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        if origin is typing.Annotated:
            annotation = args[0]
        elif origin in (types.UnionType, typing.Union):
            annotation = next(a for a in args if a is not type(None))
        else:
            return annotation


def inner_model(annotation: Any) -> Any:
    """The table model of a field: the class itself, or the item of an array of tables."""
    annotation = _unwrap(annotation)
    if typing.get_origin(annotation) in (tuple, list):
        return _unwrap(typing.get_args(annotation)[0])
    return annotation
