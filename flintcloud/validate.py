"""Validate a GCBM project before anything runs on it (the `validate` stage).

`validate_project(target, settings=None, *, params=None, root=None)` checks a
GCBM configuration folder (one holding gcbm_config.cfg) or a project folder
(layers/tiled + input_database, configured by `settings`) and returns a
`ValidationReport` listing *every* problem found in one pass, each naming the
file / layer / value at fault and what was expected, plus warnings:

- paths: the project, a layer or the db named by the config resolves outside
  the repository (through `..` or a symlink): refused, not read;
- params: end year before start year, unknown engine, unknown indicator;
- config: a configuration GCBM (and our reader) cannot use;
- layers: missing / invalid sidecar, no `attributes` on a classifier or
  disturbance layer, unreadable or truncated GeoTIFF, grid (size, transform)
  or CRS different from the first layer, pixel values missing from the
  sidecar;
- landscape: no pixel that GCBM would simulate; negative ages or ages above
  the growth curves' maximum; NaN temperatures;
- gcbm_input.db: missing, not SQLite, locked, lacking a table or column;
  classifier sets with no growth curve; disturbance type names not in
  disturbance_type; spatial unit not in the db;
- disturbance years outside the simulation window (a warning).

`write_report(report, path)` writes the JSON report atomically;
`report.raise_for_errors()` raises ValidationError with every problem.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sqlite3
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning, RasterioError

from flintcloud.atomic import atomic_file
from flintcloud.errors import ConfigError, DatabaseError, FlintcloudError, LayerError, ValidationError
from flintcloud.gcbm import config as gcbm_config
from flintcloud.gcbm.config_writer import (
    ConfigSettings,
    classify_layer,
    default_boundaries,
    default_db_path,
    default_layers_dir,
    explicit_roles,
    find_layer_files,
    layer_name,
    params_problems,
    read_study_area,
    settings_from_params_lenient,
)
from flintcloud.inputdb import reader as inputdb
from flintcloud.landscape.grid import Grid
from flintcloud.landscape.sidecar import LayerSidecar, read_sidecar

MAX_LISTED = 20  # values listed per problem before "... and N more"
SQLITE_TIMEOUT_S = 0.5  # a locked db is reported, not waited for
CATEGORICAL = ("classifier", "disturbance", "admin_boundary", "eco_boundary")


# --------------------------------------------------------------------------- report


@dataclass(frozen=True)
class Problem:
    """One finding: `check` is a short category, `message` the full sentence."""

    check: str
    message: str
    file: str | None = None
    layer: str | None = None
    value: Any = None
    expected: str | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["value"] = _jsonable(self.value)
        return {k: v for k, v in d.items() if v is not None}


@dataclass
class ValidationReport:
    target: str
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def error(self, check: str, message: str, **kw: Any) -> None:
        self.errors.append(Problem(check, message, **kw))

    def warn(self, check: str, message: str, **kw: Any) -> None:
        self.warnings.append(Problem(check, message, **kw))

    def to_dict(self) -> dict:
        return {
            "target": self.target,
            "valid": self.ok,
            "n_errors": len(self.errors),
            "n_warnings": len(self.warnings),
            "errors": [p.to_dict() for p in self.errors],
            "warnings": [p.to_dict() for p in self.warnings],
            "summary": _jsonable(self.summary),
        }

    def raise_for_errors(self) -> None:
        if self.errors:
            raise ValidationError([p.message for p in self.errors], source=self.target)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Path):
        return str(value)
    return value


def write_report(report: ValidationReport, path: str | os.PathLike) -> Path:
    """Write the report as JSON, atomically (a failed write leaves the old report)."""
    path = Path(path)
    with atomic_file(path) as fh:
        json.dump(report.to_dict(), fh, indent=2, ensure_ascii=False)
        fh.write("\n")
    return path


# --------------------------------------------------------------------------- params


def validate_params(params: Any) -> list[Problem]:
    """Problems in a parsed params.yaml (pure): years, engine, indicators, types, one per problem."""
    return [Problem("params", f"params.yaml: {m}") for m in params_problems(params)]


# --------------------------------------------------------------------------- paths


def find_repo_root(start: Path) -> Path | None:
    """The nearest ancestor of `start` holding .git or dvc.yaml (the repository), or None."""
    for cand in [start, *start.parents]:
        if (cand / ".git").exists() or (cand / "dvc.yaml").is_file():
            return cand
    return None


def path_escapes(path: Path, root: Path) -> bool:
    """True when `path` (after `..` and symlinks) is outside `root`."""
    try:
        Path(os.path.realpath(path)).relative_to(Path(os.path.realpath(root)))
        return False
    except ValueError:
        return True


def check_inside(path: Path, root: Path, what: str, report: ValidationReport, *, layer: str | None = None) -> bool:
    """Record an error and return False when `path` escapes `root` (via `..` or a symlink)."""
    if not path_escapes(path, root):
        return True
    real = os.path.realpath(path)
    if real != os.path.normpath(os.path.abspath(path)):
        how = " (through a symlink)"
    elif ".." in Path(path).parts:
        how = " (through '..')"
    else:
        how = ""
    report.error(
        "path",
        f"{what} {str(path)!r} resolves to {real!r}, outside the repository {str(root)!r}{how}; "
        "refusing it: keep project files and outputs inside the repository",
        file=str(path), layer=layer, value=real, expected=f"a path inside {root}",
    )
    return False


# --------------------------------------------------------------------------- target description


@dataclass
class _Layer:
    name: str
    path: Path
    role: str
    sidecar: LayerSidecar | None = None


@dataclass
class _Target:
    layers: list[_Layer]
    db_path: Path | None
    start_year: int | None
    end_year: int | None
    admin_boundary: str | None = None
    eco_boundary: str | None = None
    admin_is_layer: bool = False
    eco_is_layer: bool = False
    age_value: int | None = None
    classifier_values: dict[str, str] = field(default_factory=dict)  # classifiers given as scalars
    outputs: dict[str, Path] = field(default_factory=dict)  # what GCBM would write: description -> path
    broken: set[str] = field(default_factory=set)  # layers already reported as unusable


def _from_config(config_dir: Path, report: ValidationReport) -> _Target | None:
    try:
        cfg = gcbm_config.read_gcbm_config(config_dir)
    except FlintcloudError as err:
        report.error("config", str(err), file=str(config_dir))
        return _from_provider_only(config_dir, report)
    roles: dict[str, str] = {}
    for name in cfg.classifier_layers:
        roles[name] = "classifier"
    for name in cfg.disturbance_layers:
        roles[name] = "disturbance"
    if cfg.age_layer:
        roles[cfg.age_layer] = "age"
    if cfg.temperature_layer:
        roles[cfg.temperature_layer] = "temperature"
    if cfg.admin_boundary_layer and cfg.admin_boundary:
        roles[cfg.admin_boundary] = "admin_boundary"
    if cfg.eco_boundary_layer and cfg.eco_boundary:
        roles[cfg.eco_boundary] = "eco_boundary"
    layers = [_Layer(name, path, roles.get(name, "other")) for name, path in cfg.layers.items()]
    return _Target(
        layers=layers, db_path=cfg.db_path, start_year=cfg.start_year, end_year=cfg.end_year,
        admin_boundary=cfg.admin_boundary, eco_boundary=cfg.eco_boundary,
        admin_is_layer=cfg.admin_boundary_layer, eco_is_layer=cfg.eco_boundary_layer, age_value=cfg.age_value,
        classifier_values=dict(cfg.classifier_values),
        outputs={k: v for k, v in (("WriteVariableGeotiff output_path", cfg.output_path),
                                   ("CBMAggregatorSQLiteWriter databasename", cfg.output_db_path)) if v is not None},
    )


def _from_provider_only(config_dir: Path, report: ValidationReport) -> _Target | None:
    """When the config set cannot be read as a whole, still check the layers and db it lists."""
    path = config_dir / gcbm_config.PROVIDER_FILE
    try:
        with open(path, encoding="utf-8-sig") as fh:
            providers = json.load(fh)["Providers"]
        raster = next(p for p in providers.values() if isinstance(p, dict) and "layers" in p)
        layers = [
            _Layer(x["name"], gcbm_config.resolve_path(x["layer_path"], config_dir), "")
            for x in raster["layers"]
        ]
        db = providers.get("SQLite", {}).get("path")
        db_path = gcbm_config.resolve_path(db, config_dir) if db else None
    except (OSError, ValueError, KeyError, TypeError, StopIteration, FlintcloudError):
        return None  # the config error above already says why
    return _Target(layers=layers, db_path=db_path, start_year=None, end_year=None)


def _from_project(project_dir: Path, settings: ConfigSettings | None, report: ValidationReport) -> _Target | None:
    layers_dir = Path(settings.layers_dir) if settings and settings.layers_dir else default_layers_dir(project_dir)
    if not layers_dir.is_dir():
        report.error("project", f"project {str(project_dir)!r} has no layers folder {str(layers_dir)!r}",
                     file=str(layers_dir), expected="layers/tiled/*.tif[f] with .json sidecars")
        layers: list[_Layer] = []
    else:
        layers = [_Layer(layer_name(p), p, "") for p in find_layer_files(layers_dir)]
        if not layers:
            report.error("project", f"no GeoTIFF layers in {str(layers_dir)!r}", file=str(layers_dir),
                         expected="layers/tiled/*.tif[f] with .json sidecars")
    db_path = Path(settings.db_path) if settings and settings.db_path else default_db_path(project_dir)
    window = settings is not None and 0 < settings.start_year <= settings.end_year
    return _Target(
        layers=layers, db_path=db_path,
        start_year=settings.start_year if window else None,
        end_year=settings.end_year if window else None,
        admin_boundary=settings.admin_boundary if settings else None,
        eco_boundary=settings.eco_boundary if settings else None,
        age_value=settings.initial_age if settings else None,
    )


# --------------------------------------------------------------------------- entry point


def is_config_dir(path: Path) -> bool:
    return (path / gcbm_config.CONFIG_FILE).is_file() or (path.is_file() and path.suffix == ".cfg")


def validate_project(
    target: str | os.PathLike,
    settings: ConfigSettings | None = None,
    *,
    params: Mapping[str, Any] | None = None,
    root: str | os.PathLike | None = None,
) -> ValidationReport:
    """Check a GCBM config folder or project folder; every problem at once.

    `settings` (or `params`, a parsed params.yaml) describe a project folder
    (years, layer roles, db); a config folder describes itself. `root` is the
    repository the inputs must stay inside; by default the nearest ancestor
    with .git or dvc.yaml, else the project folder.
    """
    target = Path(target)
    report = ValidationReport(target=str(target))
    if params is not None:
        report.errors.extend(validate_params(params))
        if settings is None:
            # Whatever params can tell even when some values are invalid (those are reported above).
            settings = settings_from_params_lenient(params)
    if not target.exists():
        report.error("project", f"project path {str(target)!r} does not exist", file=str(target),
                     expected="a GCBM config folder (gcbm_config.cfg) or project folder")
        return report
    config_mode = is_config_dir(target)
    project_home = target.parent if config_mode else target
    if root is None:
        found = find_repo_root(Path(os.path.abspath(target)))
        root_path = found if found is not None else Path(os.path.abspath(project_home))
    else:
        root_path = Path(root)
    report.summary["root"] = str(root_path)
    if not check_inside(target, root_path, "project path", report):
        return report

    t = _from_config(target, report) if config_mode else _from_project(target, settings, report)
    if t is None:
        return report
    report.summary["mode"] = "config" if config_mode else "project"
    if t.start_year is not None:
        report.summary["years"] = [t.start_year, t.end_year]

    # Refuse files outside the repository before reading any of them.
    inside = [x for x in t.layers if check_inside(x.path, root_path, f"layer {x.name!r}", report, layer=x.name)]
    t.broken.update(x.name for x in t.layers if x not in inside)
    t.layers = inside
    if t.db_path is not None and not check_inside(t.db_path, root_path, "input database", report):
        t.db_path = None
    for what, path in t.outputs.items():
        check_inside(path, root_path, f"output path ({what})", report)

    db = _check_db(t.db_path, report) if t.db_path is not None else None
    _read_sidecars(t, settings, config_mode, report)
    _check_layers(t, db, report)
    if db is not None:
        _check_spatial_unit(t, db, report, config_mode)
    return report


# --------------------------------------------------------------------------- database


def _check_db(path: Path, report: ValidationReport):
    """Open gcbm_input.db read-only; record every problem; return an InputDb or None."""
    try:
        inputdb.check_sqlite_file(path)
    except DatabaseError as err:
        report.error("database", str(err), file=str(path), expected="gcbm_input.db, a SQLite file")
        return None
    try:
        with contextlib.closing(
            sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=SQLITE_TIMEOUT_S)
        ) as conn:
            try:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except sqlite3.OperationalError as err:
                if "locked" in str(err):
                    report.error("database", f"input database {str(path)!r} is locked by another process ({err}); "
                                 "close the program holding it (or wait for the writer) and retry",
                                 file=str(path), expected="an unlocked SQLite file")
                    return None
                raise
            schema_ok = True
            for table, columns in inputdb.REQUIRED_COLUMNS.items():
                try:
                    inputdb.check_schema(conn, path, {table: columns})
                except DatabaseError as err:
                    schema_ok = False
                    report.error("database", str(err), file=str(path), value=table,
                                 expected=f"table {table!r} with columns {', '.join(columns)}")
            if not schema_ok:
                return None
            return inputdb.parse_input_db(conn, path)
    except (sqlite3.DatabaseError, DatabaseError, ValueError) as err:
        report.error("database", f"input database {str(path)!r} cannot be read: {err}", file=str(path),
                     expected="a readable gcbm_input.db")
        return None


def _check_spatial_unit(t: _Target, db, report: ValidationReport, config_mode: bool) -> None:
    su = db.spatial_units
    if not config_mode:  # params may leave them null: the project's layer, else the db's only choice
        pairs = list(zip(su["admin_boundary"].astype(str), su["eco_boundary"].astype(str)))
        shim = ConfigSettings(start_year=0, end_year=0, admin_boundary=t.admin_boundary, eco_boundary=t.eco_boundary)
        t.admin_boundary, t.eco_boundary = default_boundaries(shim, [x.name for x in t.layers], pairs)
    for i, key in enumerate(("admin_boundary", "eco_boundary")):
        if getattr(t, key) is None:
            choices = sorted(set(map(str, su[key])))
            where = "variables.json" if config_mode else "params.yaml simulation"
            report.error("database", f"{where}: {key} is not set and {str(db.path)!r} has {len(choices)} {key} "
                         f"names with a spatial unit; name one, e.g. {_values_list(choices, 8)}",
                         file=str(db.path), value=None, expected=f"a {key}.name of the db or a layer")
    for layer in t.layers:
        if layer.role in ("admin_boundary", "eco_boundary") and layer.sidecar is not None and layer.sidecar.attributes:
            known = set(map(str, su[layer.role]))
            unknown = sorted({str(v) for v in layer.sidecar.attributes.values() if str(v) not in known})
            if unknown:
                report.error("database", f"{layer.role} layer {layer.name!r}: value(s) {_values_list(unknown)} in "
                             f"{layer.sidecar.source!r} are not in table {layer.role} of {str(db.path)!r} (with a "
                             f"spatial unit); known: {_values_list(sorted(known), 8)}", file=layer.sidecar.source,
                             layer=layer.name, value=unknown, expected=f"{layer.role}.name values of the db")
    admin = None if t.admin_is_layer else t.admin_boundary
    eco = None if t.eco_is_layer else t.eco_boundary
    if admin is not None and admin not in set(su["admin_boundary"]):
        report.error("database", f"admin boundary {admin!r} is not in table admin_boundary of {str(db.path)!r}; "
                     f"known: {', '.join(sorted(set(map(str, su['admin_boundary'])))[:MAX_LISTED])}",
                     file=str(db.path), value=admin, expected="an admin_boundary.name with a spatial unit")
    if eco is not None and eco not in set(su["eco_boundary"]):
        report.error("database", f"eco boundary {eco!r} is not in table eco_boundary of {str(db.path)!r}; "
                     f"known: {', '.join(sorted(set(map(str, su['eco_boundary'])))[:MAX_LISTED])}",
                     file=str(db.path), value=eco, expected="an eco_boundary.name with a spatial unit")


# --------------------------------------------------------------------------- layers


def _read_sidecars(t: _Target, settings: ConfigSettings | None, config_mode: bool, report: ValidationReport) -> None:
    roles = explicit_roles(settings) if settings and not config_mode else {}
    tags: dict[str, tuple[str, ...]] = {}
    if not config_mode and t.layers:
        try:
            study = read_study_area(t.layers[0].path.parent)
        except ConfigError as err:
            report.error("project", str(err), file=str(t.layers[0].path.parent / "study_area.json"))
            study = {}
        for entry in study.get("layers", []) or []:
            if isinstance(entry, Mapping) and isinstance(entry.get("name"), str) and isinstance(entry.get("tags"), list):
                tags[entry["name"]] = tuple(map(str, entry["tags"]))
    for layer in t.layers:
        try:
            layer.sidecar = read_sidecar(layer.path)
        except LayerError as err:
            report.error("sidecar", str(err), file=str(layer.path), layer=layer.name,
                         expected="a JSON sidecar <layer>.json with nodata and attributes")
            layer.sidecar = None
            t.broken.add(layer.name)
        if not layer.role:
            layer.role = classify_layer(layer.name, layer.sidecar, tags.get(layer.name, ()), roles.get(layer.name))
            if settings and layer.name == settings.admin_boundary:
                layer.role = "admin_boundary"
            if settings and layer.name == settings.eco_boundary:
                layer.role = "eco_boundary"
        if layer.sidecar is not None and layer.role in CATEGORICAL and not layer.sidecar.attributes:
            t.broken.add(layer.name)
            report.error("sidecar", f"sidecar {layer.sidecar.source!r} of {layer.role} layer {layer.name!r} has no "
                         "'attributes'; expected a map of pixel values to "
                         + ("disturbance events {year, disturbance_type, transition}" if layer.role == "disturbance"
                            else "classifier values"),
                         file=layer.sidecar.source, layer=layer.name, expected="attributes")
    if not config_mode and t.layers and not any(x.role == "classifier" for x in t.layers):
        report.error("project", "no classifier layer found (a layer whose sidecar maps pixel values to classifier "
                     "values); name them in params project.layers.classifiers",
                     expected="at least one classifier layer")
    for key, role in (("admin_boundary", "admin_boundary"), ("eco_boundary", "eco_boundary")):
        if any(x.role == role for x in t.layers):
            setattr(t, f"{key.split('_')[0]}_is_layer", True)


@dataclass
class _Raster:
    data: np.ndarray
    nodata: float | None
    grid: Grid


def _read_raster(layer: _Layer, report: ValidationReport) -> _Raster | None:
    if not layer.path.is_file():
        report.error("raster", f"layer {layer.name!r}: file {str(layer.path)!r} does not exist",
                     file=str(layer.path), layer=layer.name, expected="a GeoTIFF")
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)  # a truncated file loses its transform
            ds = rasterio.open(layer.path)
        with ds:
            grid = Grid(transform=ds.transform, crs=ds.crs, width=ds.width, height=ds.height)
            data = ds.read(1)
            nodata = ds.nodata
    except (RasterioError, OSError, ValueError) as err:
        report.error("raster", f"layer {layer.name!r}: {str(layer.path)!r} is not a readable GeoTIFF "
                     f"(truncated or corrupt?): {err}", file=str(layer.path), layer=layer.name,
                     expected="a complete GeoTIFF")
        return None
    if nodata is None and layer.sidecar is not None:
        nodata = layer.sidecar.nodata
    return _Raster(data=data, nodata=nodata, grid=grid)


def _has_data(r: _Raster) -> np.ndarray:
    data = r.data
    if r.nodata is None:
        valid = np.ones(data.shape, dtype=bool)
    elif isinstance(r.nodata, float) and math.isnan(r.nodata):
        valid = ~np.isnan(data) if data.dtype.kind == "f" else np.ones(data.shape, dtype=bool)
    else:
        valid = data != np.asarray(r.nodata).astype(data.dtype) if data.dtype.kind != "f" else ~np.isclose(
            data, r.nodata, rtol=1e-6, atol=0) & ~np.isnan(data)
    return valid


def _values_list(values: Sequence, limit: int = MAX_LISTED) -> str:
    shown = ", ".join(repr(v) for v in list(values)[:limit])
    return shown + (f" ... and {len(values) - limit} more" if len(values) > limit else "")


def _pixel_values(r: _Raster, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique pixel values with data and their counts."""
    values = r.data[valid]
    if values.dtype.kind == "f":
        finite = values[np.isfinite(values)]
        if finite.size and np.all(finite == np.round(finite)):
            values = finite.astype(np.int64)
    return np.unique(values, return_counts=True)


