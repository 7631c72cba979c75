"""Headline metrics, plot tables and maps from a run's compiled output.

Reads the GCBM.CompileResults `v_*` tables of `compiled_gcbm_output.db` (ours or real
GCBM's; classifier columns vary per project and are ignored here) and the run's spatial
outputs `spatial/<Indicator>_<year>.tif`.

Layout, following style.md: `read_compiled_tables` / `read_maps` are the only functions
that touch files; everything that computes takes and returns DataFrames, arrays and
dicts; `summarize_run` wires them together for the `summarize` stage and CLI command.

Units: stocks in tC, stock changes and emissions in tC/yr (each simulated year),
areas in ha, maps in tC/ha.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from flintcloud.atomic import atomic_dir, atomic_file
from flintcloud.errors import ReportError
from flintcloud.params import OUTPUT_LAYOUT
from flintcloud.sqlite_ro import connect_ro

# v_* tables and the columns this module uses from each.
REQUIRED_TABLES = {
    "v_pool_indicators": ("indicator", "year", "pool_tc"),
    "v_stock_change_indicators": ("indicator", "year", "flux_tc"),
    "v_age_indicators": ("year", "age_range", "area"),
}
# v_age_indicators columns besides the classifiers (GCBM.CompileResults).
AGE_TABLE_COLUMNS = ("year", "unfccc_land_class", "age_range", "area")
# Absent when a run had no disturbance at all (GCBM.CompileResults skips them then).
OPTIONAL_TABLES = {
    "v_total_disturbed_areas": ("year", "disturbance_type", "dist_area"),
    "v_disturbance_fluxes": ("year", "disturbance_type", "to_pool", "flux_tc"),
}

# Pool indicators plotted (GCBM.CompileResults names -> csv column).
STOCK_INDICATORS = {
    "Total Ecosystem": "total_ecosystem",
    "Total Biomass": "total_biomass",
    "Aboveground Biomass": "aboveground_biomass",
    "Belowground Biomass": "belowground_biomass",
    "Deadwood": "deadwood",
    "Litter": "litter",
    "Soil Carbon": "soil_carbon",
}
# Stock-change indicators plotted.
STOCK_CHANGE_INDICATORS = {
    "NPP": "npp",
    "Rh": "rh",
    "NEP": "nep",
    "NBP": "nbp",
    "Delta Total Ecosystem": "delta_total_ecosystem",
    "Total Emissions": "total_emissions",
    "Disturbance Losses": "disturbance_losses",
}
EMISSION_POOLS = ("CO2", "CH4", "CO")
PRODUCTS_POOL = "Products"
# Spatial outputs the maps are made from (WriteVariableGeotiff data_name).
MAP_TOTAL_ECOSYSTEM = "Total_Ecosystem_C"
MAP_NBP = "NBP"

# Units of every metric, written beside metrics.json's values in the report.
METRIC_UNITS = {
    "start_year": "year",
    "end_year": "year",
    "n_years": "years",
    "area_ha": "ha",
    "total_ecosystem_c_end_tc": "tC",
    "total_ecosystem_c_end_tc_per_ha": "tC/ha",
    "total_biomass_c_end_tc": "tC",
    "dead_organic_matter_c_end_tc": "tC",
    "soil_c_end_tc": "tC",
    "total_ecosystem_c_initial_tc": "tC",
    "delta_total_ecosystem_tc": "tC",
    "cumulative_nbp_tc": "tC",
    "cumulative_nep_tc": "tC",
    "mean_npp_tc_per_yr": "tC/yr",
    "mean_npp_tc_per_ha_yr": "tC/ha/yr",
    "total_disturbance_emissions_tc": "tC",
    "total_to_products_tc": "tC",
    "area_disturbed_ha": "ha",
    # GHG inventory view (flintcloud.report.inventory)
    "gwp_set": "",
    "co_accounting": "",
    "co2_emissions_t": "t CO2",
    "ch4_emissions_t": "t CH4",
    "co_emissions_t": "t CO",
    "gross_emissions_tco2e": "tCO2e",
    "net_emissions_tco2e": "tCO2e",
    "net_emissions_forest_tco2e": "tCO2e",
    "biomass_to_dom_disturbance_tc": "tC",
    "area_disturbed_once_ha": "ha",
    "hwp_stock_end_tc": "tC",
    "hwp_net_emissions_tco2e": "tCO2e",
    # provenance (flintcloud.report.provenance): text and flags, no unit
    "git_commit": "",
    "git_dirty": "",
    "input_project": "",
    "input_project_md5": "",
    "flintcloud_version": "",
    "libcbm_version": "",
    "engine": "",
    "engine_version": "",
}


@dataclass
class CompiledTables:
    """The compiled `v_*` tables, only the columns used here (one row per db row)."""

    pool_indicators: pd.DataFrame
    stock_change_indicators: pd.DataFrame
    age_indicators: pd.DataFrame
    disturbed_areas: pd.DataFrame
    disturbance_fluxes: pd.DataFrame
    source: str = "<memory>"
    # Pool totals (tC) by GCBM pool name after spinup (raw db year 0); the compiled tables start
    # at the first simulated year. None: not known (no raw db).
    initial_pools: pd.Series | None = None

    @property
    def classifiers(self) -> list[str]:
        """The project's classifier columns (every v_age_indicators column that is not a GCBM one)."""
        return [c for c in self.age_indicators.columns if c not in AGE_TABLE_COLUMNS]


