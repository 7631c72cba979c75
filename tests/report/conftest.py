"""A small compiled_gcbm_output.db with GCBM.CompileResults' v_* columns, built in tmp_path.

Two classifiers, two stands, years 0 (post-spinup) and 2010..2012, one wildfire in 2011.
Numbers are chosen so that mass balance holds: Total Ecosystem(y) - Total Ecosystem(y-1)
== NBP(y), NBP == NEP - disturbance emissions and NPP - NBP == CO2 + CH4 + CO + Products
(the inventory view's check).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

CLS = ("Classifier1", "Classifier2")
STANDS = [("TA", "G"), ("BP", "M")]
AREA = {("TA", "G"): 60.0, ("BP", "M"): 40.0}  # ha
YEARS = [2010, 2011, 2012]
# per stand: Total Ecosystem at year 0 (tC)
TE0 = {("TA", "G"): 6000.0, ("BP", "M"): 3000.0}
NPP = {("TA", "G"): 120.0, ("BP", "M"): 80.0}  # tC/yr
RH = {("TA", "G"): 90.0, ("BP", "M"): 70.0}
FIRE = {"year": 2011, "stand": ("BP", "M"), "area": 10.0, "co2": 150.0, "ch4": 5.0, "co": 15.0, "products": 25.0}


def expected() -> dict:
    """Totals the fixture implies (tC, ha)."""
    te = {0: sum(TE0.values())}
    nbp = {}
    for y in YEARS:
        em = FIRE["co2"] + FIRE["ch4"] + FIRE["co"] + FIRE["products"] if y == FIRE["year"] else 0.0
        nbp[y] = sum(NPP.values()) - sum(RH.values()) - em
        te[y] = te[y - 1 if y > YEARS[0] else 0] + nbp[y]
    return {"te": te, "nbp": nbp, "area": sum(AREA.values()), "dist_emissions": FIRE["co2"] + FIRE["ch4"] + FIRE["co"]}


def build_compiled_db(path: Path, *, with_disturbances: bool = True) -> Path:
    ddl_cls = ", ".join(f"{c} VARCHAR" for c in CLS)
    ddl_prev = ", ".join(f"{c}_previous VARCHAR" for c in CLS)
    with sqlite3.connect(path) as c:
        c.execute(f"CREATE TABLE v_pool_indicators (indicator_id INTEGER, {ddl_cls}, unfccc_land_class VARCHAR, "
                  "indicator VARCHAR, year INTEGER, age_range VARCHAR, pool_tc REAL)")
        c.execute(f"CREATE TABLE v_stock_change_indicators (indicator VARCHAR, {ddl_cls}, unfccc_land_class VARCHAR, "
                  "year INTEGER, age_range VARCHAR, flux_tc REAL)")
        c.execute(f"CREATE TABLE v_age_indicators (year INTEGER, {ddl_cls}, unfccc_land_class VARCHAR, "
                  "age_range VARCHAR, area REAL)")
        if with_disturbances:
            c.execute(f"CREATE TABLE v_total_disturbed_areas ({ddl_cls}, unfccc_land_class VARCHAR, year INTEGER, "
                      "disturbance_code INTEGER, disturbance_type VARCHAR, dist_area REAL)")
            c.execute(f"CREATE TABLE v_disturbance_fluxes ({ddl_cls}, {ddl_prev}, unfccc_land_class VARCHAR, "
                      "year INTEGER, disturbance_code INTEGER, disturbance_type VARCHAR, from_pool VARCHAR, "
                      "to_pool VARCHAR, flux_tc REAL, pre_dist_age_range VARCHAR, post_dist_age_range VARCHAR)")
        lc = "UNFCCC_FL_R_FL"
        te = dict(TE0)
        for y in [0, *YEARS]:
            for s in STANDS:
                if y > 0:
                    em = 0.0
                    if with_disturbances and y == FIRE["year"] and s == FIRE["stand"]:
                        em = FIRE["co2"] + FIRE["ch4"] + FIRE["co"] + FIRE["products"]  # NBP counts products
                    nep = NPP[s] - RH[s]
                    nbp = nep - em
                    te[s] += nbp
                    fire = bool(em)
                    gases = [("Total CO2 Emissions", RH[s] + (FIRE["co2"] if fire else 0.0)),
                             ("Total CH4 Emissions", FIRE["ch4"] if fire else 0.0),
                             ("Total CO Emissions", FIRE["co"] if fire else 0.0),
                             ("Total Harvest (Biomass + Snags)", FIRE["products"] if fire else 0.0),
                             ("Disturbance Losses", em)]
                    for name, v in [("NPP", NPP[s]), ("Rh", RH[s]), ("NEP", nep), ("NBP", nbp),
                                    ("Delta Total Ecosystem", nbp), ("Total Emissions", RH[s] + em - (FIRE["products"] if em else 0.0)),
                                    *gases]:
                        c.execute("INSERT INTO v_stock_change_indicators VALUES (?,?,?,?,?,?,?)",
                                  (name, *s, lc, y, "41-60", v))
                biomass = 0.3 * te[s]
                pools = {"Total Ecosystem": te[s], "Total Biomass": biomass, "Aboveground Biomass": 0.8 * biomass,
                         "Belowground Biomass": 0.2 * biomass, "Deadwood": 0.1 * te[s], "Litter": 0.15 * te[s],
                         "Soil Carbon": 0.45 * te[s]}
                for i, (name, v) in enumerate(pools.items(), 1):
                    c.execute("INSERT INTO v_pool_indicators VALUES (?,?,?,?,?,?,?,?)",
                              (i, *s, lc, name, y, "41-60", v))
                if y > 0:
                    # age classes: split each stand's area over two classes (plus one 1-20 after the fire)
                    burnt = FIRE["area"] if (with_disturbances and s == FIRE["stand"] and y >= FIRE["year"]) else 0.0
                    c.execute("INSERT INTO v_age_indicators VALUES (?,?,?,?,?,?)", (y, *s, lc, "41-60", AREA[s] - burnt))
                    if burnt:
                        c.execute("INSERT INTO v_age_indicators VALUES (?,?,?,?,?,?)", (y, *s, lc, "1-20", burnt))
        if with_disturbances:
            s = FIRE["stand"]
            c.execute("INSERT INTO v_total_disturbed_areas VALUES (?,?,?,?,?,?,?)",
                      (*s, lc, FIRE["year"], 1, "Wildfire", FIRE["area"]))
            for frm, to, v in [("SoftwoodMerch", "CO2", 100.0), ("MediumSoil", "CO2", 50.0), ("SoftwoodMerch", "CH4", 5.0),
                               ("SoftwoodFoliage", "CO", 15.0), ("SoftwoodMerch", "SoftwoodStemSnag", 300.0),
                               ("SoftwoodMerch", "Products", 25.0)]:
                c.execute("INSERT INTO v_disturbance_fluxes VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                          (*s, *s, lc, FIRE["year"], 1, "Wildfire", frm, to, v, "41-60", "1-20"))
    return path


def build_spatial(spatial_dir: Path, years=YEARS, shape=(4, 5)) -> Path:
    """Total_Ecosystem_C and NBP GeoTIFFs (tC/ha), nodata in one corner pixel."""
    spatial_dir.mkdir(parents=True, exist_ok=True)
    profile = {"driver": "GTiff", "height": shape[0], "width": shape[1], "count": 1, "dtype": "float32",
               "crs": "EPSG:4326", "transform": Affine(0.00025, 0.0, -106.0, 0.0, -0.00025, 55.0), "nodata": -1.0}
    for y in years:
        for name, base in (("Total_Ecosystem_C", 100.0), ("NBP", 0.5)):
            arr = np.full(shape, base + (y - years[0]), dtype="float32")
            arr[0, 0] = -1.0
            with rasterio.open(spatial_dir / f"{name}_{y}.tif", "w", **profile) as ds:
                ds.write(arr, 1)
    return spatial_dir


@pytest.fixture
def compiled_db(tmp_path: Path) -> Path:
    return build_compiled_db(tmp_path / "compiled_gcbm_output.db")


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    out = tmp_path / "output"
    out.mkdir()
    build_compiled_db(out / "compiled_gcbm_output.db")
    build_spatial(out / "spatial")
    return out