def _check_layers(t: _Target, db, report: ValidationReport) -> None:
    reference: tuple[str, Grid] | None = None
    n_checked = 0
    classifier_codes: dict[str, np.ndarray] = {}
    classifier_cats: dict[str, list] = {}
    landscape = None  # bool mask of simulated pixels
    age_raster: tuple[_Layer, _Raster] | None = None
    temperature: tuple[_Layer, _Raster] | None = None
    grid_ok = True

    # Classifier layers first: they define the simulated landscape.
    order = {"classifier": 0, "age": 1}
    for layer in sorted(t.layers, key=lambda x: order.get(x.role, 2)):
        if layer.role == "disturbance":
            _check_disturbance_sidecar(layer, t, db, report)
        r = _read_raster(layer, report)
        if r is None:
            t.broken.add(layer.name)
            continue
        n_checked += 1
        if reference is None:
            reference = (layer.name, r.grid)
        else:
            diff = reference[1].mismatch(r.grid)
            if diff:
                grid_ok = False
                t.broken.add(layer.name)
                report.error("grid", f"layer {layer.name!r} ({str(layer.path)!r}) does not share the grid of layer "
                             f"{reference[0]!r}: {diff}", file=str(layer.path), layer=layer.name,
                             value=r.grid.describe(), expected=reference[1].describe())
                continue  # its pixels cannot be compared with the others'
        valid = _has_data(r)
        if layer.role in CATEGORICAL and layer.sidecar is not None and layer.sidecar.attributes:
            values, counts = _pixel_values(r, valid)
            known = set(layer.sidecar.attributes)
            missing = [(v, c) for v, c in zip(values.tolist(), counts.tolist()) if v not in known]
            if missing:
                report.error(
                    "pixel_value",
                    f"layer {layer.name!r}: pixel value(s) {_values_list([v for v, _ in missing])} occur in "
                    f"{str(layer.path)!r} ({sum(c for _, c in missing)} pixels) but are not keys of the sidecar's "
                    f"attributes {str(layer.sidecar.source)!r} (known: {_values_list(sorted(known))}); "
                    "add them to the sidecar or set those pixels to nodata",
                    file=str(layer.path), layer=layer.name, value=[v for v, _ in missing],
                    expected=f"one of {sorted(known)[:MAX_LISTED]} or nodata {r.nodata!r}",
                )
        if layer.role == "classifier":
            if layer.sidecar is None or not layer.sidecar.attributes:
                continue  # already reported; its pixels cannot be decoded, so it does not shape the landscape
            cats = sorted(layer.sidecar.attributes)
            lookup = {v: i for i, v in enumerate(cats)}
            codes = np.full(r.data.shape, -1, dtype=np.int32)
            codes[valid] = _vector_codes(r.data[valid], lookup)
            classifier_codes[layer.name] = codes
            classifier_cats[layer.name] = [layer.sidecar.attributes[k] for k in cats]
            landscape = (codes >= 0) if landscape is None else landscape & (codes >= 0)
        elif layer.role == "age":
            age_raster = (layer, r)
            landscape = valid if landscape is None else landscape & valid
        elif layer.role == "temperature":
            temperature = (layer, r)
    report.summary["layers_checked"] = n_checked
    report.summary["layers"] = {x.name: x.role for x in t.layers}

    if landscape is None or not grid_ok:
        return
    n_valid = int(landscape.sum())
    report.summary["simulated_pixels"] = n_valid
    if n_valid == 0:
        report.error("landscape", "empty landscape: no pixel has a value in every classifier layer"
                     + (" and the age layer" if age_raster else "")
                     + f" ({', '.join(classifier_codes) or 'no classifier layers'}); GCBM would simulate nothing",
                     value=0, expected="at least one pixel with data in all classifier and age layers")
        return
    max_curve_age = _max_curve_age(db)
    if age_raster is not None:
        _check_ages(*age_raster, landscape, max_curve_age, report)
    elif t.age_value is not None and max_curve_age is not None and t.age_value > max_curve_age:
        report.error("age", f"initial_age {t.age_value} is above the growth curves' maximum age {max_curve_age}",
                     value=t.age_value, expected=f"0..{max_curve_age}")
    if temperature is not None:
        _check_temperature(*temperature, landscape, report)
    # A classifier whose layer is already reported unusable would only add follow-on "no curve" noise.
    classifier_broken = t.broken & (set(db.classifier_names) | set(classifier_codes) if db is not None else set())
    if db is not None and classifier_codes and not classifier_broken:
        _check_growth_curves(classifier_codes, classifier_cats, landscape, db, report, t.classifier_values)


