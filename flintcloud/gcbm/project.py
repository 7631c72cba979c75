"""A GCBM project folder: its layers, their roles, its study area and database (I/O + pure helpers).

The one place that knows how a project folder is laid out (`layers/tiled/*.tif[f]` with
sidecars, the tiler's `study_area.json`, `input_database/gcbm_input.db`) and how a layer's
role is found (explicit settings, then study_area tags, then the sidecar, then the name).
`discover_layers(layers_dir, settings)` lists every layer with its sidecar and role and
collects every problem (unreadable sidecar, two files giving one layer name) instead of
stopping at the first: `configure` (gcbm.config_writer.discover_project) raises them,
`validate` reports them. `settings` is anything with the ConfigSettings attributes it
reads (layers_dir, classifier_layers, disturbance_layers, age_layer, temperature_layer,
admin_boundary, eco_boundary), so this module does not depend on config_writer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from flintcloud.errors import ConfigError, LayerError
from flintcloud.gcbm.sidecar import LayerSidecar, read_sidecar, sidecar_problems
from flintcloud.jsonfile import load_json

ROLES = ("classifier", "disturbance", "age", "temperature", "admin_boundary", "eco_boundary", "other")

_AGE_NAMES = ("initial_age", "age")
_TEMPERATURE_NAMES = ("mean_annual_temperature", "temperature")
_TAG_ROLES = {
    "classifier": "classifier",
    "disturbance": "disturbance",
    "age": "age",
    "initial_age": "age",
    "temperature": "temperature",
    "mean_annual_temperature": "temperature",
    "admin_boundary": "admin_boundary",
    "eco_boundary": "eco_boundary",
}
_SKIP_LAYERS = ("bounding_box",)  # the tiler's mask raster; GCBM never reads it


@dataclass(frozen=True)
class ProjectLayer:
    """One raster layer of a project, as GCBM's provider_config names it (a file, a role, a sidecar).

    The three layer types differ by stage: ProjectLayer is found in a folder before any pixel is read;
    landscape.raster.LayerInfo is an opened raster (dtype, nodata, category keys) the decoder reads;
    validate._Layer carries validate's per-layer state while it checks either mode (project or config).
    """

    name: str  # GCBM layer name / variable name (file stem without `_moja`)
    path: Path  # the GeoTIFF
    role: str  # one of ROLES
    sidecar: LayerSidecar | None = None
    tags: tuple[str, ...] = ()

    @property
    def prefix(self) -> str:
        """`layer_prefix` in provider_config.json: the file name without extension."""
        return self.path.stem


def layer_name(tiff: Path) -> str:
    """GCBM layer name of a tiff: its stem, without the tiler's `_moja` suffix."""
    stem = tiff.stem
    return stem[: -len("_moja")] if stem.endswith("_moja") else stem


def classify_layer(name: str, sidecar: LayerSidecar | None, tags: Sequence[str] = (), explicit: str | None = None) -> str:
    """Role of a layer. Explicit settings win, then study_area tags, then the sidecar, then the name."""
    if explicit:
        return explicit
    for tag in tags:
        role = _TAG_ROLES.get(str(tag).lower())
        if role:
            return role
    lname = name.lower()
    if lname in ("admin_boundary", "eco_boundary"):
        return lname
    if sidecar is not None and sidecar.attributes:
        return "disturbance" if sidecar.is_disturbance() else "classifier"
    if lname in _AGE_NAMES:
        return "age"
    if lname in _TEMPERATURE_NAMES:
        return "temperature"
    return "other"


def find_layer_files(layers_dir: Path) -> list[Path]:
    """The GeoTIFFs of a tiled-layers folder, sorted by name (the tiler's mask excluded)."""
    files = sorted({*layers_dir.glob("*.tif"), *layers_dir.glob("*.tiff")})
    return [f for f in files if layer_name(f) not in _SKIP_LAYERS]


def read_study_area(layers_dir: Path) -> dict:
    """Parsed `study_area.json` of the tiler, or {} when there is none."""
    path = layers_dir / "study_area.json"
    if not path.is_file():
        return {}
    obj = load_json(path, ConfigError, "study area")
    if not isinstance(obj, dict):
        raise ConfigError(f"study area {str(path)!r} must be a JSON object, got {type(obj).__name__}")
    return obj


def default_layers_dir(project_dir: Path) -> Path:
    for cand in (project_dir / "layers" / "tiled", project_dir / "layers"):
        if cand.is_dir():
            return cand
    return project_dir / "layers" / "tiled"


def default_db_path(project_dir: Path) -> Path:
    cand = project_dir / "input_database" / "gcbm_input.db"
    if cand.is_file():
        return cand
    found = sorted(project_dir.rglob("gcbm_input.db"))
    return found[0] if found else cand


