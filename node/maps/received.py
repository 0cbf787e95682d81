"""The map of one flow: where the records a partner receives are, as they receive them.

A record sent with a `coordinatePrecision` of 0.001 degrees or coarser is drawn as the
cell it stands for, at its true size and centred on the coordinate sent (the generalised
value is the centre of its cell, agreements.generalise); any other record with both
coordinates is an exact point. Records not sent (withheld as sensitive, embargoed) have
nothing to draw and are only counted in the legend. The map reads the received table
alone, never the originals, so it cannot draw more than was sent.

Marks are written in degrees inside one group whose transform projects them
(equirectangular, longitudes scaled by the cosine of the middle latitude), so the SVG
states each position and cell size in the units of the data.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from html import escape

import pyarrow as pa

from agreements.generalise import GRID_DEGREES
from agreements.model import RegionScope
from agreements.scope import floats
from node.maps.borders import Borders, load_borders

MAP_WIDTH_PX = 800
MAP_HEIGHT_PX = 500
TITLE_PX = 34
LEGEND_LINE_PX = 20
MARGIN_PX = 10
PADDING_FRACTION = 0.08  # room around the drawn records, so edge points are not cut
MIN_SPAN_DEGREES = 0.5  # a map of one point still shows its surroundings
POINT_RADIUS_PX = 2.5
FINEST_CELL_DEGREES = min(GRID_DEGREES)  # coarser precision is drawn as a cell

POINT_COLOUR = "#1f5fa8"
CELL_COLOUR = "#d95f02"
REGION_COLOUR = "#6a3d9a"
COUNTRY_STROKE = "#8a8a8a"
COUNTRY_STROKE_PX = 0.6
PROVINCE_STROKE = "#b3ab9c"  # lighter and thinner than a country's edge: context, not claim
PROVINCE_STROKE_PX = 0.4


@dataclass
class ReceivedMarks:
    """What the received records put on the map, and what they cannot."""

    points: list[tuple[float, float]] = field(default_factory=list)  # (lon, lat)
    cells: Counter[tuple[float, float, float]] = field(default_factory=Counter)  # lon, lat, size
    without_coordinates: int = 0

    def cell_records(self) -> Counter[float]:
        """Records per cell size."""
        sizes: Counter[float] = Counter()
        for (_, _, size), records in self.cells.items():
            sizes[size] += records
        return sizes


def received_marks(table: pa.Table) -> ReceivedMarks:
    """Sort the received records into exact points and cells, from the sent values only."""
    lats = floats(table, "decimalLatitude").to_pylist()
    lons = floats(table, "decimalLongitude").to_pylist()
    precisions = floats(table, "coordinatePrecision").to_pylist()
    marks = ReceivedMarks()
    for lat, lon, precision in zip(lats, lons, precisions, strict=True):
        if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
            marks.without_coordinates += 1
        elif precision is not None and precision >= FINEST_CELL_DEGREES:
            marks.cells[(lon, lat, precision)] += 1
        else:
            marks.points.append((lon, lat))
    return marks


def _num(value: float) -> str:
    """Six decimals (0.1 m), trailing zeros dropped: 106.35, not 106.35000000000001."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


@dataclass(frozen=True)
class _View:
    """Degrees to pixels: x = kx * lon + tx, y = -ky * lat + ty."""

    kx: float
    ky: float
    tx: float
    ty: float

    @property
    def transform(self) -> str:
        return f"matrix({self.kx:.6f} 0 0 {-self.ky:.6f} {self.tx:.3f} {self.ty:.3f})"

    def degrees(self, pixels: float) -> float:
        """A length in pixels as degrees of latitude, for strokes and radii."""
        return pixels / self.ky