def _vector_codes(flat: np.ndarray, lookup: dict[int, int]) -> np.ndarray:
    keys = np.array(sorted(lookup), dtype=np.float64)
    vals = np.array([lookup[int(k)] for k in keys], dtype=np.int32)
    f = flat.astype(np.float64)
    pos = np.clip(np.searchsorted(keys, f), 0, len(keys) - 1)
    return np.where(keys[pos] == f, vals[pos], -1).astype(np.int32)


def _max_curve_age(db) -> int | None:
    if db is None or db.growth_curve_components.empty:
        return None
    return int(db.growth_curve_components["age"].max())


def _check_ages(layer: _Layer, r: _Raster, landscape: np.ndarray, max_age: int | None, report: ValidationReport) -> None:
    ages = r.data[landscape]
    if ages.dtype.kind == "f":
        bad = ~np.isfinite(ages)
        if bad.any():
            report.error("age", f"age layer {layer.name!r}: {int(bad.sum())} simulated pixel(s) are NaN or infinite "
                         f"in {str(layer.path)!r}", file=str(layer.path), layer=layer.name, value="NaN",
                         expected="ages in years (>= 0)")
            ages = ages[~bad]
    negative = ages < 0
    if negative.any():
        report.error("age", f"age layer {layer.name!r}: {int(negative.sum())} pixel(s) have negative ages "
                     f"(minimum {ages.min().item()!r}) in {str(layer.path)!r}", file=str(layer.path), layer=layer.name,
                     value=ages.min().item(), expected="ages >= 0")
    if max_age is not None and ages.size:
        above = ages > max_age
        if above.any():
            report.error("age", f"age layer {layer.name!r}: {int(above.sum())} pixel(s) are older than the growth "
                         f"curves' maximum age {max_age} (oldest {ages.max().item()!r}) in {str(layer.path)!r}",
                         file=str(layer.path), layer=layer.name, value=ages.max().item(),
                         expected=f"ages 0..{max_age} (the growth curves' age range)")


