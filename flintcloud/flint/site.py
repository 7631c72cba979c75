"""RothC for one site, as a pipeline: site parameters + a monthly inputs CSV -> FLINT's RothC config ->
run -> pools over time, metrics and a chart.

Pure functions: `parse_site_params(obj)`, `parse_site_inputs(frame, source)`, `site_configs(site, inputs)`
(FLINT configuration documents any moja.cli could run too), `example_site_inputs(...)` (the generated
example site), `summarize_pools(result)` and `pools_figure(table)`. I/O twins: `read_site_params`,
`read_site_inputs`, `write_example_site_inputs`, `write_site_configs`, `write_site_report`.

Units follow FLINT.example's RothC: stocks and plant input in t C/ha, rainfall and open-pan
evaporation in mm per month, air temperature in deg C, soil cover as a fraction (>= 0.5 = covered).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from flintcloud.atomic import atomic_dir, atomic_file
from flintcloud.errors import ConfigError, ReportError
from flintcloud.flint.config import days_in_month

INPUT_COLUMNS = {  # CSV column -> FLINT variable
    "rainfall_mm": "rainfall",
    "open_pan_evap_mm": "openPanEvap",
    "avg_air_temp_c": "avgAirTemp",
    "plant_input_tc_ha": "presCM",
    "soil_cover": "soilCover",
}
INITIAL_KEYS = {  # params.yaml site.initial -> FLINT initSoil
    "dpm_tc_ha": "dpmaCMInit", "rpm_tc_ha": "rpmaCMInit", "biof_tc_ha": "biofCMInit",
    "bios_tc_ha": "biosCMInit", "hum_tc_ha": "humsCMInit", "iom_tc_ha": "inrtCMInit", "tsmd_mm": "TSMDInit",
}
SOIL_KEYS = ("dToRRatioInPres", "sampleDepth", "evapoOpenRatio", "bToCMaxTSMDRatio", "fracPbioToBiof",
             "fracHumsToBios", "sdcmRateMultDpm", "sdcmRateMultRpm", "sdcmRateMultBiof", "sdcmRateMultBios",
             "sdcmRateMultHums")
SOC_POOLS = ("SoilDPM", "SoilRPM", "SoilBioF", "SoilBioS", "SoilHUM", "SoilIOM")
STOCK_FILE = "rothc_stock.csv"
FLUX_FILE = "rothc_flux.csv"   # written only if the config enables OutputerStreamFlux
CONFIG_FILES = ("rothc_site.json", "libs.rothc.json")


@dataclass(frozen=True)
class SiteParams:
    name: str
    start: tuple[int, int]        # (year, month)
    months: int
    clay_frac: float
    initial: dict[str, float]     # FLINT initSoil keys
    soil: dict[str, float]        # FLINT soil keys

    @property
    def end(self) -> tuple[int, int]:
        total = self.start[0] * 12 + self.start[1] - 1 + self.months - 1
        return total // 12, total % 12 + 1


def _num(obj: dict, key: str, where: str, low: float | None = None, high: float | None = None) -> float:
    if key not in obj:
        raise ConfigError(f"{where}.{key} is missing")
    v = obj[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ConfigError(f"{where}.{key} must be a number, got {v!r}")
    if (low is not None and v < low) or (high is not None and v > high):
        raise ConfigError(f"{where}.{key} = {v!r} is outside [{low}, {high}]")
    return float(v)


def _year_month(value: Any, where: str) -> tuple[int, int]:
    text = str(value)
    try:
        y, m = (int(x) for x in text.split("-")[:2])
    except ValueError:
        raise ConfigError(f"{where} must be a month 'YYYY-MM', got {value!r}") from None
    if not (1 <= y <= 9999 and 1 <= m <= 12) or len(text.split("-")) != 2:
        raise ConfigError(f"{where} must be a month 'YYYY-MM', got {value!r}")
    return y, m


def parse_site_params(obj: Any, source: str = "params.yaml") -> SiteParams:
    """params.yaml `site` section -> SiteParams (every bad value named by its key)."""
    w = f"{source}: site"
    if not isinstance(obj, dict):
        raise ConfigError(f"{w} must be a mapping, got {obj!r}")
    start = _year_month(obj.get("start_month"), f"{w}.start_month")
    years = obj.get("years")
    if isinstance(years, bool) or not isinstance(years, int) or years < 1:
        raise ConfigError(f"{w}.years must be a whole number of years >= 1, got {years!r}")
    initial_raw = obj.get("initial")
    if not isinstance(initial_raw, dict):
        raise ConfigError(f"{w}.initial must be a mapping of {', '.join(INITIAL_KEYS)}")
    initial = {flint: _num(initial_raw, key, f"{w}.initial", 0.0) for key, flint in INITIAL_KEYS.items()}
    soil_raw = obj.get("soil")
    if not isinstance(soil_raw, dict):
        raise ConfigError(f"{w}.soil must be a mapping of FLINT's soil keys ({', '.join(SOIL_KEYS)})")
    unknown = sorted(set(initial_raw) - set(INITIAL_KEYS)) + sorted(set(soil_raw) - set(SOIL_KEYS))
    if unknown:
        raise ConfigError(f"{w}: unknown key(s) {', '.join(unknown)}")
    soil = {k: _num(soil_raw, k, f"{w}.soil", 0.0) for k in SOIL_KEYS}
    for k in ("fracPbioToBiof", "fracHumsToBios"):
        if soil[k] > 1.0:
            raise ConfigError(f"{w}.soil.{k} = {soil[k]!r} is a fraction, must be <= 1")
    return SiteParams(str(obj.get("name", "site")), start, years * 12, _num(obj, "clay_frac", w, 0.0, 1.0),
                      initial, soil)


def read_site_params(params_path: str | os.PathLike) -> SiteParams:
    import yaml

    path = Path(params_path)
    if not path.is_file():
        raise ConfigError(f"{str(path)!r} not found")
    params = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return parse_site_params(params.get("site"), str(path))


def parse_site_inputs(frame: pd.DataFrame, source: str = "inputs") -> pd.DataFrame:
    """Check the monthly inputs: a `month` column (YYYY-MM, consecutive) and the five input columns."""
    missing = [c for c in ("month", *INPUT_COLUMNS) if c not in frame.columns]
    if missing:
        raise ConfigError(f"{source}: column(s) {', '.join(missing)} missing (need month, {', '.join(INPUT_COLUMNS)})")
    if frame.empty:
        raise ConfigError(f"{source}: no rows")
    months = [_year_month(v, f"{source}: row {i + 2} month") for i, v in enumerate(frame["month"])]
    for i in range(1, len(months)):
        y, m = months[i - 1]
        expected = (y + m // 12, m % 12 + 1)
        if months[i] != expected:
            raise ConfigError(f"{source}: row {i + 2} month {frame['month'].iloc[i]!r} does not follow "
                              f"{frame['month'].iloc[i - 1]!r} (one row per consecutive month)")
    out = pd.DataFrame({"month": [f"{y:04d}-{m:02d}" for y, m in months]})
    for col in INPUT_COLUMNS:
        values = pd.to_numeric(frame[col], errors="coerce")
        bad = values.isna() | ~np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise ConfigError(f"{source}: row {i + 2} {col} {frame[col].iloc[i]!r} is not a number")
        out[col] = values.astype(float)
    for col in ("rainfall_mm", "open_pan_evap_mm", "plant_input_tc_ha"):
        if (out[col] < 0).any():
            i = int(np.flatnonzero((out[col] < 0).to_numpy())[0])
            raise ConfigError(f"{source}: row {i + 2} {col} is negative ({out[col].iloc[i]!r})")
    return out


def read_site_inputs(path: str | os.PathLike) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"site inputs {str(path)!r} not found")
    try:
        frame = pd.read_csv(path, dtype={"month": str})
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise ConfigError(f"site inputs {str(path)!r} is not a CSV: {err}") from err
    return parse_site_inputs(frame, str(path))


def _series(values: list[float]) -> dict:
    return {"transform": {"allow_nulls": True, "library": "moja.flint.example.base", "type": "TimeSeriesTransform",
                          "data": values}}


def site_configs(site: SiteParams, inputs: pd.DataFrame) -> list[dict]:
    """FLINT configuration documents for the site (run config + libraries), FLINT.example's RothC set-up.

    Series value 0 is the init step's (only soil cover is read then); values 1..n are the run's months,
    taken from the inputs row of the same month. The inputs must cover every month of the run.
    """
    start = f"{site.start[0]:04d}-{site.start[1]:02d}"
    rows = inputs.index[inputs["month"] == start]
    if len(rows) == 0:
        raise ConfigError(f"site inputs have no row for the start month {start} "
                          f"(they cover {inputs['month'].iloc[0]} .. {inputs['month'].iloc[-1]})")
    first = int(rows[0])
    run = inputs.iloc[first:first + site.months]
    if len(run) < site.months:
        end = f"{site.end[0]:04d}-{site.end[1]:02d}"
        raise ConfigError(f"site inputs end at {inputs['month'].iloc[-1]} but the run needs months up to {end} "
                          "(site.start_month + site.years)")
    ey, em = site.end
    variables: list[dict] = [
        {"localDomainId": 1}, {"simulateLandUnit": True},
        {"spatialLocationInfo": {"flintdata": {"library": "internal.flint", "type": "SpatialLocationInfo",
                                               "settings": {}}}},
        {"landUnitBuildSuccess": True}, {"landUnitArea": 1.0}, {"isSoilCovered": True}, {"TSMD": 0.0},
        {"clayFrac": site.clay_frac},
    ]
    for col, var in INPUT_COLUMNS.items():
        values = [float(v) for v in run[col]]
        variables.append({var: _series([values[0], *values])})
    variables.append({"initSoil": dict(site.initial)})
    variables.append({"soil": dict(site.soil)})
    rothc = {
        "LocalDomain": {
            "type": "point", "start_date": f"{site.start[0]:04d}/{site.start[1]:02d}/01",
            "end_date": f"{ey:04d}/{em:02d}/{days_in_month(ey, em):02d}",
            "sequencer_library": "internal.flint", "sequencer": "CalendarSequencer",
            "simulateLandUnit": "simulateLandUnit", "landUnitBuildSuccess": "landUnitBuildSuccess",
            "operationManager": {"name": "Simple", "use_kahan": False, "allow_zero_result_transfers": False},
        },
        "Pools": ["initialValues", "plantCM", "SoilDPM", "SoilRPM", "SoilBioF", "SoilBioS", "SoilHUM", "SoilIOM",
                  "atmosphere", "offsiteCM"],
        "Variables": variables,
        "Modules": {
            "TransactionManagerEndOfStepModule": {"library": "internal.flint", "order": 1},
            "CalendarSequencer": {"library": "internal.flint", "order": 2},
            "PlantResidueModule": {"enabled": True, "library": "moja.flint.example.rothc", "order": 3},
            "SoilCoverModule": {"enabled": True, "library": "moja.flint.example.rothc", "order": 4},
            "RothCModule": {"enabled": True, "library": "moja.flint.example.rothc", "order": 5},
            # no info header: the files hold no timestamp, so the same inputs give the same bytes
            "OutputerStream": {"enabled": True, "library": "internal.flint", "order": 11,
                               "settings": {"output_filename": STOCK_FILE, "output_to_screen": True,
                                            "output_info_header": False}},
            # the flux CSV (about 14 rows a month) is off: the report needs the pools only
            "OutputerStreamFlux": {"enabled": False, "library": "internal.flint", "order": 12,
                                   "settings": {"output_filename": FLUX_FILE, "output_to_screen": False,
                                                "output_info_header": False}},
        },
    }
    libs = {"Libraries": {"moja.flint.example.base": "external", "moja.flint.example.rothc": "external"}}
    return [rothc, libs]


def write_site_configs(configs: list[dict], out_dir: str | os.PathLike) -> list[Path]:
    with atomic_dir(out_dir) as tmp:
        for name, doc in zip(CONFIG_FILES, configs):
            (tmp / name).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return [Path(out_dir) / n for n in CONFIG_FILES]


# ------------------------------------------------------------------------------------------------ example site


def example_site_inputs(start_month: str = "2000-01", years: int = 30, seed: int = 1,
                        mean_temp_c: float = 9.5, annual_rain_mm: float = 700.0,
                        annual_plant_input_tc_ha: float = 2.5) -> pd.DataFrame:
    """A generated temperate arable site (synthetic, reproducible from the seed): seasonal temperature,
    rainfall and open-pan evaporation with monthly noise; a winter cereal covering the soil from October
    to July; plant residues mostly at harvest (August) and a little through the growing season."""
    y0, m0 = _year_month(start_month, "example_site.start_month")
    rng = np.random.default_rng(seed)
    n = years * 12
    month_of_year = (np.arange(n) + m0 - 1) % 12 + 1
    phase = 2 * np.pi * (month_of_year - 4.5) / 12.0
    temp = mean_temp_c + 6.5 * np.sin(phase) + rng.normal(0.0, 0.8, n)
    rain = np.clip(annual_rain_mm / 12.0 * (1.0 - 0.2 * np.sin(phase)) * rng.gamma(8.0, 1 / 8.0, n), 0.0, None)
    evap = np.clip(45.0 + 40.0 * np.sin(phase) + rng.normal(0.0, 4.0, n), 2.0, None)
    share = np.array([0.02, 0.02, 0.03, 0.05, 0.06, 0.07, 0.05, 0.55, 0.05, 0.04, 0.03, 0.03])
    plant = annual_plant_input_tc_ha * share[month_of_year - 1] * rng.uniform(0.85, 1.15, n)
    cover = np.where((month_of_year >= 10) | (month_of_year <= 7), 1.0, 0.0)
    months = [f"{(y0 * 12 + m0 - 1 + i) // 12:04d}-{(m0 - 1 + i) % 12 + 1:02d}" for i in range(n)]
    return pd.DataFrame({"month": months, "rainfall_mm": np.round(rain, 1), "open_pan_evap_mm": np.round(evap, 1),
                         "avg_air_temp_c": np.round(temp, 1), "plant_input_tc_ha": np.round(plant, 3),
                         "soil_cover": cover})


def write_example_site_inputs(path: str | os.PathLike, **options) -> Path:
    frame = example_site_inputs(**options)
    with atomic_file(path, newline="") as fh:
        frame.to_csv(fh, index=False, lineterminator="\n")
    return Path(path)


# ------------------------------------------------------------------------------------------------ report


def summarize_pools(records: list[dict], pool_names: list[str]) -> tuple[pd.DataFrame, dict[str, float]]:
    """Pools per month (t C/ha) and the headline metrics from FlintResult.to_records()."""
    if len(records) < 2:
        raise ReportError("a RothC summary needs the init row and at least one step")
    frame = pd.DataFrame(records)
    missing = [p for p in (*SOC_POOLS, "atmosphere", "plantCM") if p not in frame.columns]
    if missing:
        raise ReportError(f"RothC pools missing from the run: {', '.join(missing)}")
    table = pd.DataFrame({
        "step": frame["step"].astype(int),
        "date": frame["stepDate"].str.slice(0, 10),
        "dpm": frame["SoilDPM"], "rpm": frame["SoilRPM"], "bio": frame["SoilBioF"] + frame["SoilBioS"],
        "hum": frame["SoilHUM"], "iom": frame["SoilIOM"],
    })
    table["soc"] = frame[list(SOC_POOLS)].sum(axis=1)
    table["co2_c_cumulative"] = frame["atmosphere"] - frame["atmosphere"].iloc[0]
    table["plant_input_cumulative"] = -(frame["plantCM"] - frame["plantCM"].iloc[0])
    years = float(frame["stepLenInYears"].iloc[1:].sum())
    soc0, soc1 = float(table["soc"].iloc[0]), float(table["soc"].iloc[-1])
    balance = float(table["plant_input_cumulative"].iloc[-1] - table["co2_c_cumulative"].iloc[-1] - (soc1 - soc0))
    metrics = {
        "rothc_years": round(years, 6),
        "rothc_soc_start_tc_ha": soc0,
        "rothc_soc_end_tc_ha": soc1,
        "rothc_soc_change_tc_ha_per_yr": (soc1 - soc0) / years,
        "rothc_hum_end_tc_ha": float(table["hum"].iloc[-1]),
        "rothc_co2_c_released_tc_ha": float(table["co2_c_cumulative"].iloc[-1]),
        "rothc_plant_input_tc_ha": float(table["plant_input_cumulative"].iloc[-1]),
        "rothc_mass_balance_error_tc_ha": balance,
    }
    return table, metrics


def pools_figure(table: pd.DataFrame, title: str):
    """SOC pools over time (matplotlib Figure, no pyplot)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 4.8), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    dates = pd.to_datetime(table["date"])
    for col, label in (("dpm", "DPM"), ("rpm", "RPM"), ("bio", "BIO"), ("hum", "HUM"), ("iom", "IOM")):
        ax.plot(dates, table[col], label=label, linewidth=1.2)
    ax.plot(dates, table["soc"], label="SOC (total)", color="black", linewidth=2.0)
    ax.set_ylabel("t C / ha")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", ncol=6, fontsize=8)
    fig.tight_layout()
    return fig


