"""PNG previews of the maps a run wrote, for the web app: never the whole raster in the page.

    read_preview(tif, max_pixels) -> MapPreview      (rasterio; decimated read, nodata masked)
    render_png(preview, label, vmin, vmax, diverging) -> bytes   (matplotlib; colour bar with units)

Maps in geographic coordinates (EPSG:4326) are drawn with the aspect of the ground at their centre
latitude (1 / cos(lat)), so a degree of longitude is not drawn as wide as a degree of latitude. Nodata is
drawn as a light grey and named in the legend.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAP_NAME = re.compile(r"^(?P<indicator>[A-Za-z][A-Za-z0-9_]*?)_(?P<year>\d{4})\.tif$")
STOCK_UNITS = "tC/ha"
FLUX_UNITS = "tC/ha/yr"
# Indicators that are flows over one year (GCBM's flux indicators), signed: drawn on a diverging scale.
FLUXES = {"NPP", "NEP", "NBP", "Decomp_Releases", "Total_Emissions", "Total_Biomass_Emissions",
          "Total_DOM_Emissions", "Total_CO2_Emissions", "Total_CO_Emissions", "Total_CH4_Emissions",
          "Ecosystem_Removals", "Bio_To_DOM_From_Disturbances", "Delta_Total_Ecosystem", "Delta_Total_Biomass",
          "Delta_Total_DOM"}
SIGNED = {"NEP", "NBP", "Delta_Total_Ecosystem", "Delta_Total_Biomass", "Delta_Total_DOM"}


def units(indicator: str) -> str:
    if indicator == "Age":
        return "years"
    return FLUX_UNITS if indicator in FLUXES else STOCK_UNITS


def parse_map_name(name: str) -> tuple[str, int] | None:
    m = MAP_NAME.match(name)
    return (m["indicator"], int(m["year"])) if m else None


def map_catalogue(names: list[str]) -> dict[str, dict]:
    """{indicator: {"years": [...], "units": ...}} from map file names `<Indicator>_<year>.tif`."""
    out: dict[str, dict] = {}
    for name in names:
        parsed = parse_map_name(name)
        if parsed:
            indicator, year = parsed
            out.setdefault(indicator, {"years": [], "units": units(indicator), "signed": indicator in SIGNED})
            out[indicator]["years"].append(year)
    for entry in out.values():
        entry["years"].sort()
    return dict(sorted(out.items()))


@dataclass(frozen=True)
class MapPreview:
    values: np.ma.MaskedArray      # decimated, nodata masked
    width: int                     # of the full raster
    height: int
    aspect: float                  # drawn height / width of one cell
    grid_key: tuple                # (crs, transform, width, height): equal keys = one grid

    def stats(self) -> dict:
        data = self.values.compressed()
        return {"width": self.width, "height": self.height,
                "min": float(data.min()) if data.size else None, "max": float(data.max()) if data.size else None,
                "mean": float(data.mean()) if data.size else None,
                "nodata_fraction": float(np.ma.getmaskarray(self.values).mean())}


def data_window(tif: Path):
    """The smallest window holding every valid pixel (GCBM tiles are 1 degree; a project may fill a corner).

    None when the map has no valid pixel."""
    import rasterio
    from rasterio.windows import Window

    with rasterio.open(tif) as ds:
        mask = ds.dataset_mask()
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not rows.size:
        return None
    return Window(int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1))


def union_window(a, b):
    """The window covering both (either may be None)."""
    from rasterio.windows import union

    windows = [w for w in (a, b) if w is not None]
    return union(*windows) if len(windows) > 1 else (windows[0] if windows else None)


def read_preview(tif: Path, max_pixels: int = 640, window=None) -> MapPreview:
    """The map cropped to ``window`` (default: its data window), decimated to at most ``max_pixels`` a side."""
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.windows import Window

    window = window if window is not None else data_window(tif)
    with rasterio.open(tif) as ds:
        window = window if window is not None else Window(0, 0, ds.width, ds.height)
        width, height = int(window.width), int(window.height)
        scale = max(width, height) / max_pixels
        shape = (max(1, round(height / scale)), max(1, round(width / scale))) if scale > 1 else (height, width)
        band = ds.read(1, window=window, out_shape=shape, resampling=Resampling.nearest, masked=True)
        band = np.ma.masked_invalid(band.astype("float64"))
        aspect = abs(ds.transform.e / ds.transform.a) if ds.transform.a else 1.0
        if ds.crs is not None and ds.crs.is_geographic:
            bounds = ds.window_bounds(window)
            aspect /= max(math.cos(math.radians((bounds[1] + bounds[3]) / 2)), 1e-6)
        key = (ds.crs.to_string() if ds.crs else None, tuple(ds.transform)[:6], ds.width, ds.height,
               (int(window.col_off), int(window.row_off), width, height))
        return MapPreview(values=band, width=ds.width, height=ds.height, aspect=aspect, grid_key=key)


def difference(a: MapPreview, b: MapPreview) -> MapPreview:
    """b - a on a shared grid (ValueError naming both grids otherwise); masked where either is nodata."""
    if a.grid_key != b.grid_key or a.values.shape != b.values.shape:
        raise ValueError(f"the maps are on different grids ({a.width}x{a.height} and {b.width}x{b.height}, "
                         f"or other transforms): no difference map")
    return MapPreview(values=b.values - a.values, width=a.width, height=a.height, aspect=a.aspect, grid_key=a.grid_key)


def render_png(preview: MapPreview, label: str, *, vmin: float | None = None, vmax: float | None = None,
               diverging: bool = False) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    data = preview.values
    if diverging:
        lim = max(abs(v) for v in (vmin, vmax) if v is not None) if (vmin is not None or vmax is not None) else None
        if lim is None:
            lim = float(np.abs(data).max()) if data.count() else 1.0
        lim = lim or 1.0
        vmin, vmax, cmap = -lim, lim, plt.get_cmap("RdBu")
    else:
        cmap = plt.get_cmap("viridis")
    cmap = cmap.copy()
    cmap.set_bad("#d9d9d9")
    rows, cols = data.shape
    height_in = min(8.0, max(3.0, 6.0 * rows * preview.aspect / max(cols, 1)))
    fig, ax = plt.subplots(figsize=(7.5, height_in), dpi=100)
    try:
        image = ax.imshow(data, cmap=cmap, vmin=vmin, vmax=vmax, aspect=preview.aspect, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        bar = fig.colorbar(image, ax=ax, shrink=0.85)
        bar.set_label(label)
        if np.ma.getmaskarray(data).any():
            ax.legend(handles=[Patch(facecolor="#d9d9d9", edgecolor="#999999", label="nodata")],
                      loc="lower left", fontsize=8, framealpha=0.9)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()
    finally:
        plt.close(fig)