def _check_temperature(layer: _Layer, r: _Raster, landscape: np.ndarray, report: ValidationReport) -> None:
    values = r.data[landscape]
    if values.dtype.kind != "f":
        return
    nan = np.isnan(values)
    if nan.all():
        report.error("temperature", f"temperature layer {layer.name!r}: every simulated pixel is NaN in "
                     f"{str(layer.path)!r}", file=str(layer.path), layer=layer.name, value="NaN",
                     expected="mean annual temperature in deg C")
    elif nan.any():
        report.error("temperature", f"temperature layer {layer.name!r}: {int(nan.sum())} of {values.size} simulated "
                     f"pixel(s) are NaN in {str(layer.path)!r}", file=str(layer.path), layer=layer.name, value="NaN",
                     expected="mean annual temperature in deg C")
    r_valid = _has_data(r)[landscape] | nan
    if (~r_valid).any():
        report.error("temperature", f"temperature layer {layer.name!r}: {int((~r_valid).sum())} simulated pixel(s) "
                     f"have no temperature (nodata) in {str(layer.path)!r}", file=str(layer.path), layer=layer.name,
                     value=r.nodata, expected="a temperature on every simulated pixel")


def curve_matches(stand: Mapping[str, str], curve: Mapping[str, str]) -> bool:
    """GCBM's growth-curve match: every classifier value of the curve is '?' or the stand's value. Pure."""
    return all(value == "?" or stand.get(name) == value for name, value in curve.items())