def write_site_report(records: list[dict], pool_names: list[str], site_name: str, table_path: str | os.PathLike,
                      metrics_path: str | os.PathLike, chart_path: str | os.PathLike) -> dict[str, float]:
    table, metrics = summarize_pools(records, pool_names)
    with atomic_file(table_path, newline="") as fh:
        table.to_csv(fh, index=False, lineterminator="\n", float_format="%.10g")
    with atomic_file(metrics_path) as fh:
        json.dump(metrics, fh, indent=2)
        fh.write("\n")
    fig = pools_figure(table, f"RothC soil carbon - {site_name}")
    with atomic_file(chart_path, "wb") as fh:
        fig.savefig(fh, format="png", metadata={"Software": None})
    return metrics


def run_site(config_dir: str | os.PathLike, out_dir: str | os.PathLike):
    """Run the site's FLINT configuration (CONFIG_FILES in config_dir); write FLINT's files into out_dir."""
    from flintcloud.flint import run_config_files

    config_dir = Path(config_dir)
    result = run_config_files([config_dir / n for n in CONFIG_FILES])
    with atomic_dir(out_dir) as tmp:
        for name, text in result.files.items():
            (tmp / name).write_text(text, encoding="utf-8")
    return result


def read_run_records(out_dir: str | os.PathLike) -> tuple[list[dict], list[str]]:
    """The pools per step from the run's OutputerStream CSV (FLINT's own file)."""
    from flintcloud.flint.outputs import parse_stock_csv

    path = Path(out_dir) / STOCK_FILE
    if not path.is_file():
        raise ReportError(f"{str(path)!r} not found (run the simulate stage first)")
    names, records = parse_stock_csv(path.read_text(encoding="utf-8"), str(path))
    return records, names