@dataclass
class Maps:
    """Arrays (NaN outside the simulated area) on one grid; extent = (left, right, bottom, top);
    transform = the affine (a, b, c, d, e, f) of the arrays' first pixel (the crop window's, on the run's
    grid), so maps cropped to different footprints can be put on one grid (report.scenarios.align_maps)."""

    total_ecosystem_end: np.ndarray
    cumulative_nbp: np.ndarray
    end_year: int
    years: list[int]
    extent: tuple[float, float, float, float]
    crs: str
    transform: tuple[float, ...] | None = None


@dataclass
class Summary:
    metrics: dict
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)


# ---------------------------------------------------------------- reading (I/O)


def read_compiled_tables(compiled_db: str | Path) -> CompiledTables:
    """Read the v_* tables this module needs from a compiled_gcbm_output.db."""
    path = Path(compiled_db)
    if not path.is_file():  # sqlite3.connect would silently create an empty db
        raise ReportError(f"compiled output db {str(path)!r} not found (expected the simulate stage's output)")
    frames: dict[str, pd.DataFrame] = {}
    try:
        with connect_ro(path) as conn:
            present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table','view')")}
            for table, columns in {**REQUIRED_TABLES, **OPTIONAL_TABLES}.items():
                if table not in present:
                    if table in REQUIRED_TABLES:
                        raise ReportError(
                            f"{str(path)!r} has no table {table!r}; expected GCBM.CompileResults' v_* tables "
                            f"(found: {sorted(t for t in present if t.startswith('v_')) or 'none'})"
                        )
                    frames[table] = pd.DataFrame({c: pd.Series(dtype=float) for c in columns})
                    continue
                have = [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]
                missing = [c for c in columns if c not in have]
                if missing:
                    raise ReportError(f"{str(path)!r} table {table!r} lacks column(s) {missing}; it has {have}")
                # every column: the classifier, land-class and age-class columns feed the breakdowns
                frames[table] = pd.read_sql_query(f'SELECT * FROM "{table}"', conn)
    except sqlite3.DatabaseError as err:
        raise ReportError(f"cannot read compiled output db {str(path)!r}: {err}") from err
    return CompiledTables(
        pool_indicators=frames["v_pool_indicators"],
        stock_change_indicators=frames["v_stock_change_indicators"],
        age_indicators=frames["v_age_indicators"],
        disturbed_areas=frames["v_total_disturbed_areas"],
        disturbance_fluxes=frames["v_disturbance_fluxes"],
        source=str(path),
    )


INITIAL_POOLS_SQL = """
SELECT pd.poolName AS pool, SUM(p.poolValue) AS pool_tc
FROM Pools p
JOIN PoolDimension pd ON p.poolId = pd.id
JOIN LocationDimension l ON p.locationDimId = l.id
JOIN DateDimension d ON l.dateDimId = d.id
WHERE d.year = 0
GROUP BY pd.poolName
"""