def _check_growth_curves(codes: dict[str, np.ndarray], cats: dict[str, list], landscape: np.ndarray, db,
                         report: ValidationReport, scalars: Mapping[str, str]) -> None:
    names = list(codes)
    missing_in_db = [n for n in names if n not in db.classifier_names]
    for n in missing_in_db:
        report.error("growth_curve", f"classifier layer {n!r} has no classifier of that name in table classifier "
                     f"of {str(db.path)!r} (classifiers: {', '.join(db.classifier_names)})", layer=n,
                     file=str(db.path), value=n, expected=f"one of {db.classifier_names}")
    stack = np.stack([codes[n][landscape] for n in names], axis=1)
    combos, counts = np.unique(stack, axis=0, return_counts=True)
    curves: dict[int, dict[str, str]] = {}
    for row in db.growth_curve_classifiers.itertuples(index=False):
        curves.setdefault(int(row.growth_curve_id), {})[str(row.classifier_name)] = str(row.classifier_value)
    with_volume = set(db.growth_curve_components["growth_curve_id"].astype(int)) if not db.growth_curve_components.empty else set()
    uncovered = []
    for combo, count in zip(combos.tolist(), counts.tolist()):
        stand = {**scalars, **{n: str(cats[n][c]) for n, c in zip(names, combo)}}
        match = any(
            curve_matches(stand, cv) and (not with_volume or cid in with_volume) for cid, cv in curves.items()
        )
        if not match:
            uncovered.append((stand, count))
    unset = [c for c in db.classifier_names if c not in names and c not in scalars]
    hint = (f"; the db's classifier(s) {', '.join(map(repr, unset))} have no layer, so only '?' matches them"
            if unset else "")
    for stand, count in uncovered[:MAX_LISTED]:
        label = ", ".join(f"{k}={v!r}" for k, v in stand.items())
        report.error("growth_curve", f"classifier set ({label}) on {count} pixel(s) has no growth curve in "
                     f"{str(db.path)!r}{hint}", file=str(db.path), value=stand,
                     expected="a growth curve whose classifier values match (or '?')")
    if len(uncovered) > MAX_LISTED:
        report.error("growth_curve", f"... and {len(uncovered) - MAX_LISTED} more classifier sets with no growth curve "
                     f"in {str(db.path)!r}", file=str(db.path))
    report.summary["classifier_sets"] = len(combos)


