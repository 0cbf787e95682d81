"""Coordinate generalisation on a decimal-degree grid, vectorised.

Chapman 2020 (Current Best Practices for Generalizing Sensitive Species Occurrence Data,
GBIF, doi:10.15468/doc-5jp4-5g10), Table 7: coordinates of category 2/3/4 sensitive
records are released rounded to 0.1 / 0.01 / 0.001 degrees; §4.1 advises against
randomisation and §4.2 prefers a cell-centred reference to a corner, and asks that both
the grid and `coordinateUncertaintyInMeters` be recorded.

The grid used here: each coordinate is rounded to the nearest multiple of the cell size,
so a published value is the centre of the cell of every point that rounds to it
(23.4 stands for [23.35, 23.45)). Precisely:

- A value already on the grid (23.4 at 0.1) is unchanged, but is treated exactly like a
  moved one (precision set, uncertainty added): otherwise an unchanged uncertainty would
  reveal that the true point lies on a grid node.
- A value on a cell edge (23.45, -23.45, 0.05 at 0.1) goes to the cell away from zero
  (23.5, -23.5, 0.1), so generalisation is symmetric about the equator and the prime
  meridian. Edges are decimal edges: a value within a millionth of a cell of an edge
  (GRID_EDGE_TOLERANCE_DECIMALS) counts as on it, so 1.005 is an edge at 0.01 although
  1.005 * 100 is 100.49999999999999 in binary floating point.
- Negative coordinates are rounded by magnitude (-23.44 -> -23.4); the result stays
  within -90..90 and -180..180 for any input inside them.
- A missing coordinate stays missing; a record with neither coordinate gets no
  precision or uncertainty.
"""

from __future__ import annotations

import math

import pyarrow as pa
import pyarrow.compute as pc

from node.core.constants import GRID_EDGE_TOLERANCE_DECIMALS

# Chapman 2020, Table 7: the only grids an agreement may name, coarsest first.
GRID_DEGREES = (0.1, 0.01, 0.001)
_DECIMALS = {0.1: 1, 0.01: 2, 0.001: 3}
# Fields that restate the exact point: cleared whenever coordinates are generalised, even
# if an agreement forgets to list them (the ALA SDS clears the same ones).
RESTATES_COORDINATES = (
    "verbatimCoordinates",
    "verbatimLatitude",
    "verbatimLongitude",
    "footprintWKT",
)

# Chapman & Wieczorek 2020 (Georeferencing: Best Practices, doi:10.15468/doc-gg7h-s853),
# Table 3: a 1-degree cell's diagonal at the equator on WGS84 is 156,904 m (meridian
# degree 110,574.3 m, parallel degree 111,319.5 m). The equator gives the longest
# diagonal at any latitude, so it bounds the error everywhere.
EQUATOR_DEGREE_DIAGONAL_M = math.hypot(110_574.3, 111_319.5)


def rounding_error_m(grid_degrees: float) -> float:
    """Largest distance between a point and its generalised position, whole metres up.

    Chapman & Wieczorek's Table 3 gives the full cell diagonal (15,691 m at 0.1 degrees)
    because a value written to 0.1 may have been truncated; we round to the nearest node,
    so the true point is at most half a cell away on each axis: half the diagonal
    (7,846 m at 0.1, 785 m at 0.01, 79 m at 0.001).
    """
    return float(math.ceil(grid_degrees * EQUATOR_DEGREE_DIAGONAL_M / 2))


def grid_decimals(grid_degrees: float) -> int:
    """0.1 -> 1; refuses any grid Chapman 2020 does not name."""
    try:
        return _DECIMALS[grid_degrees]
    except KeyError:
        raise ValueError(f"grid {grid_degrees} is not one of {GRID_DEGREES}") from None


def snap_to_grid(values: pa.Array, scale: pa.Array | float) -> pa.Array:
    """Round each value to the nearest multiple of 1/scale, ties away from zero.

    Args:
        values: float64 coordinates; nulls stay null.
        scale: 10, 100 or 1000 (1 / cell size), per value or for all; null leaves the
            value unchanged.
    """
    scaled = pc.multiply(values, scale)
    scaled = pc.round(scaled, GRID_EDGE_TOLERANCE_DECIMALS)
    nodes = pc.round(scaled, 0, round_mode="half_towards_infinity")
    snapped = pc.divide(nodes, scale)
    if isinstance(scale, pa.Array):
        return pc.if_else(pc.is_null(scale), values, snapped)
    return snapped


def on_grid(values: pa.Array, grid_degrees: float) -> pa.Array:
    """True where a value is a node of the grid (null where the value is null)."""
    scale = 10.0 ** grid_decimals(grid_degrees)
    scaled = pc.multiply(values, scale)
    return pc.less(pc.abs(pc.subtract(scaled, pc.round(scaled, 0))), 1e-6)


def generalise_coordinates(
    latitude: pa.Array,
    longitude: pa.Array,
    uncertainty_m: pa.Array,
    precision: pa.Array,
    grid_degrees: pa.Array,
) -> tuple[pa.Array, pa.Array, pa.Array, pa.Array]:
    """Generalise the rows whose `grid_degrees` is set; others pass through unchanged.

    Returns new (decimalLatitude, decimalLongitude, coordinateUncertaintyInMeters,
    coordinatePrecision). The rounding error is added to the existing uncertainty; a
    missing uncertainty becomes the rounding error alone, the part we know.
    coordinatePrecision becomes the grid, unless the record already states a coarser one.
    """
    scale = pa.nulls(len(grid_degrees), pa.float64())
    error = pa.nulls(len(grid_degrees), pa.float64())
    for grid in GRID_DEGREES:
        here = pc.fill_null(pc.equal(grid_degrees, grid), False)
        scale = pc.if_else(here, 10.0 ** grid_decimals(grid), scale)
        error = pc.if_else(here, rounding_error_m(grid), error)
    has_point = pc.or_(pc.is_valid(latitude), pc.is_valid(longitude))
    applies = pc.and_(pc.is_valid(scale), has_point)
    new_latitude = snap_to_grid(latitude, scale)
    new_longitude = snap_to_grid(longitude, scale)
    grown = pc.add(pc.fill_null(uncertainty_m, 0.0), error)
    new_uncertainty = pc.if_else(applies, grown, uncertainty_m)
    coarser = pc.max_element_wise(precision, grid_degrees, skip_nulls=True)
    new_precision = pc.if_else(applies, coarser, precision)
    return new_latitude, new_longitude, new_uncertainty, new_precision


def grid_text(grid_degrees: float) -> str:
    """0.1 -> "0.1", never "0.10000000000000001"."""
    return f"{grid_degrees:.{grid_decimals(grid_degrees)}f}"