def read_initial_pools(raw_db: str | Path) -> pd.Series | None:
    """Pool totals (tC) after spinup from a raw gcbm_output.db (DateDimension year 0);
    None when the db is absent or has no year 0."""
    path = Path(raw_db)
    if not path.is_file():
        return None
    try:
        with connect_ro(path) as conn:
            df = pd.read_sql_query(INITIAL_POOLS_SQL, conn)
    except (sqlite3.DatabaseError, pd.errors.DatabaseError) as err:
        raise ReportError(f"cannot read the post-spinup pools from raw output db {str(path)!r}: {err}") from err
    if df.empty:
        return None
    return df.set_index("pool")["pool_tc"].astype(float)


def initial_pool_indicators(pools: pd.Series, pool_indicators: dict[str, str], pool_collections: dict) -> pd.DataFrame:
    """v_pool_indicators-shaped rows (indicator, year=0, pool_tc) from pool totals, using the
    compile's indicator definitions (indicator -> pool collection -> pools)."""
    rows = []
    for indicator in STOCK_INDICATORS:
        collection = pool_collections.get(pool_indicators.get(indicator, ""), [])
        rows.append({"indicator": indicator, "year": 0, "pool_tc": float(pools.reindex(collection).fillna(0).sum())})
    return pd.DataFrame(rows)


def spatial_path(spatial_dir: Path, data_name: str, year: int) -> Path:
    return Path(spatial_dir) / f"{data_name}_{year}.tif"


def read_maps(spatial_dir: str | Path, years: list[int]) -> Maps:
    """Total Ecosystem C at the last year and NBP summed over `years`, from the run's GeoTIFFs,
    cropped to the simulated area (GCBM tiles are 1 degree; a landscape may fill a corner)."""
    import rasterio
    from rasterio.windows import Window

    spatial_dir = Path(spatial_dir)
    end_year = max(years)
    wanted = [spatial_path(spatial_dir, MAP_TOTAL_ECOSYSTEM, end_year)]
    wanted += [spatial_path(spatial_dir, MAP_NBP, y) for y in years]
    missing = [p.name for p in wanted if not p.is_file()]
    if missing:
        raise ReportError(
            f"spatial outputs missing in {str(spatial_dir)!r}: {missing}; the maps need "
            f"{MAP_TOTAL_ECOSYSTEM} at {end_year} and {MAP_NBP} in every year {min(years)}..{end_year} "
            "(outputs.indicators / outputs.years in params.yaml)"
        )
    arrays = []
    window = extent = crs = transform = None
    for p in wanted:
        with rasterio.open(p) as ds:
            if window is None:
                full = ds.read(1, masked=True)
                rows, cols = data_bounds(~np.ma.getmaskarray(full))
                window = Window(cols[0], rows[0], cols[1] - cols[0], rows[1] - rows[0])
                shape = (ds.height, ds.width)
                t = ds.transform  # north-up grids (GCBM writes no rotation)
                extent = (t.c + cols[0] * t.a, t.c + cols[1] * t.a, t.f + rows[1] * t.e, t.f + rows[0] * t.e)
                transform = (t.a, t.b, t.c + cols[0] * t.a, t.d, t.e, t.f + rows[0] * t.e)
                crs = ds.crs.to_string() if ds.crs else ""
            elif (ds.height, ds.width) != shape:
                raise ReportError(f"{str(p)!r} is {ds.width}x{ds.height} px, expected {shape[1]}x{shape[0]}")
            arr = ds.read(1, masked=True, window=window).astype("float64").filled(np.nan)
            arrays.append(arr)
    return Maps(
        total_ecosystem_end=arrays[0],
        cumulative_nbp=cumulative_map(arrays[1:]),
        end_year=end_year,
        years=sorted(years),
        extent=extent,
        crs=crs,
        transform=transform,
    )


# ---------------------------------------------------------------- computing (pure)


def data_bounds(valid: np.ndarray) -> tuple[tuple[int, int], tuple[int, int]]:
    """((row0, row1), (col0, col1)), end-exclusive, of the True cells; the whole array if none."""
    rows, cols = np.flatnonzero(valid.any(axis=1)), np.flatnonzero(valid.any(axis=0))
    if rows.size == 0:
        return (0, valid.shape[0]), (0, valid.shape[1])
    return (int(rows[0]), int(rows[-1]) + 1), (int(cols[0]), int(cols[-1]) + 1)


