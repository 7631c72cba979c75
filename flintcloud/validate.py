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
  the growth curves' maximum (a layer's or a scalar initial_age); NaN
  temperatures, and temperatures (a layer's or a scalar one) outside
  params.yaml's simulation.temperature_range;
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
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import rasterio
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.windows import Window

from flintcloud.atomic import atomic_file
from flintcloud.errors import FlintcloudError, LayerError, OutputError, ValidationError
from flintcloud.outpaths import shell_unsafe_characters
from flintcloud.gcbm import config as gcbm_config
from flintcloud.gcbm.config_writer import ConfigSettings, params_problems, settings_from_params_lenient
from flintcloud.gcbm.project import (
    classify_layer,
    default_boundaries,
    default_db_path,
    default_layers_dir,
    discover_layers,
)
from flintcloud.gcbm.sidecar import (
    LayerSidecar,
    existing_sidecar,
    layer_data_mismatch,
    read_sidecar,
    resolve_event_type,
    sidecar_problems,
)
from flintcloud.inputdb import reader as inputdb
from flintcloud.landscape.checks import (
    TEMPERATURE_RANGE_KEY,
    age_messages,
    scalar_age_messages,
    scalar_temperature_messages,
    temperature_bounds,
    temperature_range_message,
)
from flintcloud.landscape.grid import Grid
from flintcloud.landscape.raster import Landscape, LandscapeRoles, layer_info, not_geotiff_message
from flintcloud.params import param_value, params_key_problems

MAX_LISTED = 20  # values listed per problem before "... and N more"
SQLITE_TIMEOUT_S = 0.5  # a locked db is reported, not waited for
WINDOW_PIXELS = 1 << 20  # pixels per window of the raster pass: memory stays bounded on any landscape
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
    try:
        with atomic_file(path) as fh:
            json.dump(report.to_dict(), fh, indent=2, ensure_ascii=False)
            fh.write("\n")
    except OSError as err:
        raise OutputError(f"cannot write the validation report {str(path)!r}: {err}") from err
    return path


# --------------------------------------------------------------------------- params


def validate_params(params: Any) -> list[Problem]:
    """Problems in a parsed params.yaml (pure): unknown/misspelt keys, kinds, years, engine, indicators."""
    # value problems come from params_problems (configure's own checks), unknown keys from the registry
    unknown = [Problem("params", m) for m in params_key_problems(params, kinds=False)]
    return unknown + [Problem("params", f"params.yaml: {m}") for m in params_problems(params)]


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
    """A layer being checked: from gcbm.project.discover_layers (project mode) or the config's
    layers (config mode, sidecar read later); mutable because validate fills it in as it goes."""

    name: str
    path: Path
    role: str
    sidecar: LayerSidecar | None = None
    discovered: bool = False  # project mode: sidecar and role come from gcbm.project.discover_layers


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
    temperature_value: float | None = None  # scalar mean_annual_temperature (no temperature layer)
    temperature_range: tuple[float, float] = field(default_factory=temperature_bounds)  # plausible, deg C
    classifier_values: dict[str, str] = field(default_factory=dict)  # classifiers given as scalars
    roles: LandscapeRoles | None = None  # config mode: the config's; else from the layers' roles
    outputs: dict[str, Path] = field(default_factory=dict)  # what GCBM would write: description -> path
    broken: set[str] = field(default_factory=set)  # layers already reported as unusable


def _from_config(config_dir: Path, report: ValidationReport) -> _Target | None:
    try:
        cfg = gcbm_config.read_gcbm_config(config_dir)
    except FlintcloudError as err:
        report.error("config", str(err), file=str(config_dir))
        return _from_provider_only(config_dir, report)
    roles = cfg.layer_roles()  # the same role map the landscape reader uses
    layers = [_Layer(name, path, roles.get(name, "other")) for name, path in cfg.layers.items()]
    return _Target(
        layers=layers, db_path=cfg.db_path, start_year=cfg.start_year, end_year=cfg.end_year,
        admin_boundary=cfg.admin_boundary, eco_boundary=cfg.eco_boundary,
        admin_is_layer=cfg.admin_boundary_layer, eco_is_layer=cfg.eco_boundary_layer, age_value=cfg.age_value,
        temperature_value=cfg.temperature_value,
        classifier_values=dict(cfg.classifier_values), roles=LandscapeRoles.of_config(cfg),
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


def _from_project(project_dir: Path, settings: ConfigSettings | None, report: ValidationReport,
                  root: Path) -> _Target | None:
    """The project's layers as configure discovers them (gcbm.project.discover_layers), problems reported."""
    layers_dir = Path(settings.layers_dir) if settings and settings.layers_dir else default_layers_dir(project_dir)
    broken: set[str] = set()
    if not layers_dir.is_dir():
        report.error("project", f"project {str(project_dir)!r} has no layers folder {str(layers_dir)!r}",
                     file=str(layers_dir), expected="layers/tiled/*.tif[f] with .json sidecars")
        layers: list[_Layer] = []
    else:
        # Files resolving outside the repository are refused before anything of theirs is read.
        found = discover_layers(layers_dir, settings, accept=lambda tiff: check_inside(
            tiff, root, f"layer {tiff.stem!r}", report, layer=tiff.stem))
        for p in found.problems:
            report.error(p.check, p.message, file=p.file, layer=p.layer, expected=p.expected)
            if p.check == "sidecar" and p.layer:
                broken.add(p.layer)
        layers = [_Layer(x.name, x.path, x.role, x.sidecar, discovered=True) for x in found.layers]
        if not layers:
            report.error("project", f"no GeoTIFF layers in {str(layers_dir)!r}", file=str(layers_dir),
                         expected="layers/tiled/*.tif[f] with .json sidecars")
    db_path = Path(settings.db_path) if settings and settings.db_path else default_db_path(project_dir)
    window = settings is not None and 0 < settings.start_year <= settings.end_year
    return _Target(
        layers=layers, db_path=db_path, broken=broken,
        start_year=settings.start_year if window else None,
        end_year=settings.end_year if window else None,
        admin_boundary=settings.admin_boundary if settings else None,
        eco_boundary=settings.eco_boundary if settings else None,
        age_value=settings.initial_age if settings else None,
        temperature_value=settings.mean_annual_temperature if settings else None,
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
    scenarios: bool = False,
) -> ValidationReport:
    """Check a GCBM config folder or project folder; every problem at once.

    `settings` (or `params`, a parsed params.yaml) describe a project folder
    (years, layer roles, db); a config folder describes itself. `root` is the
    repository the inputs must stay inside; by default the nearest ancestor
    with .git or dvc.yaml, else the project folder. `scenarios=True` (the
    validate stage) also checks params' `scenarios:` section against this
    project, as the scenario_inputs stage will (check "scenarios").
    """
    report = _validate_target(Path(target), settings, params, root)
    if scenarios and params is not None:
        _check_scenarios(report, params, Path(target))
    return report


def _check_scenarios(report: ValidationReport, params: Mapping[str, Any], target: Path) -> None:
    """params' scenarios section (flintcloud.scenarios) against the project: each problem names the
    scenario and the key. A project whose paths were refused is not read (only the section is checked)."""
    from flintcloud.scenarios.build import scenario_problems

    refused = any(p.check == "path" for p in report.errors) or is_config_dir(target)
    root = Path(report.summary.get("root", "."))
    for message in scenario_problems(params, None if refused else target, root):
        report.error("scenarios", message)


def _validate_target(target: Path, settings: ConfigSettings | None, params: Mapping[str, Any] | None,
                     root: str | os.PathLike | None) -> ValidationReport:
    report = ValidationReport(target=str(target))
    # issue 19 item 6: dvc.yaml no longer puts project.dir into `sh -c` (the stages read params:project.dir,
    # stages/common.path_arg); such a path is refused anyway, as defence in depth.
    if unsafe := shell_unsafe_characters(target):
        report.error("path", f"project path {str(target)!r} contains shell metacharacter(s) {unsafe}; rename the "
                     "folder (letters, digits, spaces and - _ . # / are fine)", file=str(target),
                     expected="a path without shell metacharacters")
        return report
    temperature_range = temperature_bounds()
    if params is not None:
        report.errors.extend(validate_params(params))
        value, problem = param_value(params, TEMPERATURE_RANGE_KEY)
        if problem:
            report.error("params", problem, value=value, expected="[low, high] deg C")
        temperature_range = temperature_bounds(value)
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

    t = _from_config(target, report) if config_mode else _from_project(target, settings, report, root_path)
    if t is None:
        return report
    t.temperature_range = temperature_range
    report.summary["mode"] = "config" if config_mode else "project"
    if t.start_year is not None:
        report.summary["years"] = [t.start_year, t.end_year]

    # Refuse files outside the repository before reading any of them.
    inside = [x for x in t.layers if check_inside(x.path, root_path, f"layer {x.name!r}", report, layer=x.name)]
    inside = [x for x in inside if (side := existing_sidecar(x.path)) is None  # a sidecar symlinked outside, too
              or check_inside(side, root_path, f"sidecar of layer {x.name!r}", report, layer=x.name)]
    t.broken.update(x.name for x in t.layers if x not in inside)
    t.layers = inside
    if t.db_path is not None and not check_inside(t.db_path, root_path, "input database", report):
        t.db_path = None
    for what, path in t.outputs.items():
        check_inside(path, root_path, f"output path ({what})", report)

    db = _check_db(t.db_path, report) if t.db_path is not None else None
    if db is not None:
        for message in inputdb.growth_curve_problems(db):  # the run refuses the same (run.preflight)
            report.error("growth_curve", message, file=str(db.path), expected="finite merchantable volumes "
                         f"0..{inputdb.MAX_PLAUSIBLE_VOLUME:g} m3/ha")
    _read_sidecars(t, config_mode, report)
    _check_layers(t, db, report)
    _check_scalars(t, db, report)
    if db is not None:
        _check_spatial_unit(t, db, report, config_mode)
    if report.ok and db is not None:
        _preview_run(target, config_mode, settings, report, t.temperature_range)
    return report


def _preview_run(target: Path, config_mode: bool, settings: ConfigSettings | None, report: ValidationReport,
                 temperature_range: tuple[float, float]) -> None:
    """Read the project exactly as `flintcloud run` will (run.prepare_run: landscape, stands, preflight) once
    every check above passed: whatever the run would refuse is an error here too, and events the run would
    skip (a disturbance type without a matrix in a spatial unit) are warnings naming type, unit and pixel-years."""
    from flintcloud.gcbm.config_writer import configured
    from flintcloud.landscape.checks import unmatched_disturbances, unmatched_message
    from flintcloud.run import prepare_run

    if not config_mode and (settings is None or not 0 < settings.start_year <= settings.end_year):
        return  # a project folder without years: nothing to configure, nothing the run could read
    try:
        config = gcbm_config.read_gcbm_config(target) if config_mode else configured(target, settings)
        prepared = prepare_run(config, temperature_range=temperature_range)
    except FlintcloudError as err:
        report.error("run", f"flintcloud run would refuse this project: {err}", file=str(target))
        return
    db_path = str(prepared.inputs.path)
    for item in unmatched_disturbances(prepared.stands, prepared.inputs.disturbance_matrix_associations):
        report.warn("disturbance_matrix", unmatched_message(item, db_path), file=db_path,
                    value=item, expected="a disturbance_matrix_association row for the type in that spatial unit")


# --------------------------------------------------------------------------- database


def _check_db(path: Path, report: ValidationReport):
    """Read gcbm_input.db as the run does (inputdb.reader, the one module that opens it); record every
    problem; return an InputDb or None."""
    db, problems = inputdb.inspect_input_db(path, timeout=SQLITE_TIMEOUT_S)
    for p in problems:
        if p.kind == "schema":
            report.error("database", p.message, file=str(path), value=p.table,
                         expected=f"table {p.table!r} with columns {', '.join(inputdb.REQUIRED_COLUMNS[p.table])}")
        else:
            report.error("database", p.message, file=str(path), expected=_DB_EXPECTED[p.kind])
    return db


_DB_EXPECTED = {"file": "gcbm_input.db, a SQLite file", "locked": "an unlocked SQLite file",
                "read": "a readable gcbm_input.db"}


def _check_spatial_unit(t: _Target, db, report: ValidationReport, config_mode: bool) -> None:
    su = db.spatial_units
    if not config_mode:  # params may leave them null: the project's layer, else the db's only choice
        pairs = list(zip(su["admin_boundary"].astype(str), su["eco_boundary"].astype(str)))
        t.admin_boundary, t.eco_boundary = default_boundaries(t.admin_boundary, t.eco_boundary,
                                                              [x.name for x in t.layers], pairs)
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


def _read_sidecars(t: _Target, config_mode: bool, report: ValidationReport) -> None:
    for layer in t.layers:
        if not layer.discovered:  # config mode: the config names the layers; read their sidecars here
            try:
                layer.sidecar = read_sidecar(layer.path)
            except LayerError as err:
                for message in sidecar_problems(err):  # every problem of the sidecar, not just the first
                    report.error("sidecar", message, file=str(layer.path), layer=layer.name,
                                 expected="a JSON sidecar <layer>.json with nodata and attributes")
                layer.sidecar = None
                t.broken.add(layer.name)
            if not layer.role:  # the provider-only fallback knows no roles: guess as configure would
                layer.role = classify_layer(layer.name, layer.sidecar)
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
class _Open:
    """A layer whose raster is open and on the reference grid."""

    layer: _Layer
    ds: Any  # rasterio dataset
    nodata: float | None


@dataclass
class _Tally:
    """What the pass over the landscape's decoded blocks accumulates; turned into problems at the end."""

    unknown_values: dict[str, dict[Any, int]] = field(default_factory=dict)  # layer -> pixel value -> count
    problems: dict[str, None] = field(default_factory=dict)  # the decoder's other errors, in order, once each
    combos: dict[tuple, int] = field(default_factory=dict)  # classifier codes -> pixel count
    n_valid: int = 0  # pixels the run simulates
    excluded: dict[str, int] = field(default_factory=dict)  # reason -> pixels GCBM leaves out
    age_negative: int = 0
    age_min: Any = None
    age_above: int = 0
    age_max: Any = None
    temp_reached: int = 0  # pixels that got as far as the temperature rule (simulated but for it)
    temp_nan: int = 0  # left out for a NaN or infinite temperature
    temp_nodata: int = 0  # left out for the temperature layer's nodata
    temp_outside: int = 0  # simulated, finite but outside the plausible range
    temp_low: Any = None
    temp_high: Any = None


def _open_raster(layer: _Layer, stack: contextlib.ExitStack, report: ValidationReport) -> tuple[Any, Grid] | None:
    if not layer.path.is_file():
        report.error("raster", f"layer {layer.name!r}: file {str(layer.path)!r} does not exist",
                     file=str(layer.path), layer=layer.name, expected="a GeoTIFF")
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)  # a truncated file loses its transform
            ds = stack.enter_context(rasterio.open(layer.path))
            if ds.driver != "GTiff":  # e.g. a PNG renamed .tiff: say so, not "wrong size"
                report.error("raster", not_geotiff_message(layer.name, layer.path, ds.driver), file=str(layer.path),
                             layer=layer.name, value=ds.driver, expected="a GeoTIFF")
                return None
            # A truncated file opens but cannot deliver its last pixels: probe them before trusting the header.
            ds.read(1, window=Window(ds.width - 1, ds.height - 1, 1, 1))
        return ds, Grid(transform=ds.transform, crs=ds.crs, width=ds.width, height=ds.height)
    except (RasterioError, OSError, ValueError) as err:
        _unreadable(layer, err, report)
        return None


def _unreadable(layer: _Layer, err: Exception, report: ValidationReport) -> None:
    report.error("raster", f"layer {layer.name!r}: {str(layer.path)!r} is not a readable GeoTIFF "
                 f"(truncated or corrupt?): {err}", file=str(layer.path), layer=layer.name,
                 expected="a complete GeoTIFF")


def _counts_list(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items())


def _values_list(values: Sequence, limit: int = MAX_LISTED) -> str:
    shown = ", ".join(repr(v) for v in list(values)[:limit])
    return shown + (f" ... and {len(values) - limit} more" if len(values) > limit else "")


def _check_layers(t: _Target, db, report: ValidationReport) -> None:
    """One windowed pass over every layer on the reference grid (memory bounded by the window size)."""
    order = {"classifier": 0, "age": 1}
    layers = sorted(t.layers, key=lambda x: order.get(x.role, 2))
    for layer in layers:
        if layer.role == "disturbance":
            _check_disturbance_sidecar(layer, t, db, report)
    report.summary["layers"] = {x.name: x.role for x in t.layers}
    with contextlib.ExitStack() as stack:
        reference: tuple[str, Grid] | None = None
        opened: list[_Open] = []
        for layer in layers:
            got = _open_raster(layer, stack, report)
            if got is None:
                t.broken.add(layer.name)
                continue
            ds, grid = got
            if reference is None:
                reference = (layer.name, grid)
            else:
                diff = reference[1].mismatch(grid)
                if diff:
                    t.broken.add(layer.name)
                    report.error("grid", f"layer {layer.name!r} ({str(layer.path)!r}) does not share the grid of "
                                 f"layer {reference[0]!r}: {diff}", file=str(layer.path), layer=layer.name,
                                 value=grid.describe(), expected=reference[1].describe())
                    continue  # its pixels cannot be compared with the others'
            mismatch = layer_data_mismatch(layer.sidecar, ds.dtypes[0]) if layer.sidecar else None
            if mismatch:  # the run refuses it too (landscape.raster.read_landscape)
                report.error("sidecar", f"layer {layer.name!r}: {mismatch}", file=layer.sidecar.source,
                             layer=layer.name, value=layer.sidecar.layer_data, expected=str(ds.dtypes[0]))
            nodata = ds.nodata if ds.nodata is not None else (layer.sidecar.nodata if layer.sidecar else None)
            opened.append(_Open(layer, ds, nodata))
        report.summary["layers_checked"] = len(opened)
        if reference is None:
            return
        landscape = _landscape(opened, reference[1], t, report)
        try:
            tally = _tally(landscape, _max_curve_age(db), t.temperature_range)
        except LayerError as err:  # a layer unreadable mid-way, a sidecar mapping ages to words: no pixel checks
            report.error("raster", str(err), expected="layers the run can decode")
            return

    by_name = {o.layer.name: o.layer for o in opened}
    classifiers = [by_name[x] for x in landscape.classifier_layer.values() if x is not None]  # the combos' order
    has_age = landscape.roles.age_layer is not None
    for o in opened:
        missing = tally.unknown_values.get(o.layer.name)
        if missing:
            known = sorted(o.layer.sidecar.attributes)
            values = sorted(missing)
            report.error(
                "pixel_value",
                f"layer {o.layer.name!r}: pixel value(s) {_values_list(values)} occur in {str(o.layer.path)!r} "
                f"({sum(missing.values())} pixels) but are not keys of the sidecar's attributes "
                f"{str(o.layer.sidecar.source)!r} (known: {_values_list(known)}); "
                "add them to the sidecar or set those pixels to nodata",
                file=str(o.layer.path), layer=o.layer.name, value=values,
                expected=f"one of {known[:MAX_LISTED]} or nodata {o.nodata!r}",
            )
    for message in tally.problems:  # the decoder's own sentence (today: an age that is not a whole number)
        report.error("age", message, layer=landscape.roles.age_layer, expected="whole years")
    if not classifiers and not has_age:
        return
    report.summary["simulated_pixels"] = tally.n_valid
    temp_layer = next((o for o in opened if o.layer.name == landscape.roles.temperature_layer), None)
    if tally.n_valid == 0 and not (temp_layer is not None and tally.temp_nan + tally.temp_nodata):
        others = {k: v for k, v in tally.excluded.items() if k not in ("no_classifier_set", "initial_age_null")}
        report.error("landscape", "empty landscape: no pixel has a value in every classifier layer"
                     + (" and the age layer" if has_age else "")
                     + f" ({', '.join(x.name for x in classifiers) or 'no classifier layers'}); "
                     "GCBM would simulate nothing"
                     + (f" (pixels left out by GCBM's land-unit rules: {_counts_list(others)})" if others else ""),
                     value=0, expected="at least one pixel with data in all classifier and age layers")
        return
    max_curve_age = _max_curve_age(db)
    age_layer = next((o.layer for o in opened if o.layer.name == landscape.roles.age_layer), None)
    if age_layer is not None:
        _report_ages(age_layer, tally, max_curve_age, report)
    if temp_layer is not None:
        _report_temperature(temp_layer, tally, report, t.temperature_range)
    if tally.n_valid == 0:
        return  # every pixel lacks a temperature: said above
    # A classifier whose layer is already reported unusable would only add follow-on "no curve" noise.
    classifier_broken = t.broken & (set(db.classifier_names) | {x.name for x in classifiers}) if db is not None else set()
    if db is not None and classifiers and not classifier_broken:
        _check_growth_curves(classifiers, tally.combos, db, report, t.classifier_values)


def _check_scalars(t: _Target, db, report: ValidationReport) -> None:
    """Values given once for every pixel instead of a layer: the run (run.preflight) refuses the same."""
    if t.age_value is not None and not any(x.role == "age" for x in t.layers):
        max_curve_age = _max_curve_age(db)
        for message in scalar_age_messages(t.age_value, max_curve_age):
            report.error("age", message, value=t.age_value,
                         expected="ages >= 0" if max_curve_age is None else f"0..{max_curve_age}")
    if t.temperature_value is not None and not any(x.role == "temperature" for x in t.layers):
        for message in scalar_temperature_messages(t.temperature_value, t.temperature_range):
            report.error("temperature", message, value=t.temperature_value,
                         expected="%g..%g deg C" % t.temperature_range)


def _landscape(opened: list[_Open], grid: Grid, t: _Target, report: ValidationReport) -> Landscape:
    """The run's Landscape over the layers that could be opened: the config's roles (config mode) or the
    layers' roles as configure writes them (project mode), less the layers already reported unusable."""
    roles = t.roles or LandscapeRoles.of_layer_roles({x.name: x.role for x in t.layers}, age_value=t.age_value)
    wanted = roles.layer_names()
    infos = {}
    for o in opened:
        name = o.layer.name
        if name in t.broken or name not in wanted:
            continue
        try:
            infos[name] = layer_info(name, o.layer.path, o.layer.role, o.ds, o.layer.sidecar)
        except LayerError as err:  # the run refuses the same layer (landscape.raster.read_landscape)
            report.error("sidecar", str(err), file=o.layer.sidecar.source, layer=name,
                         expected="a sidecar matching the layer's role")
            t.broken.add(name)
    rows = max(1, WINDOW_PIXELS // max(grid.width, 1))
    return Landscape(config=None, grid=grid, layers=infos, roles=roles.without(wanted - set(infos)),
                     block_rows=rows, block_cols=grid.width)


def _tally(landscape: Landscape, max_age: int | None, bounds: tuple[float, float]) -> _Tally:
    """One pass over the landscape's blocks decoded as the run decodes them (landscape.raster, collecting
    mode): the run's simulated pixels, every pixel value missing from a sidecar, ages and temperatures."""
    tally = _Tally()
    roles = landscape.roles
    names = [c for c, layer in roles.classifier_layer.items() if layer is not None]
    lo, hi = bounds
    for block in landscape.collect_blocks():
        for layer, counts in block.unknown.items():
            bucket = tally.unknown_values.setdefault(layer, {})
            for value, n in counts.items():
                bucket[value] = bucket.get(value, 0) + n
        tally.problems.update(dict.fromkeys(block.problems))
        for reason, n in block.excluded.items():
            tally.excluded[reason] = tally.excluded.get(reason, 0) + n
        v = block.valid
        n_valid = int(v.sum())
        tally.n_valid += n_valid
        if roles.temperature_layer is not None:
            dropped = block.dropped["mean_annual_temperature_null"]
            nodata = block.nodata[roles.temperature_layer]
            tally.temp_nodata += int((dropped & nodata).sum())
            tally.temp_nan += int((dropped & ~nodata).sum())
            tally.temp_reached += n_valid + int(dropped.sum()) + sum(
                int(block.dropped[k].sum()) for k in ("admin_boundary_null", "eco_boundary_null") if k in block.dropped)
        if not n_valid:
            continue
        if names:
            stack = np.stack([block.classifiers[c][v] for c in names], axis=1)
            combos, counts = np.unique(stack, axis=0, return_counts=True)
            for combo, count in zip(map(tuple, combos.tolist()), counts.tolist()):
                tally.combos[combo] = tally.combos.get(combo, 0) + count
        if roles.age_layer is not None:
            _tally_ages(block.age[v], max_age, tally)
        if block.temperature is not None:
            values = block.temperature[v]
            out = values[(values < lo) | (values > hi)]
            if out.size:
                tally.temp_outside += int(out.size)
                low, high = float(out.min()), float(out.max())
                tally.temp_low = low if tally.temp_low is None else min(tally.temp_low, low)
                tally.temp_high = high if tally.temp_high is None else max(tally.temp_high, high)
    return tally


def _max_curve_age(db) -> int | None:
    if db is None or db.growth_curve_components.empty:
        return None
    return int(db.growth_curve_components["age"].max())


def _tally_ages(ages: np.ndarray, max_age: int | None, tally: _Tally) -> None:
    negative = ages < 0
    if negative.any():
        tally.age_negative += int(negative.sum())
        low = ages.min().item()
        tally.age_min = low if tally.age_min is None else min(tally.age_min, low)
    if max_age is not None:
        above = ages > max_age
        if above.any():
            tally.age_above += int(above.sum())
            high = ages.max().item()
            tally.age_max = high if tally.age_max is None else max(tally.age_max, high)


def _report_ages(layer: _Layer, tally: _Tally, max_age: int | None, report: ValidationReport) -> None:
    where = f"age layer {layer.name!r}"
    # The run refuses the same ages with the same sentences (landscape.checks, run.prepare_run).
    for message in age_messages(where, str(layer.path), n_negative=tally.age_negative, min_age=tally.age_min):
        report.error("age", message, file=str(layer.path), layer=layer.name, value=tally.age_min, expected="ages >= 0")
    for message in age_messages(where, str(layer.path), n_above=tally.age_above, max_age=tally.age_max,
                                max_curve_age=max_age):
        report.error("age", message, file=str(layer.path), layer=layer.name, value=tally.age_max,
                     expected=f"ages 0..{max_age} (the growth curves' age range)")


def _report_temperature(o: _Open, tally: _Tally, report: ValidationReport, bounds: tuple[float, float]) -> None:
    layer = o.layer
    where = f"temperature layer {layer.name!r}"
    if tally.temp_nan and tally.temp_nan == tally.temp_reached:
        report.error("temperature", f"{where}: every simulated pixel is NaN in {str(layer.path)!r}",
                     file=str(layer.path), layer=layer.name, value="NaN", expected="mean annual temperature in deg C")
    elif tally.temp_nan:
        report.error("temperature", f"{where}: {tally.temp_nan} of {tally.temp_reached} simulated pixel(s) are NaN "
                     f"(or infinite) in {str(layer.path)!r}", file=str(layer.path), layer=layer.name, value="NaN",
                     expected="mean annual temperature in deg C")
    outside = temperature_range_message(where, str(layer.path), n_outside=tally.temp_outside,
                                        lowest=tally.temp_low, highest=tally.temp_high, bounds=bounds)
    if outside:
        report.error("temperature", outside, file=str(layer.path), layer=layer.name,
                     value=[tally.temp_low, tally.temp_high], expected="%g..%g deg C" % bounds)
    if tally.temp_nodata:
        report.error("temperature", f"{where}: {tally.temp_nodata} simulated pixel(s) have no temperature (nodata) "
                     f"in {str(layer.path)!r}", file=str(layer.path), layer=layer.name, value=o.nodata,
                     expected="a temperature on every simulated pixel")


def _check_growth_curves(classifiers: list[_Layer], combos: Mapping[tuple, int], db, report: ValidationReport,
                         scalars: Mapping[str, str]) -> None:
    """Every classifier set on the landscape gets the growth curve the run will give it
    (inputdb.reader.match_growth_curves, the engine's own matcher), or an error naming it."""
    names = [x.name for x in classifiers]
    cats = {x.name: [x.sidecar.attributes[k] for k in sorted(x.sidecar.attributes)] for x in classifiers}
    for n in names:
        if n not in db.classifier_names:
            report.error("growth_curve", f"classifier layer {n!r} has no classifier of that name in table classifier "
                         f"of {str(db.path)!r} (classifiers: {', '.join(db.classifier_names)})", layer=n,
                         file=str(db.path), value=n, expected=f"one of {db.classifier_names}")
    ordered = sorted(combos.items())
    stands = pd.DataFrame([{**scalars, **{n: str(cats[n][c]) for n, c in zip(names, combo)}} for combo, _ in ordered],
                          columns=[*scalars, *names])
    curve = inputdb.match_growth_curves(db, stands, strict=False) if len(stands) else np.zeros(0, dtype=np.int64)
    comps = db.growth_curve_components
    with_volume = set(comps["growth_curve_id"].astype(int)) if not comps.empty else set()
    unset = [c for c in db.classifier_names if c not in names and c not in scalars]
    if unset:
        report.warn("growth_curve", f"the db's classifier(s) {', '.join(map(repr, unset))} have no layer or value in "
                    f"the run's classifier set; growth curves are matched on {', '.join(map(repr, [*scalars, *names]))} "
                    "only", file=str(db.path), value=unset, expected="a layer (or value) for every db classifier")
    uncovered = []
    for (combo, count), cid in zip(ordered, curve.tolist()):
        row = {**scalars, **{n: str(cats[n][c]) for n, c in zip(names, combo)}}
        if cid < 0:
            uncovered.append((row, count, None))
        elif with_volume and cid not in with_volume:
            uncovered.append((row, count, cid))
    for stand, count, cid in uncovered[:MAX_LISTED]:
        label = ", ".join(f"{k}={v!r}" for k, v in stand.items())
        what = (f"has no growth curve in {str(db.path)!r}" if cid is None else
                f"matches growth curve {cid}, which has no growth_curve_component rows in {str(db.path)!r}")
        report.error("growth_curve", f"classifier set ({label}) on {count} pixel(s) {what}", file=str(db.path),
                     value=stand, expected="a growth curve with volumes whose classifier values match (or '?')")
    if len(uncovered) > MAX_LISTED:
        report.error("growth_curve", f"... and {len(uncovered) - MAX_LISTED} more classifier sets with no growth curve "
                     f"in {str(db.path)!r}", file=str(db.path))
    report.summary["classifier_sets"] = len(combos)


def _check_disturbance_sidecar(layer: _Layer, t: _Target, db, report: ValidationReport) -> None:
    if layer.sidecar is None or not layer.sidecar.attributes:
        return
    type_ids = db.disturbance_type_ids() if db is not None else None
    type_codes = db.disturbance_type_codes() if db is not None else None
    for pixel, events in layer.sidecar.attributes.items():
        if not isinstance(events, tuple):
            continue
        for ev in events:
            if db is not None:
                # The run's own check (landscape.stands -> gcbm.sidecar.resolve_event_type): a name is a
                # disturbance_type.name, a number a disturbance_type.code, as GCBM reads them.
                try:
                    resolve_event_type(ev, f"disturbance layer {layer.name!r}, pixel value {pixel}", str(db.path),
                                       type_ids, type_codes)
                except LayerError as err:
                    report.error("disturbance_type", str(err), file=layer.sidecar.source, layer=layer.name,
                                 value=ev.disturbance_type if ev.disturbance_type_id is None else ev.disturbance_type_id,
                                 expected="a disturbance_type.name, or a disturbance_type.code as disturbance_type_id")
            if t.start_year is not None and t.end_year is not None and not (t.start_year <= ev.year <= t.end_year):
                report.warn("disturbance_year", f"disturbance layer {layer.name!r}, pixel value {pixel}: year "
                            f"{ev.year} is outside the simulation window {t.start_year}-{t.end_year}; "
                            "the event will never happen", file=layer.sidecar.source, layer=layer.name,
                            value=ev.year, expected=f"{t.start_year}..{t.end_year}")
