"""`fednode agreement check FILE --map DIR`: the demo agreement's map, read from the SVG.

The SVG states every mark in degrees (node.maps.received), so these tests read positions
and cell sizes straight from it and compare them with the records the node holds.
"""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from agreements.enforce import enforce
from agreements.model import AgreementState, Status
from agreements.parse import load_agreement
from node.publish.own_checklists import own_names, with_trusted_accepted_names
from node.store.store import Store, read_parquet
from tests.browser import png_size
from tests.e2e.conftest import Federation, cli

SVG = "{http://www.w3.org/2000/svg}"
OCCURRENCES = "gxib-karst-occurrences"
GRID = 0.1  # the demo agreement's grid for CR and EN species


def _map(federation: Federation, folder: Path) -> tuple[ET.Element, str, Path]:
    path = federation.agreement_path("gxib")
    home = str(federation.gxib.home)
    result = cli("agreement", "check", str(path), "--home", home, "--map", str(folder))
    assert result.exit_code == 0, result.output
    svg_path = folder / f"gxib-vnmn-flow1-{OCCURRENCES}.svg"
    assert f"map: {svg_path}" in result.output
    text = svg_path.read_text(encoding="utf-8")
    return ET.fromstring(text), text, svg_path


def _generalised_originals(federation: Federation) -> list[tuple[float, float]]:
    """The exact (lon, lat) of each record the demo flow generalises, from the store."""
    config = federation.gxib.config
    agreement = load_agreement(federation.agreement_path("gxib"))
    flow = agreement.flows[0]
    table = read_parquet(Store(config.home).local(OCCURRENCES))
    names = own_names(config)
    table = with_trusted_accepted_names(table, names.synonyms)
    table = table.append_column("fed_test_row", pa.array(range(table.num_rows), pa.int64()))
    state = AgreementState(Status.ACTIVE, "test")
    sent, _ = enforce(
        table, agreement, flow, dt.datetime.now(dt.UTC), OCCURRENCES, names.red_list, state=state
    )
    rows = pc.filter(sent.column("fed_test_row"), sent.column("fed_generalised")).to_pylist()
    lons = table.column("decimalLongitude").to_pylist()
    lats = table.column("decimalLatitude").to_pylist()
    return [(float(lons[r]), float(lats[r])) for r in rows]


def _num(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".")


def test_agreement_map__no_point_at_a_generalised_record_and_cells_at_grid_size(
    federation: Federation, tmp_path: Path
) -> None:
    root, text, _ = _map(federation, tmp_path / "maps")
    originals = _generalised_originals(federation)
    assert len(originals) == 27  # the preview's count: the test compares real records
    points = {
        (float(c.get("cx", "nan")), float(c.get("cy", "nan")))
        for c in root.iter(f"{SVG}circle")
        if c.get("class") == "exact"
    }
    cells = [r for r in root.iter(f"{SVG}rect") if r.get("class") == "cell"]
    assert len(points) > 100 and cells
    for lon, lat in originals:
        assert (round(lon, 6), round(lat, 6)) not in {(round(x, 6), round(y, 6)) for x, y in points}
        # Nor anywhere else in the document: no label, title or attribute restates it.
        assert f"{_num(lon)} {_num(lat)}" not in text and f'"{_num(lon)}"' not in text
    for cell in cells:
        assert cell.get("data-grid") == "0.1"
        width, height = float(cell.get("width", "0")), float(cell.get("height", "0"))
        assert abs(width - GRID) < 1e-9 and abs(height - GRID) < 1e-9
        # Centred on the snapped coordinate: the centre is a node of the 0.1 grid.
        centre_lon = float(cell.get("x", "nan")) + width / 2
        centre_lat = float(cell.get("y", "nan")) + height / 2
        assert abs(centre_lon * 10 - round(centre_lon * 10)) < 1e-6
        assert abs(centre_lat * 10 - round(centre_lat * 10)) < 1e-6
    # Each generalised record lies in a drawn cell.
    for lon, lat in originals:
        assert any(
            float(c.get("x", "nan")) <= lon <= float(c.get("x", "nan")) + GRID + 1e-9
            and float(c.get("y", "nan")) <= lat <= float(c.get("y", "nan")) + GRID + 1e-9
            for c in cells
        ), (lon, lat)
    assert sum(int(c.get("data-records", "0")) for c in cells) == 27