def _extent(
    marks: ReceivedMarks, region: RegionScope, borders: Borders
) -> tuple[float, float, float, float]:
    lons = [p[0] for p in marks.points] + [c[0] for c in marks.cells]
    lats = [p[1] for p in marks.points] + [c[1] for c in marks.cells]
    if region.bbox:  # a mistyped box must show, however far from the records
        lons += [region.bbox[0], region.bbox[2]]
        lats += [region.bbox[1], region.bbox[3]]
    if not lons:
        fallback = borders.bounds(region.countries) or borders.extent
        lons, lats = [fallback[0], fallback[2]], [fallback[1], fallback[3]]
    min_lon, max_lon, min_lat, max_lat = min(lons), max(lons), min(lats), max(lats)
    pad_lon = max(
        (max_lon - min_lon) * PADDING_FRACTION, (MIN_SPAN_DEGREES - (max_lon - min_lon)) / 2
    )
    pad_lat = max(
        (max_lat - min_lat) * PADDING_FRACTION, (MIN_SPAN_DEGREES - (max_lat - min_lat)) / 2
    )
    return (
        max(min_lon - pad_lon, -180.0),
        max(min_lat - pad_lat, -90.0),
        min(max_lon + pad_lon, 180.0),
        min(max_lat + pad_lat, 90.0),
    )


def _view(extent: tuple[float, float, float, float]) -> _View:
    min_lon, min_lat, max_lon, max_lat = extent
    shrink = max(math.cos(math.radians((min_lat + max_lat) / 2)), 0.1)
    span_x, span_y = (max_lon - min_lon) * shrink, max_lat - min_lat
    k = min(MAP_WIDTH_PX / span_x, MAP_HEIGHT_PX / span_y)
    left = MARGIN_PX + (MAP_WIDTH_PX - span_x * k) / 2
    top = TITLE_PX + (MAP_HEIGHT_PX - span_y * k) / 2
    return _View(k * shrink, k, left - min_lon * k * shrink, top + max_lat * k)


def _ring_path(rings: tuple[tuple[tuple[float, float], ...], ...]) -> str:
    return " ".join(
        "M" + " L".join(f"{_num(x)} {_num(y)}" for x, y in ring) + " Z" for ring in rings
    )


def _line_path(line: tuple[tuple[float, float], ...]) -> str:
    return "M" + " L".join(f"{_num(x)} {_num(y)}" for x, y in line)


def _legend(
    marks: ReceivedMarks, hidden: Mapping[str, int], region: RegionScope, borders: Borders
) -> list[tuple[str, str]]:
    """(swatch kind, text) lines."""
    lines = [("point", f"{len(marks.points):,} records sent with exact coordinates")]
    for size, records in sorted(marks.cell_records().items(), reverse=True):
        cells = sum(1 for c in marks.cells if c[2] == size)
        lines.append(
            (
                "cell",
                f"{records:,} records generalised to {_num(size)}° cells "
                f"({cells:,} cells, true size)",
            )
        )
    if not marks.cells:
        lines.append(("cell", "0 records generalised"))
    if marks.without_coordinates:
        lines.append(("none", f"{marks.without_coordinates:,} records sent without coordinates"))
    withheld, embargoed = hidden.get("withheld_sensitive", 0), hidden.get("embargoed", 0)
    lines.append(
        (
            "none",
            f"not sent, not drawn: {withheld:,} withheld as sensitive, {embargoed:,} embargoed",
        )
    )
    parts = []
    if region.countries:
        missing = [c for c in region.countries if c not in borders.countries]
        parts.append("countries " + ", ".join(region.countries))
        if missing:
            parts.append("no outline bundled for " + ", ".join(missing))
    if region.bbox:
        parts.append("box " + ", ".join(_num(v) for v in region.bbox) + " (W, S, E, N)")
    lines.append(("region", "flow region: " + ("; ".join(parts) if parts else "not limited")))
    return lines


