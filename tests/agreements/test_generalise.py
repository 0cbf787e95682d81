"""The Chapman 2020 grid: rounding, edges, signs, missing values and the added uncertainty."""

from __future__ import annotations

import math

import pyarrow as pa
import pytest

from agreements.generalise import (
    GRID_DEGREES,
    generalise_coordinates,
    grid_decimals,
    grid_text,
    on_grid,
    rounding_error_m,
    snap_to_grid,
)


def snap(values: list[float | None], grid: float) -> list[float | None]:
    return snap_to_grid(pa.array(values, pa.float64()), 10.0 ** grid_decimals(grid)).to_pylist()


@pytest.mark.parametrize(
    ("grid", "value", "expected"),
    [
        (0.1, 23.456, 23.5),
        (0.1, 23.44, 23.4),
        (0.01, 23.456, 23.46),
        (0.01, 23.454, 23.45),
        (0.001, 106.78949, 106.789),
        (0.001, 106.7895, 106.79),
    ],
)
def test_snap_to_grid__rounds_to_the_nearest_node(
    grid: float, value: float, expected: float
) -> None:
    assert snap([value], grid) == [expected]


@pytest.mark.parametrize("grid", GRID_DEGREES)
def test_snap_to_grid__values_already_at_precision_are_unchanged(grid: float) -> None:
    step = 10 ** -grid_decimals(grid)
    values = [round(k * step, grid_decimals(grid)) for k in (-1800, -7, 0, 1, 226, 1067)]
    assert snap(values, grid) == values


@pytest.mark.parametrize(
    ("grid", "edge", "expected"),
    [
        (0.1, 23.45, 23.5),
        (0.1, 0.05, 0.1),
        (0.01, 1.005, 1.01),  # 1.005 * 100 is 100.49999999999999 in binary
        (0.01, 2.675, 2.68),
        (0.001, 105.0005, 105.001),
    ],
)
def test_snap_to_grid__cell_edges_go_away_from_zero(
    grid: float, edge: float, expected: float
) -> None:
    assert snap([edge, -edge], grid) == [expected, -expected]


def test_snap_to_grid__negative_coordinates_round_by_magnitude() -> None:
    assert snap([-23.44, -23.46, -0.04, -179.96, -89.96], 0.1) == [
        -23.4, -23.5, -0.0, -180.0, -90.0,
    ]  # fmt: skip


def test_snap_to_grid__results_stay_inside_the_globe() -> None:
    assert snap([89.99, 179.99, -89.99, -179.99], 0.1) == [90.0, 180.0, -90.0, -180.0]


def test_snap_to_grid__missing_values_stay_missing() -> None:
    assert snap([None, 23.456], 0.1) == [None, 23.5]


@pytest.mark.parametrize("grid", GRID_DEGREES)
def test_on_grid__every_snapped_value_is_a_node(grid: float) -> None:
    values = pa.array([23.456789, -105.123456, 0.0004999, 1.005, None], pa.float64())
    snapped = snap_to_grid(values, 10.0 ** grid_decimals(grid))
    assert on_grid(snapped, grid).to_pylist() == [True, True, True, True, None]


def test_rounding_error_m__half_the_chapman_wieczorek_cell_diagonal() -> None:
    # Chapman & Wieczorek 2020, Table 3: full diagonals 15,691 / 1,570 / 157 m at the
    # equator for 0.1 / 0.01 / 0.001 degrees; rounding to the nearest node halves them.
    assert [rounding_error_m(g) for g in GRID_DEGREES] == [7846.0, 785.0, 79.0]
    for grid, full in zip(GRID_DEGREES, (15_691, 1_570, 157), strict=True):
        assert rounding_error_m(grid) == pytest.approx(full / 2, abs=1)


@pytest.mark.parametrize("grid", GRID_DEGREES)
def test_rounding_error_m__bounds_the_real_displacement(grid: float) -> None:
    # Worst case: a point half a cell off on both axes, at the equator (widest cells).
    half = grid / 2 * 0.999999
    lat_m, lon_m = half * 110_574.3, half * 111_319.5
    assert math.hypot(lat_m, lon_m) <= rounding_error_m(grid)


def test_grid_text__reads_as_written_in_the_agreement() -> None:
    assert [grid_text(g) for g in GRID_DEGREES] == ["0.1", "0.01", "0.001"]


def test_grid_decimals__refuses_grids_chapman_does_not_name() -> None:
    with pytest.raises(ValueError, match=r"0\.05"):
        grid_decimals(0.05)


def test_generalise_coordinates__rows_without_a_grid_pass_through() -> None:
    lat, lon, unc, prec = generalise_coordinates(
        pa.array([23.456, 23.456]),
        pa.array([106.789, 106.789]),
        pa.array([30.0, 30.0]),
        pa.array([None, None], pa.float64()),
        pa.array([0.1, None], pa.float64()),
    )
    assert lat.to_pylist() == [23.5, 23.456]
    assert lon.to_pylist() == [106.8, 106.789]
    assert unc.to_pylist() == [30.0 + 7846.0, 30.0]
    assert prec.to_pylist() == [0.1, None]


def test_generalise_coordinates__a_point_already_on_the_grid_still_gains_uncertainty() -> None:
    # Otherwise an unchanged uncertainty would tell the recipient the point is exact.
    lat, lon, unc, prec = generalise_coordinates(
        pa.array([23.4]), pa.array([106.8]), pa.array([10.0]), pa.array([None], pa.float64()),
        pa.array([0.1]),
    )  # fmt: skip
    assert (lat.to_pylist(), lon.to_pylist()) == ([23.4], [106.8])
    assert unc.to_pylist() == [7856.0]
    assert prec.to_pylist() == [0.1]


def test_generalise_coordinates__missing_uncertainty_becomes_the_rounding_error() -> None:
    _, _, unc, _ = generalise_coordinates(
        pa.array([23.456]), pa.array([106.789]), pa.array([None], pa.float64()),
        pa.array([None], pa.float64()), pa.array([0.01]),
    )  # fmt: skip
    assert unc.to_pylist() == [785.0]


def test_generalise_coordinates__missing_coordinates_get_no_precision_or_uncertainty() -> None:
    none = pa.array([None], pa.float64())
    lat, lon, unc, prec = generalise_coordinates(none, none, none, none, pa.array([0.1]))
    assert [lat.to_pylist(), lon.to_pylist(), unc.to_pylist(), prec.to_pylist()] == [[None]] * 4


def test_generalise_coordinates__a_half_point_is_generalised_and_documented() -> None:
    lat, lon, unc, _ = generalise_coordinates(
        pa.array([23.456]), pa.array([None], pa.float64()), pa.array([None], pa.float64()),
        pa.array([None], pa.float64()), pa.array([0.1]),
    )  # fmt: skip
    assert (lat.to_pylist(), lon.to_pylist(), unc.to_pylist()) == ([23.5], [None], [7846.0])


def test_generalise_coordinates__a_coarser_stated_precision_is_kept() -> None:
    _, _, _, prec = generalise_coordinates(
        pa.array([23.0]), pa.array([106.0]), pa.array([None], pa.float64()), pa.array([1.0]),
        pa.array([0.01]),
    )  # fmt: skip
    assert prec.to_pylist() == [1.0]