def explicit_roles(settings) -> dict[str, str]:
    """Layer name -> role for every layer the settings name."""
    roles: dict[str, str] = {}
    for name in settings.classifier_layers or ():
        roles[name] = "classifier"
    for name in settings.disturbance_layers or ():
        roles[name] = "disturbance"
    if settings.age_layer:
        roles[settings.age_layer] = "age"
    if settings.temperature_layer:
        roles[settings.temperature_layer] = "temperature"
    return roles


def study_area_tags(study: Mapping) -> dict[str, tuple[str, ...]]:
    tags: dict[str, tuple[str, ...]] = {}
    for entry in study.get("layers", []) or []:
        if isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
            raw = entry.get("tags") or []
            tags[entry["name"]] = tuple(str(t) for t in raw) if isinstance(raw, list) else ()
    return tags


def default_boundaries(admin: str | None, eco: str | None, layer_names: Sequence[str],
                       spatial_units: Sequence[tuple[str, str]]) -> tuple[str | None, str | None]:
    """admin/eco boundary when params leave them null: the project's own layer, else the db's only choice. Pure."""
    if admin is None and "admin_boundary" in layer_names:
        admin = "admin_boundary"
    if eco is None and "eco_boundary" in layer_names:
        eco = "eco_boundary"
    a_key = None if admin in layer_names else admin
    e_key = None if eco in layer_names else eco
    pairs = [p for p in spatial_units if a_key in (None, p[0]) and e_key in (None, p[1])]
    if admin is None and len({a for a, _ in pairs}) == 1:
        admin = pairs[0][0]
    if eco is None and len({e for _, e in pairs}) == 1:
        eco = pairs[0][1]
    return admin, eco


@dataclass(frozen=True)
class DiscoveryProblem:
    """One thing wrong with a project folder's layers: `check` is project | sidecar.

    Not validate.Problem: gcbm comes before validate in the data flow and cannot import it; validate turns
    each of these into its own Problem (same fields, plus the offending value)."""

    check: str
    message: str
    file: str | None = None
    layer: str | None = None
    expected: str | None = None


@dataclass
class LayerDiscovery:
    """What `discover_layers` found: the layers (a layer with an unreadable sidecar keeps sidecar None)."""

    layers_dir: Path
    layers: list[ProjectLayer] = field(default_factory=list)
    study: dict = field(default_factory=dict)
    problems: list[DiscoveryProblem] = field(default_factory=list)

    def raise_for_problems(self) -> None:
        if self.problems:
            raise LayerError("; ".join(p.message for p in self.problems))


def discover_layers(layers_dir: Path, settings=None, accept: Callable[[Path], bool] | None = None) -> LayerDiscovery:
    """Every GeoTIFF layer of `layers_dir` with its sidecar, tags and role; every problem collected (I/O).

    `accept(tiff)` False: the file is left out unread (validate refuses files outside the repository).
    """
    found = LayerDiscovery(layers_dir=Path(layers_dir))
    try:
        found.study = read_study_area(found.layers_dir)
    except ConfigError as err:
        found.problems.append(DiscoveryProblem("project", str(err), file=str(found.layers_dir / "study_area.json")))
    tags = study_area_tags(found.study)
    roles = explicit_roles(settings) if settings is not None else {}
    admin = getattr(settings, "admin_boundary", None)
    eco = getattr(settings, "eco_boundary", None)
    seen: dict[str, Path] = {}
    for tiff in find_layer_files(found.layers_dir):
        if accept is not None and not accept(tiff):
            continue
        name = layer_name(tiff)
        if name in seen:
            found.problems.append(DiscoveryProblem(
                "project", f"layers {str(seen[name])!r} and {str(tiff)!r} both give layer {name!r}; "
                "keep one (GCBM names a layer by its file name without '_moja')",
                file=str(tiff), layer=name, expected="one GeoTIFF per layer name"))
            continue
        seen[name] = tiff
        try:
            sidecar = read_sidecar(tiff)
        except LayerError as err:
            found.problems.extend(DiscoveryProblem(
                "sidecar", message, file=str(tiff), layer=name,
                expected="a JSON sidecar <layer>.json with nodata and attributes") for message in sidecar_problems(err))
            sidecar = None
        role = classify_layer(name, sidecar, tags.get(name, ()), roles.get(name))
        if name in (admin, eco):
            role = "admin_boundary" if name == admin else "eco_boundary"
        found.layers.append(ProjectLayer(name=name, path=tiff, role=role, sidecar=sidecar, tags=tuple(tags.get(name, ()))))
    return found
