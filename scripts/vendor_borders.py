"""Rebuild node/maps/borders.json from world-atlas's countries-50m.json (Natural Earth).

Usage: `npm pack world-atlas@2.0.2 && tar xzf world-atlas-2.0.2.tgz`, then
`python scripts/vendor_borders.py package/countries-50m.json`. The extract keeps, for
each country touching EXTENT, the outer rings that touch it, whole (so a flow's country
is outlined completely where it shows), rounded to 0.01 degrees (about 1 km, below what
a 1:50m source resolves). Natural Earth is public domain; world-atlas is ISC.
"""

from __future__ import annotations

import json
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


def main(source: Path) -> None:
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
        compact = []
        for ring in kept:
            rounded = [(round(x, DECIMALS), round(y, DECIMALS)) for x, y in ring]
            deduped = [p for i, p in enumerate(rounded) if i == 0 or p != rounded[i - 1]]
            if len(deduped) >= 4:
                compact.append([list(p) for p in deduped])
        countries[code] = {"name": geometry["properties"]["name"], "rings": compact}
    document = {
        "source": "Natural Earth 1:50m Admin 0 countries v4.1.0, via world-atlas 2.0.2",
        "extent": list(EXTENT),
        "countries": dict(sorted(countries.items())),
    }
    OUTPUT.write_text(json.dumps(document, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {OUTPUT}: {len(countries)} countries, {OUTPUT.stat().st_size:,} bytes")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