def _check_disturbance_sidecar(layer: _Layer, t: _Target, db, report: ValidationReport) -> None:
    if layer.sidecar is None or not layer.sidecar.attributes:
        return
    known = set(db.disturbance_types["name"].astype(str)) if db is not None else None
    known_ids = set(db.disturbance_types["id"].astype(int)) if db is not None else None
    for pixel, events in layer.sidecar.attributes.items():
        if not isinstance(events, tuple):
            continue
        for ev in events:
            if known is not None and ev.disturbance_type is not None and ev.disturbance_type not in known:
                report.error("disturbance_type", f"disturbance layer {layer.name!r}, pixel value {pixel}: disturbance "
                             f"type {ev.disturbance_type!r} is not in table disturbance_type of {str(db.path)!r}",
                             file=layer.sidecar.source, layer=layer.name, value=ev.disturbance_type,
                             expected="a disturbance_type.name")
            if known_ids is not None and ev.disturbance_type is None and ev.disturbance_type_id not in known_ids:
                report.error("disturbance_type", f"disturbance layer {layer.name!r}, pixel value {pixel}: disturbance "
                             f"type id {ev.disturbance_type_id!r} is not in table disturbance_type of {str(db.path)!r}",
                             file=layer.sidecar.source, layer=layer.name, value=ev.disturbance_type_id,
                             expected="a disturbance_type.id")
            if t.start_year is not None and t.end_year is not None and not (t.start_year <= ev.year <= t.end_year):
                report.warn("disturbance_year", f"disturbance layer {layer.name!r}, pixel value {pixel}: year "
                            f"{ev.year} is outside the simulation window {t.start_year}-{t.end_year}; "
                            "the event will never happen", file=layer.sidecar.source, layer=layer.name,
                            value=ev.year, expected=f"{t.start_year}..{t.end_year}")
