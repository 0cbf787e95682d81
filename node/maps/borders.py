"""The vendored country outlines and province borders (borders.json, provenance in borders.md)."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

BORDERS_FILE = Path(__file__).with_name("borders.json")

Ring = tuple[tuple[float, float], ...]  # (longitude, latitude) pairs, closed


@dataclass(frozen=True)
class Country:
    code: str  # ISO 3166-1 alpha-2, as Darwin Core countryCode and agreement regions write it
    name: str
    rings: tuple[Ring, ...]


@dataclass(frozen=True)
class ProvinceBorder:
    """The line two first-level divisions of one country share (never a country's edge).

    Open lines rather than province outlines, so the map draws each inner border once and
    leaves the country's edge to its own outline.
    """

    country: str  # ISO 3166-1 alpha-2
    between: tuple[str, str]  # Natural Earth HASC codes (CN.GX), as the source has them
    names: tuple[str, str]
    line: tuple[tuple[float, float], ...]  # (longitude, latitude)

    def touches(self, extent: tuple[float, float, float, float]) -> bool:
        """Whether the line's bounding box overlaps `extent` (minLon, minLat, maxLon, maxLat)."""
        lons, lats = [p[0] for p in self.line], [p[1] for p in self.line]
        return (
            min(lons) <= extent[2]
            and max(lons) >= extent[0]
            and min(lats) <= extent[3]
            and max(lats) >= extent[1]
        )


@dataclass(frozen=True)
class Borders:
    source: str
    extent: tuple[float, float, float, float]  # minLon, minLat, maxLon, maxLat covered
    countries: dict[str, Country]
    provinces: tuple[ProvinceBorder, ...] = ()

    def bounds(self, codes: tuple[str, ...]) -> tuple[float, float, float, float] | None:
        """The box around the named countries' outlines, None if none is in the extract."""
        points = [
            p for c in codes if c in self.countries for r in self.countries[c].rings for p in r
        ]
        if not points:
            return None
        lons, lats = [p[0] for p in points], [p[1] for p in points]
        return min(lons), min(lats), max(lons), max(lats)


@functools.cache
def load_borders() -> Borders:
    """Read once per process: the file ships with the package and never changes at run time."""
    document = json.loads(BORDERS_FILE.read_text(encoding="utf-8"))
    countries = {
        code: Country(
            code,
            str(entry["name"]),
            tuple(tuple((float(x), float(y)) for x, y in ring) for ring in entry["rings"]),
        )
        for code, entry in document["countries"].items()
    }
    provinces = tuple(
        ProvinceBorder(
            str(entry["country"]),
            (str(entry["between"][0]), str(entry["between"][1])),
            (str(entry["names"][0]), str(entry["names"][1])),
            tuple((float(x), float(y)) for x, y in entry["line"]),
        )
        for entry in document["provinces"]
    )
    min_lon, min_lat, max_lon, max_lat = (float(v) for v in document["extent"])
    return Borders(
        str(document["source"]), (min_lon, min_lat, max_lon, max_lat), countries, provinces
    )