def cumulative_map(arrays: list[np.ndarray]) -> np.ndarray:
    """Pixel-wise sum; a pixel is NaN only where every year is NaN (outside the landscape)."""
    stack = np.stack(arrays)
    total = np.nansum(stack, axis=0)
    total[np.all(np.isnan(stack), axis=0)] = np.nan
    return total


def simulated_years(tables: CompiledTables) -> list[int]:
    """Simulated years (from the stock-change table: year 0 is the post-spinup state, not a year)."""
    years = sorted({int(y) for y in tables.stock_change_indicators["year"].dropna() if int(y) > 0})
    if not years:
        raise ReportError(f"{tables.source}: v_stock_change_indicators has no simulated year (> 0)")
    return years


def stocks_by_year(pool_indicators: pd.DataFrame, start_year: int) -> pd.DataFrame:
    """One row per year, one column per pool indicator (tC). The post-spinup state (GCBM's
    year 0) is reported as year start_year - 1: the stocks at the start of the first year."""
    df = pool_indicators[pool_indicators["indicator"].isin(STOCK_INDICATORS)].copy()
    df["year"] = df["year"].astype(int)
    df.loc[df["year"] <= 0, "year"] = start_year - 1
    wide = df.pivot_table(index="year", columns="indicator", values="pool_tc", aggfunc="sum", fill_value=0.0)
    wide = wide.reindex(columns=list(STOCK_INDICATORS), fill_value=0.0).rename(columns=STOCK_INDICATORS)
    wide.columns.name = None
    return wide.reset_index().sort_values("year", ignore_index=True)


def stock_changes_by_year(stock_change_indicators: pd.DataFrame) -> pd.DataFrame:
    """One row per simulated year, one column per stock-change indicator (tC/yr)."""
    df = stock_change_indicators[
        stock_change_indicators["indicator"].isin(STOCK_CHANGE_INDICATORS) & (stock_change_indicators["year"] > 0)
    ].copy()
    df["year"] = df["year"].astype(int)
    wide = df.pivot_table(index="year", columns="indicator", values="flux_tc", aggfunc="sum", fill_value=0.0)
    wide = wide.reindex(columns=list(STOCK_CHANGE_INDICATORS), fill_value=0.0).rename(columns=STOCK_CHANGE_INDICATORS)
    wide.columns.name = None
    return wide.reset_index().sort_values("year", ignore_index=True)


def emissions_by_disturbance_type(
    disturbance_fluxes: pd.DataFrame, disturbed_areas: pd.DataFrame, live_biomass: list[str] | None = None,
    dom: list[str] | None = None,
) -> pd.DataFrame:
    """One row per disturbance type: area disturbed (ha, summed over events), carbon emitted to
    CO2/CH4/CO (tC), carbon removed to forest products (tC) and carbon moved from live biomass to
    dead organic matter (tC; `live_biomass`/`dom`: GCBM pool names, default the compile's
    collections), summed over the run; sorted by emissions, largest first."""
    if live_biomass is None or dom is None:
        from flintcloud.outputs.compile import default_indicators

        collections = default_indicators()["pool_collections"]
        live_biomass, dom = collections["Live biomass"], collections["DOM"]
    emitted = disturbance_fluxes[disturbance_fluxes["to_pool"].isin(EMISSION_POOLS)]
    em = emitted.groupby("disturbance_type")["flux_tc"].sum().rename("emissions_tc")
    harvested = disturbance_fluxes[disturbance_fluxes["to_pool"] == PRODUCTS_POOL]
    prod = harvested.groupby("disturbance_type")["flux_tc"].sum().rename("to_products_tc")
    if "from_pool" in disturbance_fluxes.columns:
        moved = disturbance_fluxes[disturbance_fluxes["from_pool"].isin(live_biomass)
                                   & disturbance_fluxes["to_pool"].isin(dom)]
        to_dom = moved.groupby("disturbance_type")["flux_tc"].sum().rename("biomass_to_dom_tc")
    else:
        to_dom = pd.Series(dtype=float, name="biomass_to_dom_tc")
    area = disturbed_areas.groupby("disturbance_type")["dist_area"].sum().rename("area_disturbed_ha")
    df = pd.concat([area, em, prod, to_dom], axis=1).fillna(0.0)
    df.index.name = "disturbance_type"
    df = df.reset_index()
    df["disturbance_type"] = df["disturbance_type"].astype(str)
    df = df[df["disturbance_type"].str.len() > 0]
    return df.sort_values(["emissions_tc", "disturbance_type"], ascending=[False, True], ignore_index=True)[
        ["disturbance_type", "area_disturbed_ha", "emissions_tc", "to_products_tc", "biomass_to_dom_tc"]
    ]


