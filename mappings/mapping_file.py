"""The layout of a `*.mapping.toml` file as strict types, checked before any meaning is.

A column mapped to a number, a translation table written as one text, or `auto = "no"`
would otherwise be coerced into something the curator never wrote; here each is refused
with its file, line and the type expected (see node.core.tomlschema). What the values mean
(known terms, one column per term) is checked afterwards, in mappings.columns.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, Field, PlainValidator, StrictStr

from node.core.tomlschema import STRICT, refuse

Language = Literal["zh", "vi", "en"]
VERNACULAR_LANGUAGES: tuple[str, ...] = get_args(Language)


def _term_names(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise refuse("term_names", 'a term name in quotes or a list of them, e.g. ["a", "b"]', value)


def _constant(value: Any) -> str:
    """Constants are published as text; a TOML number is taken as written, nothing else."""
    if isinstance(value, str) or (isinstance(value, int | float) and not isinstance(value, bool)):
        return str(value)
    raise refuse("constant", "text in quotes (or a number)", value)


def _vernacular_spec(value: Any) -> Any:
    if isinstance(value, str):
        return {"language": value}
    if isinstance(value, dict):
        return value
    raise refuse(
        "vernacular", 'a language code or a table { language = "zh", split = "、" }', value
    )


class SourceTable(BaseModel):
    model_config = STRICT

    encoding: StrictStr | None = None
    delimiter: StrictStr | None = None
    sheet: StrictStr | None = None


class IdTable(BaseModel):
    model_config = STRICT

    column: StrictStr | None = None
    generate: Literal["line"] | None = None
    term: StrictStr | None = None


class VernacularSpec(BaseModel):
    model_config = STRICT

    language: Language
    split: StrictStr | None = None


class MappingFile(BaseModel):
    """A mapping file as written; every table is optional."""

    model_config = STRICT

    auto: bool = True
    source: SourceTable = SourceTable()
    id: IdTable = IdTable()
    columns: dict[str, Annotated[tuple[str, ...], PlainValidator(_term_names)]] = Field(
        default_factory=dict
    )
    constants: dict[str, Annotated[str, PlainValidator(_constant)]] = Field(default_factory=dict)
    translations: dict[str, dict[str, StrictStr]] = Field(default_factory=dict)
    vernacular: dict[str, Annotated[VernacularSpec, BeforeValidator(_vernacular_spec)]] = Field(
        default_factory=dict
    )
