"""What an archive's records span (box, dates, taxa), gathered while it is written.

Apart from the writer so the EML, which describes the coverage, and the writer, which
gathers it, both import it and neither imports the other.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc


@dataclass
class Coverage:
    """What the records span, for the EML: bounding box, dates, families and genera.

    Counters grow with the number of distinct taxa, which taxonomy bounds, not with rows.
    """

    records: int = 0
    georeferenced: int = 0
    west: float | None = None
    east: float | None = None
    south: float | None = None
    north: float | None = None
    start: dt.date | None = None
    end: dt.date | None = None
    families: Counter[str] = field(default_factory=Counter)
    genera: Counter[str] = field(default_factory=Counter)

    @property
    def bbox(self) -> tuple[float, float, float, float] | None:
        """(west, south, east, north), or None without a valid coordinate."""
        if self.west is None or self.south is None or self.east is None or self.north is None:
            return None
        return (self.west, self.south, self.east, self.north)

    @property
    def years(self) -> tuple[int, int] | None:
        if self.start is None or self.end is None:
            return None
        return (self.start.year, self.end.year)

    def add(self, table: pa.Table) -> None:
        """Fold one stored-layout table into the coverage."""
        self.records += table.num_rows
        names = set(table.column_names)
        if {"decimalLatitude", "decimalLongitude"} <= names:
            self._add_points(table["decimalLatitude"], table["decimalLongitude"])
        if "fed_event_start" in names and "fed_event_end" in names:
            self.start = _least(self.start, _range(table["fed_event_start"])[0])
            self.end = _most(self.end, _range(table["fed_event_end"])[1])
        if "year" in names and pa.types.is_integer(table.schema.field("year").type):
            # `year` only where eventDate gave nothing: it is coarser than the event dates.
            usable = pc.and_(pc.greater_equal(table["year"], 1), pc.less_equal(table["year"], 9999))
            if "fed_event_start" in names:
                usable = pc.and_(usable, pc.is_null(table["fed_event_start"]))
            low, high = _range(table["year"].filter(pc.fill_null(usable, False)))
            if low is not None and high is not None:
                self.start = _least(self.start, dt.date(low, 1, 1))
                self.end = _most(self.end, dt.date(high, 12, 31))
        for rank, counter in (("family", self.families), ("genus", self.genera)):
            if rank in names and pa.types.is_string(table.schema.field(rank).type):
                values = pc.utf8_trim_whitespace(table[rank])
                values = values.filter(pc.fill_null(pc.not_equal(values, ""), False))
                for item in pc.value_counts(values).to_pylist():
                    counter[item["values"]] += item["counts"]

    def _add_points(self, lat: pa.ChunkedArray, lon: pa.ChunkedArray) -> None:
        if not (pa.types.is_floating(lat.type) and pa.types.is_floating(lon.type)):
            return
        valid = pc.and_(
            pc.and_(pc.greater_equal(lat, -90.0), pc.less_equal(lat, 90.0)),
            pc.and_(pc.greater_equal(lon, -180.0), pc.less_equal(lon, 180.0)),
        )
        # (0, 0) is almost always a missing value typed as zero (GBIF flags ZERO_COORDINATE).
        zero = pc.and_(pc.equal(lat, 0.0), pc.equal(lon, 0.0))
        keep = pc.fill_null(pc.and_(valid, pc.invert(zero)), False)
        lat, lon = lat.filter(keep), lon.filter(keep)
        self.georeferenced += len(lat)
        (south, north), (west, east) = _range(lat), _range(lon)
        self.south, self.north = _least(self.south, south), _most(self.north, north)
        self.west, self.east = _least(self.west, west), _most(self.east, east)


def _range(values: pa.ChunkedArray | pa.Array) -> tuple[Any, Any]:
    found = pc.min_max(values).as_py() if len(values) else None
    return (found["min"], found["max"]) if found else (None, None)


def _least(*values: Any) -> Any:
    return min((v for v in values if v is not None), default=None)


def _most(*values: Any) -> Any:
    return max((v for v in values if v is not None), default=None)
