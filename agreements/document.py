"""The layout of an agreement document as strict types, checked before any meaning is.

The same library and rules as node.toml and column mappings (node.core.tomlschema): a
quoted `"true"` is text, not `opaque_ids = true`; `embargo_days = "365"` is refused rather
than read as 365 or, worse, as no embargo; an unknown key is named with the known ones.
Every type problem is listed at once with its line. What the values mean (parties named by
flows, Darwin Core terms, categories, grids, contradictions) is checked afterwards, in
agreements.validate, on a document whose shape is known to be right.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field, StrictBool, StrictInt, StrictStr
from pydantic_core import PydanticCustomError

from node.core.tomlschema import STRICT, refuse

Texts = list[StrictStr]  # TOML arrays arrive as lists; strict mode takes no tuple for them


def _date(value: Any) -> dt.date:
    """A TOML date (2026-01-01, no quotes); not a date-time, not text."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    raise refuse("agreement_date", "a date written like 2026-01-01, without quotes", value)


def _number(value: Any) -> float:
    """A TOML number, integer or not; never a boolean or quoted text."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise refuse("agreement_number", "a number, without quotes", value)


def _box(value: Any) -> list[float]:
    """[minLon, minLat, maxLon, maxLat]: four TOML numbers."""
    if isinstance(value, list) and len(value) == 4:
        try:
            return [_number(v) for v in value]
        except PydanticCustomError:
            pass
    raise refuse("agreement_bbox", "four numbers [minLon, minLat, maxLon, maxLat]", value)


Date = Annotated[dt.date, BeforeValidator(_date)]
Box = Annotated[list[float], BeforeValidator(_box)]
Number = Annotated[float, BeforeValidator(_number)]


class PartyTable(BaseModel):
    model_config = STRICT

    name: StrictStr
    url: StrictStr
    key: StrictStr


class TaxaTable(BaseModel):
    model_config = STRICT

    include: Texts = []
    exclude: Texts = []


class RegionTable(BaseModel):
    model_config = STRICT

    countries: Texts = []
    bbox: Box | None = None


class SensitiveTable(BaseModel):
    model_config = STRICT

    threat: Texts = []
    names: StrictStr | None = None
    names_sha256: StrictStr | None = None
    categories: Texts = []
    action: StrictStr  # its vocabulary is checked with the other meanings
    grid_degrees: Number | None = None
    clear: Texts = []


class FlowTable(BaseModel):
    model_config = STRICT

    from_party: StrictStr = Field(alias="from")
    to: StrictStr
    datasets: Texts
    licence: StrictStr
    attribution: StrictStr
    purposes: Texts = []
    taxa: TaxaTable = TaxaTable()
    region: RegionTable = RegionTable()
    basis_of_record: Texts = []
    embargo_days: Annotated[StrictInt, Field(ge=0)] | None = None
    withhold: Texts = []
    keep: Texts = []
    opaque_ids: StrictBool = False
    sensitive: list[SensitiveTable] = []


class AgreementDocument(BaseModel):
    model_config = STRICT

    id: StrictStr
    version: Annotated[StrictInt, Field(ge=1)]
    title: StrictStr
    valid_from: Date
    valid_until: Date
    parties: dict[StrictStr, PartyTable]
    flows: list[FlowTable] = []
    signatures: dict[StrictStr, StrictStr] = {}