def test_agreement_map__legend_counts_and_the_region_outline(
    federation: Federation, tmp_path: Path
) -> None:
    root, _, svg_path = _map(federation, tmp_path / "maps")
    legend = [t.text or "" for t in root.iter(f"{SVG}text") if t.get("class") == "legend"]
    assert "429 records sent with exact coordinates" in legend
    assert "27 records generalised to 0.1° cells" in legend[1]
    assert any("withheld as sensitive" in line for line in legend)
    assert "flow region: countries CN" in legend
    region = next(g for g in root.iter(f"{SVG}g") if g.get("class") == "region")
    assert [p.get("data-country") for p in region.iter(f"{SVG}path")] == ["CN"]
    png = svg_path.with_suffix(".png")
    assert png_size(png) == (2 * int(root.get("width", "0")), 2 * int(root.get("height", "0")))


def test_agreement_map__a_box_typed_wrong_shows_where_it_is(
    federation: Federation, tmp_path: Path
) -> None:
    """A box typed 114 for 104 degrees east: the map shows it beside, not around, the records."""
    path = federation.agreement_path("gxib")
    text = path.read_text(encoding="utf-8").replace(
        'region = { countries = ["CN"] }',
        'region = { countries = ["CN"], bbox = [114.0, 21.0, 116.5, 26.5] }',
    )
    path.write_text(text, encoding="utf-8")
    root, _, _ = _map(federation, tmp_path / "maps")
    box = next(r for r in root.iter(f"{SVG}rect") if r.get("class") == "bbox")
    assert (box.get("x"), box.get("y"), box.get("width"), box.get("height")) == (
        "114",
        "21",
        "2.5",
        "5.5",
    )
    legend = [t.text or "" for t in root.iter(f"{SVG}text") if t.get("class") == "legend"]
    assert "0 records sent with exact coordinates" in legend  # nothing is in that box


def test_agreement_map__json_names_the_files(federation: Federation, tmp_path: Path) -> None:
    path = federation.agreement_path("gxib")
    folder = tmp_path / "maps"
    home = str(federation.gxib.home)
    result = cli("agreement", "check", str(path), "--home", home, "--map", str(folder), "--json")
    assert result.exit_code == 0, result.output
    flows = json.loads(result.output)["flows"]
    maps = [m for f in flows for m in f.get("map", [])]
    assert sorted(Path(m).name for m in maps) == sorted(p.name for p in folder.iterdir())
    assert len(maps) == 4  # two flows from gxib, SVG and PNG each


def _luminance(colour: str) -> float:
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def _line_points(d: str) -> list[tuple[float, float]]:
    points = []
    for step in d.split(" L"):
        lon, lat = step.lstrip("M").split()
        points.append((float(lon), float(lat)))
    return points


def test_agreement_map__province_borders_drawn_thinner_and_lighter_than_countries(
    federation: Federation, tmp_path: Path
) -> None:
    """Guangxi's border with Yunnan shows inside the demo map's frame, under the country lines."""
    root, _, _ = _map(federation, tmp_path / "maps")
    groups = {g.get("class"): g for g in root.iter(f"{SVG}g")}
    countries, provinces = groups["countries"], groups["provinces"]
    lines = {p.get("data-between"): p.get("d", "") for p in provinces.iter(f"{SVG}path")}
    assert {"CN.GX CN.YN", "CN.GX CN.GZ"} <= set(lines)
    assert any(key.startswith("VN.") for key in lines if key)  # Vietnam's provinces too
    guangxi_yunnan = _line_points(lines["CN.GX CN.YN"])
    # Where that border runs: from the Vietnamese frontier near 105.5 E, 23.2 N northwards.
    assert len(guangxi_yunnan) > 10
    assert all(104.4 < lon < 106.3 and 23.0 < lat < 25.1 for lon, lat in guangxi_yunnan)
    # Inside the drawn frame, not merely present in the file: project with the map's matrix.
    degrees = groups["degrees"]
    kx, _, _, minus_ky, tx, ty = (
        float(v) for v in degrees.get("transform", "")[len("matrix(") : -1].split()
    )
    frame = next(
        r for r in root.iter(f"{SVG}rect") if r.get("fill") == "#dbe9f4" and r.get("stroke")
    )
    left, top = float(frame.get("x", "nan")), float(frame.get("y", "nan"))
    right, bottom = left + float(frame.get("width", "0")), top + float(frame.get("height", "0"))
    assert any(
        left <= kx * lon + tx <= right and top <= minus_ky * lat + ty <= bottom
        for lon, lat in guangxi_yunnan
    )
    # Only inner borders: none of these lines is a country's outline drawn a second time.
    assert all(not d.endswith("Z") for d in lines.values())
    assert float(provinces.get("stroke-width", "0")) < float(countries.get("stroke-width", "0"))
    assert _luminance(provinces.get("stroke", "#000000")) > _luminance(
        countries.get("stroke", "#ffffff")
    )