def _age_range_start(label: str) -> float:
    m = re.match(r"\s*(\d+)", str(label))
    return float(m.group(1)) if m else math.inf


def age_class_distribution(age_indicators: pd.DataFrame, year: int) -> pd.DataFrame:
    """Area (ha) per age class in `year`, in age order."""
    df = age_indicators[age_indicators["year"].astype(int) == int(year)]
    if df.empty:
        raise ReportError(f"v_age_indicators has no rows for year {year}")
    out = df.groupby("age_range")["area"].sum().rename("area_ha").reset_index()
    out["age_range"] = out["age_range"].astype(str)
    out["_order"] = out["age_range"].map(_age_range_start)
    out = out.sort_values(["_order", "age_range"], ignore_index=True).drop(columns="_order")
    out.insert(0, "age_class", range(1, len(out) + 1))
    return out


def _r(x: float, nd: int = 3) -> float:
    return float(round(float(x), nd))


def headline_metrics(
    stocks: pd.DataFrame, changes: pd.DataFrame, disturbances: pd.DataFrame, ages_end: pd.DataFrame, years: list[int]
) -> dict:
    """The run's headline figures (units in METRIC_UNITS), flat so `dvc exp show` shows each."""
    start, end = min(years), max(years)
    at_end = stocks.set_index("year").loc[end] if end in set(stocks["year"]) else None
    if at_end is None:
        raise ReportError(f"v_pool_indicators has no rows for the end year {end}")
    area = float(ages_end["area_ha"].sum())
    m = {
        "start_year": int(start),
        "end_year": int(end),
        "n_years": len(years),
        "area_ha": _r(area, 4),
        "total_ecosystem_c_end_tc": _r(at_end["total_ecosystem"]),
        "total_ecosystem_c_end_tc_per_ha": _r(at_end["total_ecosystem"] / area, 4) if area > 0 else 0.0,
        "total_biomass_c_end_tc": _r(at_end["total_biomass"]),
        "dead_organic_matter_c_end_tc": _r(at_end["deadwood"] + at_end["litter"]),
        "soil_c_end_tc": _r(at_end["soil_carbon"]),
        "cumulative_nbp_tc": _r(changes["nbp"].sum()),
        "cumulative_nep_tc": _r(changes["nep"].sum()),
        "mean_npp_tc_per_yr": _r(changes["npp"].mean()),
        "mean_npp_tc_per_ha_yr": _r(changes["npp"].mean() / area, 4) if area > 0 else 0.0,
        "total_disturbance_emissions_tc": _r(disturbances["emissions_tc"].sum()),
        "total_to_products_tc": _r(disturbances["to_products_tc"].sum()),
        "area_disturbed_ha": _r(disturbances["area_disturbed_ha"].sum(), 4),
    }
    if start - 1 in set(stocks["year"]):  # the post-spinup state is in the table
        initial = float(stocks.set_index("year").loc[start - 1, "total_ecosystem"])
        m["total_ecosystem_c_initial_tc"] = _r(initial)
        m["delta_total_ecosystem_tc"] = _r(at_end["total_ecosystem"] - initial)
    return m


