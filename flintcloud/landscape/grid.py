"""The raster grid every layer of a project shares, and GCBM's pixel area.

GCBM computes a cell's area from the grid alone: for a geographic CRS it
converts the cell size in degrees to metres on a sphere of radius 6378137 m
and scales by the cosine of the latitude of the cell's *north* edge
(../shared/notes/gcbm-semantics.md §5). For a projected CRS the area is
simply |a·e| (the transform's pixel width × height).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window

from flintcloud.errors import LayerError

EARTH_RADIUS_M = 6378137.0
METRES_PER_DEGREE = 2.0 * math.pi * EARTH_RADIUS_M / 360.0
M2_PER_HA = 1.0e4


@dataclass(frozen=True)
class Grid:
    """Shape and georeference shared by all layers of a landscape."""

    transform: Affine
    crs: CRS | None
    width: int
    height: int

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)

    @property
    def n_cells(self) -> int:
        return self.height * self.width

    def describe(self) -> str:
        t = self.transform
        crs = self.crs.to_string() if self.crs else "no CRS"
        return (
            f"{self.width}x{self.height} px, origin ({t.c:.10g}, {t.f:.10g}), "
            f"pixel ({t.a:.10g}, {t.e:.10g}), {crs}"
        )

    def mismatch(self, other: Grid, *, tolerance: float = 1e-9) -> str | None:
        """Describe how `other` differs from this grid, or None when they match.

        Transforms are compared to `tolerance` of a pixel (GeoTIFFs written by
        different tools round the origin differently in the last digits).
        """
        if (self.width, self.height) != (other.width, other.height):
            return f"size {other.width}x{other.height} px, expected {self.width}x{self.height} px"
        if not _same_crs(self.crs, other.crs):
            got = other.crs.to_string() if other.crs else "no CRS"
            want = self.crs.to_string() if self.crs else "no CRS"
            return f"CRS {got}, expected {want}"
        a, b = self.transform, other.transform
        px = max(abs(a.a), abs(a.e), 1e-300)
        for name, x, y in (
            ("pixel width", a.a, b.a),
            ("row rotation", a.b, b.b),
            ("origin x", a.c, b.c),
            ("column rotation", a.d, b.d),
            ("pixel height", a.e, b.e),
            ("origin y", a.f, b.f),
        ):
            if abs(x - y) > tolerance * px:
                return f"{name} {y!r}, expected {x!r} (transform {tuple(b)[:6]} vs {tuple(a)[:6]})"
        return None

    def windows(self, block_rows: int, block_cols: int | None = None) -> Iterator[Window]:
        """Row-major blocks that tile the grid (edge blocks are smaller)."""
        if block_cols is None:
            block_cols = self.width
        if block_rows <= 0 or block_cols <= 0:
            raise ValueError(f"block size must be positive, got {block_rows}x{block_cols}")
        for r0 in range(0, self.height, block_rows):
            for c0 in range(0, self.width, block_cols):
                yield Window(c0, r0, min(block_cols, self.width - c0), min(block_rows, self.height - r0))


def _same_crs(a: CRS | None, b: CRS | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if a == b:
        return True
    try:
        return a.to_epsg() is not None and a.to_epsg() == b.to_epsg()
    except Exception:  # pragma: no cover - exotic CRS definitions
        return False


def is_geographic(grid: Grid) -> bool:
    """True when the grid's cells are measured in degrees (GCBM's usual EPSG:4326)."""
    if grid.crs is None:
        return False
    return bool(grid.crs.is_geographic)


def pixel_area_ha(grid: Grid) -> np.ndarray:
    """Area (ha) of one cell in each row of `grid`, shape (height,).

    Geographic CRS: (cell width in degrees × 2π·6378137/360) × (cell height in
    degrees × 2π·6378137/360) × cos(latitude of the row's north edge) / 1e4,
    which is what GCBM writes into LocationDimension.area.
    Projected CRS: |a·e| / 1e4 for every row.
    """
    t = grid.transform
    if t.b != 0 or t.d != 0:
        raise LayerError(f"rotated grids are not supported (transform {tuple(t)[:6]})")
    if not is_geographic(grid):
        return np.full(grid.height, abs(t.a * t.e) / M2_PER_HA, dtype=np.float64)
    rows = np.arange(grid.height, dtype=np.float64)
    top = t.f + rows * t.e
    bottom = top + t.e
    north = np.maximum(top, bottom)
    cell_m2 = abs(t.a) * METRES_PER_DEGREE * abs(t.e) * METRES_PER_DEGREE
    return cell_m2 * np.cos(np.radians(north)) / M2_PER_HA