def render_received_map(
    table: pa.Table,
    title: str,
    region: RegionScope,
    hidden: Mapping[str, int],
    id_prefix: str = "map",
) -> str:
    """The SVG document of what `table` (the records as sent) shows a partner.

    Args:
        hidden: the enforcement counts, for the records that were not sent.
        id_prefix: makes element ids unique when several maps share one HTML page.
    """
    borders = load_borders()
    marks = received_marks(table)
    extent = _extent(marks, region, borders)
    view = _view(extent)
    legend = _legend(marks, hidden, region, borders)
    height = TITLE_PX + MAP_HEIGHT_PX + MARGIN_PX + LEGEND_LINE_PX * (len(legend) + 2)
    width = MAP_WIDTH_PX + 2 * MARGIN_PX
    clip = f"{escape(id_prefix)}-clip"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="13" role="img">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{MARGIN_PX}" y="22" font-size="15" font-weight="bold">{escape(title)}</text>',
        f'<clipPath id="{clip}"><rect x="{MARGIN_PX}" y="{TITLE_PX}" width="{MAP_WIDTH_PX}" '
        f'height="{MAP_HEIGHT_PX}"/></clipPath>',
        f'<rect x="{MARGIN_PX}" y="{TITLE_PX}" width="{MAP_WIDTH_PX}" height="{MAP_HEIGHT_PX}" '
        'fill="#dbe9f4" stroke="#888"/>',
        f'<g clip-path="url(#{clip})"><g class="degrees" transform="{view.transform}">',
        f'<g class="countries" fill="#f4f1ea" stroke="{COUNTRY_STROKE}" '
        f'stroke-width="{_num(view.degrees(COUNTRY_STROKE_PX))}">',
    ]
    for country in borders.countries.values():
        out.append(f'<path data-country="{country.code}" d="{_ring_path(country.rings)}"/>')
    out.append("</g>")
    # Only the lines in view: the status page inlines one map per flow.
    out.append(
        f'<g class="provinces" fill="none" stroke="{PROVINCE_STROKE}" '
        f'stroke-width="{_num(view.degrees(PROVINCE_STROKE_PX))}" stroke-linejoin="round">'
    )
    for border in borders.provinces:
        if border.touches(extent):
            out.append(
                f'<path data-between="{escape(" ".join(border.between))}" '
                f'd="{_line_path(border.line)}"/>'
            )
    out.append("</g>")
    out.append(
        f'<g class="region" fill="none" stroke="{REGION_COLOUR}" '
        f'stroke-width="{_num(view.degrees(2.2))}" stroke-dasharray="{_num(view.degrees(6))} '
        f'{_num(view.degrees(4))}">'
    )
    for code in region.countries:
        if code in borders.countries:
            out.append(
                f'<path data-country="{code}" d="{_ring_path(borders.countries[code].rings)}"/>'
            )
    if region.bbox:
        w, s, e, n = region.bbox
        out.append(
            f'<rect class="bbox" x="{_num(w)}" y="{_num(s)}" '
            f'width="{_num(e - w)}" height="{_num(n - s)}"/>'
        )
    out.append("</g>")
    out.append(
        f'<g class="cells" fill="{CELL_COLOUR}" fill-opacity="0.45" stroke="{CELL_COLOUR}" '
        f'stroke-width="{_num(view.degrees(1))}">'
    )
    for (lon, lat, size), records in sorted(marks.cells.items()):
        out.append(
            f'<rect class="cell" data-grid="{_num(size)}" data-records="{records}" '
            f'x="{_num(lon - size / 2)}" y="{_num(lat - size / 2)}" '
            f'width="{_num(size)}" height="{_num(size)}"/>'
        )
    out.append("</g>")
    radius = _num(view.degrees(POINT_RADIUS_PX))
    out.append(f'<g class="points" fill="{POINT_COLOUR}" fill-opacity="0.8">')
    for lon, lat in marks.points:
        out.append(f'<circle class="exact" cx="{_num(lon)}" cy="{_num(lat)}" r="{radius}"/>')
    out.append("</g></g></g>")
    y = TITLE_PX + MAP_HEIGHT_PX + MARGIN_PX
    for kind, text in legend:
        y += LEGEND_LINE_PX
        x = MARGIN_PX
        if kind == "point":
            out.append(f'<circle cx="{x + 7}" cy="{y - 5}" r="4" fill="{POINT_COLOUR}"/>')
        elif kind == "cell":
            out.append(
                f'<rect x="{x}" y="{y - 12}" width="14" height="14" fill="{CELL_COLOUR}" '
                f'fill-opacity="0.45" stroke="{CELL_COLOUR}"/>'
            )
        elif kind == "region":
            out.append(
                f'<line x1="{x}" y1="{y - 5}" x2="{x + 14}" y2="{y - 5}" stroke="{REGION_COLOUR}" '
                'stroke-width="2.2" stroke-dasharray="4 2"/>'
            )
        out.append(f'<text class="legend" x="{x + 22}" y="{y}">{escape(text)}</text>')
    y += LEGEND_LINE_PX
    out.append(
        f'<text x="{MARGIN_PX}" y="{y}" font-size="11" fill="#666">Borders: '
        f"{escape(borders.source)} (public domain)</text>"
    )
    out.append("</svg>")
    return "\n".join(out) + "\n"