def summarize_tables(tables: CompiledTables) -> Summary:
    """Metrics and the plot tables (stocks, stock_changes, disturbance_emissions, age_classes:
    area_ha at the end year, area_ha_start at the end of the first year)."""
    years = simulated_years(tables)
    pools = tables.pool_indicators
    if tables.initial_pools is not None and not (pools["year"].astype(int) <= 0).any():
        from flintcloud.outputs.compile import default_indicators

        ind = default_indicators()
        initial = initial_pool_indicators(tables.initial_pools, ind["pool_indicators"], ind["pool_collections"])
        pools = pd.concat([pools, initial], ignore_index=True)
    stocks = stocks_by_year(pools, min(years))
    changes = stock_changes_by_year(tables.stock_change_indicators)
    dist = emissions_by_disturbance_type(tables.disturbance_fluxes, tables.disturbed_areas)
    ages = age_class_distribution(tables.age_indicators, max(years))
    start_ages = age_class_distribution(tables.age_indicators, min(years))
    ages = ages.merge(start_ages[["age_range", "area_ha"]].rename(columns={"area_ha": "area_ha_start"}),
                      on="age_range", how="outer").fillna({"area_ha": 0.0, "area_ha_start": 0.0})
    ages = ages.assign(_o=ages["age_range"].map(_age_range_start)).sort_values(["_o", "age_range"], ignore_index=True)
    ages = ages.drop(columns="_o").assign(age_class=lambda d: range(1, len(d) + 1))
    metrics = headline_metrics(stocks, changes, dist, ages, years)
    return Summary(
        metrics=metrics,
        tables={"stocks": stocks, "stock_changes": changes, "disturbance_emissions": dist, "age_classes": ages},
    )


# ---------------------------------------------------------------- wiring (stage / CLI)


def summarize_run(
    output_dir: str | Path,
    metrics_path: str | Path,
    plots_dir: str | Path,
    figures_dir: str | Path,
    *,
    maps: bool = True,
    dpi: int = 100,
    tables_dir: str | Path | None = None,
    inventory=None,
    config_dir: str | Path | None = None,
    provenance: dict | None = None,
    validation: dict | None = None,
) -> dict:
    """Summarize a run directory (compiled_gcbm_output.db + spatial/) into metrics.json,
    plots_dir/*.csv and figures_dir/*.png; with `tables_dir`, every report table as
    tables_dir/*.csv and one .xlsx (flintcloud.report.tables). `inventory`:
    flintcloud.report.inventory.InventorySettings (None = defaults); `config_dir`: the run's
    GCBM configuration, read for the area disturbed at least once (None = not reported);
    `provenance`: keys added to the metrics (flintcloud.report.provenance); `validation`: validate's
    JSON report. The provenance and validation tables report.md shows are report tables too. Returns
    the metrics."""
    from flintcloud.report import figures as fig
    from flintcloud.report import inventory as inv
    from flintcloud.report import tables as tab

    output_dir = Path(output_dir)
    tables = read_compiled_tables(output_dir / OUTPUT_LAYOUT.compiled_db)
    tables.initial_pools = read_initial_pools(output_dir / OUTPUT_LAYOUT.raw_db)
    summary = summarize_tables(tables)
    area_once = None
    if config_dir is not None:
        from flintcloud.report.disturbed_area import read_area_disturbed_once

        area_once = read_area_disturbed_once(config_dir)
    settings = inventory if inventory is not None else inv.InventorySettings()
    inventory_view = inv.build_inventory(tables, settings, area_once)
    summary.metrics.update(inventory_view.metrics)
    summary.tables["emissions"] = inv.emissions_plot_table(inventory_view.tables)
    summary.metrics.update(provenance or {})
    years = list(range(summary.metrics["start_year"], summary.metrics["end_year"] + 1))
    charts = fig.charts({**summary.tables, **inventory_view.tables})
    if maps:
        m = read_maps(output_dir / OUTPUT_LAYOUT.spatial_dir, years)
        charts.update(fig.maps(m))
    if tables_dir is not None:
        context = {"start": summary.metrics["start_year"], "end": summary.metrics["end_year"]}
        report_tables = {"headline": tab.headline_table(summary.metrics),
                         "stock_changes": summary.tables["stock_changes"], **inventory_view.tables}
        for name, table in (("provenance", tab.provenance_table(summary.metrics)),
                            ("validation", tab.validation_table(validation))):
            if table is not None:
                report_tables[name] = table
        tab.write_tables(report_tables, tables_dir, context)
    with atomic_dir(plots_dir) as tmp:
        for name, table in summary.tables.items():
            table.to_csv(tmp / f"{name}.csv", index=False, float_format="%.6f")
    with atomic_dir(figures_dir) as tmp:
        for name, figure in charts.items():
            figure.savefig(tmp / f"{name}.png", dpi=dpi, metadata={"Software": None})
    with atomic_file(metrics_path, "w", encoding="utf-8") as fh:
        json.dump(summary.metrics, fh, indent=2)
        fh.write("\n")
    return summary.metrics
