"""Build a scenario's GCBM project from the base project (thin I/O around `edits`).

`build_scenario(params, name, base_project, out_dir)` writes, all at once when it succeeded:

    out_dir/project/      the base project, byte for byte, with the scenario's input edits applied
    out_dir/params.yaml   what the scenario's validate/configure/simulate stages read (`--params`)
    out_dir/scenario.json what was edited: pixels per layer before/after, years moved

Every scenario of params.yaml is checked first (names, params keys, layers, disturbance types,
fractions), so one bad scenario stops every scenario before anything is built.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from flintcloud.atomic import atomic_dir, atomic_file
from flintcloud.errors import ConfigError, FlintcloudError
from flintcloud.gcbm.config_writer import discover_project, settings_from_params_lenient
from flintcloud.jsonfile import load_json
from flintcloud.landscape.sidecar import sidecar_candidates
from flintcloud.scenarios import edits
from flintcloud.scenarios.spec import (
    LayerRoles,
    Operation,
    Scenario,
    ScenarioSet,
    check_against_project,
    load_params_text,
    parse_scenarios,
    scenario_params,
)


@dataclass
class ProjectView:
    """The base project as scenario building sees it: layer name -> (tiff, sidecar path, role)."""

    project_dir: Path
    tiffs: dict[str, Path]
    sidecars: dict[str, Path]
    roles: LayerRoles
    study_area: Path | None = None


@dataclass
class BuildResult:
    scenario: str
    project_dir: Path
    params_path: Path
    changes: list[dict] = field(default_factory=list)


def read_project_view(project_dir: str | Path, params: Mapping[str, Any]) -> ProjectView:
    """Layers and roles of the base project, found the way configure finds them."""
    project_dir = Path(project_dir)
    settings = settings_from_params_lenient(params, base_dir=Path("."))
    if settings is None:
        raise ConfigError("params.yaml: cannot read project/simulation settings for the scenarios' base project")
    project = discover_project(project_dir, settings)
    tiffs, sidecars, roles, types, mixed = {}, {}, {}, set(), {}
    for layer in project.layers:
        tiffs[layer.name] = layer.path
        found = [p for p in sidecar_candidates(layer.path) if p.is_file()]
        if found:
            sidecars[layer.name] = found[0]
        roles[layer.name] = layer.role
        if layer.role == "disturbance" and found:
            attributes = (load_json(found[0], ConfigError, "layer sidecar") or {}).get("attributes")
            types |= edits.event_types(attributes)
            if codes := edits.mixed_type_codes(attributes):
                mixed[layer.name] = codes
    study = project.layers[0].path.parent / "study_area.json" if project.layers else None
    return ProjectView(project_dir, tiffs, sidecars, LayerRoles(roles, frozenset(types), mixed),
                       study if study is not None and study.is_file() else None)


def files_in(folder: Path) -> set[str]:
    """Relative POSIX paths of the files under `folder` (empty when it does not exist)."""
    if not folder.is_dir():
        return set()
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def project_problems(scenarios: ScenarioSet, view: ProjectView, root: Path = Path(".")) -> list[str]:
    """Problems of the alternatives against the base project: layers, disturbance types, files in files_dir."""
    files = files_in(Path(root) / scenarios.files_dir)
    return check_against_project(scenarios.alternatives, view.roles, str(view.project_dir), files)


def check_scenarios(params: Mapping[str, Any], view: ProjectView, root: Path = Path(".")) -> ScenarioSet:
    """Every scenario checked against params.yaml and the base project; ConfigError listing all problems."""
    scenarios, problems = parse_scenarios(params)
    problems += project_problems(scenarios, view, root)
    if problems:
        raise ConfigError("params.yaml scenarios: " + "; ".join(problems))
    return scenarios


def scenario_problems(params: Mapping[str, Any], project_dir: str | Path | None, root: str | Path = ".") -> list[str]:
    """Every problem check_scenarios would raise, as a list and without building anything (the validate
    stage's check, before anything runs): the section's own (parse_scenarios) and, when the base project
    `project_dir` can be read, those against its layers, types and scenarios.files_dir. A project that
    cannot be read (or None: not to be read) gives only the section's own problems; validate reports why."""
    scenarios, problems = parse_scenarios(params)
    if not scenarios.alternatives or project_dir is None:
        return problems
    try:
        view = read_project_view(project_dir, params)
    except FlintcloudError:
        return problems
    return problems + project_problems(scenarios, view, Path(root))


# ----------------------------------------------------------------------------- raster I/O


def _read(path: Path):
    import rasterio

    with rasterio.open(path) as src:
        return src.read(1), src.profile, src.nodata


def _write(path: Path, values: np.ndarray, profile: dict) -> None:
    import rasterio

    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values, 1)


def _sidecar_doc(path: Path) -> dict:
    doc = load_json(path, ConfigError, "layer sidecar")
    if not isinstance(doc, dict):
        raise ConfigError(f"sidecar {str(path)!r} is not a JSON object")
    return doc


def _write_json(path: Path, doc: dict) -> None:
    path.write_text(json.dumps(doc, indent=4) + "\n", encoding="utf-8")


def _simulated_mask(view: ProjectView, where: Path) -> np.ndarray:
    """Pixels where every non-disturbance layer has data (the pixels a disturbance can fall on)."""
    mask = None
    for name, role in view.roles.layers.items():
        if role == "disturbance":
            continue
        values, _, nodata = _read(where / view.tiffs[name].relative_to(view.project_dir))
        has = np.ones(values.shape, bool) if nodata is None else ~np.isclose(values, nodata)
        mask = has if mask is None else mask & has
    if mask is None:
        raise ConfigError(f"project {str(view.project_dir)!r} has no non-disturbance layer to tell simulated pixels")
    return mask


def _apply(op: Operation, view: ProjectView, work: Path, alive: list[str], files_root: Path,
           changes: list[dict]) -> None:
    rel = {n: view.tiffs[n].relative_to(view.project_dir) for n in view.tiffs}
    side = {n: view.sidecars[n].relative_to(view.project_dir) for n in view.sidecars}
    if op.kind == "drop_layers":
        for name in op.layers or ():
            (work / rel[name]).unlink()
            if name in side:
                (work / side[name]).unlink()
            alive.remove(name)
            changes.append({"operation": op.key, "layer": name, "dropped": True})
        if view.study_area is not None:
            study_path = work / view.study_area.relative_to(view.project_dir)
            study = _sidecar_doc(study_path)
            study["layers"] = [e for e in study.get("layers", []) if e.get("name") not in set(op.layers or ())]
            _write_json(study_path, study)
        return
    if op.kind == "replace_layer":
        name = op.layers[0]
        src = files_root / op.replacement
        found = [p for p in sidecar_candidates(src) if p.is_file()]
        if not found:
            raise ConfigError(f"key {op.key}.with: {str(src)!r} has no sidecar ({src.with_suffix('.json').name})")
        shutil.copyfile(src, work / rel[name])
        shutil.copyfile(found[0], work / side.get(name, rel[name].with_suffix(".json")))
        changes.append({"operation": op.key, "layer": name, "replaced_with": op.replacement})
        return
    if op.kind == "temperature_offset":
        for name in view.roles.with_role("temperature"):
            values, profile, nodata = _read(work / rel[name])
            _write(work / rel[name], edits.offset_values(values, nodata, op.offset), profile)
            changes.append({"operation": op.key, "layer": name, "offset_deg_c": op.offset})
        return
    targets = [n for n in (op.layers or view.roles.with_role("disturbance")) if n in alive]
    candidates = _simulated_mask(view, work) if op.kind == "scale_events" and (op.fraction or 0) > 1 else None
    for name in targets:
        doc = _sidecar_doc(work / side[name])
        attributes = doc.get("attributes") or {}
        if op.kind == "shift_years":
            doc["attributes"] = edits.shift_years(attributes, op.years, op.disturbance_type)
            _write_json(work / side[name], doc)
            changes.append({"operation": op.key, "layer": name, "years_moved": op.years})
            continue
        codes = edits.matching_values(attributes, op.disturbance_type, name, op.kind)
        if not codes:
            continue
        values, profile, nodata = _read(work / rel[name])
        if nodata is None:
            raise ConfigError(f"layer {name!r} ({str(view.tiffs[name])!r}) has no nodata value; "
                              f"{op.key} needs one to remove events")
        before = int(np.isin(values, codes).sum())
        if op.kind == "drop_events":
            new = edits.keep_fraction(values, nodata, codes, 0.0, edits.layer_rng(0, name))
        elif op.kind == "keep_fraction":
            new = edits.keep_fraction(values, nodata, codes, op.fraction, edits.layer_rng(op.seed, name))
        else:
            new = edits.scale_events(values, nodata, codes, op.fraction, candidates, edits.layer_rng(op.seed, name),
                                     name)
        _write(work / rel[name], new, profile)
        changes.append({"operation": op.key, "layer": name, "pixels_before": before,
                        "pixels_after": int(np.isin(new, codes).sum())})


def build_project(view: ProjectView, scenario: Scenario, out_project: Path, files_root: Path) -> tuple[list[dict], list[str]]:
    """Copy the base project to `out_project` (atomically) with the scenario's edits; returns the
    changes and the layers dropped."""
    alive = list(view.tiffs)
    changes: list[dict] = []
    with atomic_dir(out_project) as tmp:
        shutil.copytree(view.project_dir, tmp, dirs_exist_ok=True)
        for op in scenario.inputs:
            _apply(op, view, tmp, alive, files_root, changes)
    return changes, [n for n in view.tiffs if n not in alive]


def read_params_file(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{str(path)!r} not found; run from the repository root (dvc repro does)")
    return load_params_text(path.read_text(encoding="utf-8"))


def build_scenario(params: Mapping[str, Any], name: str, base_project: str | Path, out_dir: str | Path,
                   root: str | Path = ".") -> BuildResult:
    """Check every scenario, then write `out_dir/{project, params.yaml, scenario.json}` for `name`."""
    root = Path(root)
    out_dir = Path(out_dir)
    view = read_project_view(base_project, params)
    scenarios = check_scenarios(params, view, root)
    scenario = scenarios.get(name)
    out_project = out_dir / "project"
    changes, dropped = build_project(view, scenario, out_project, root / scenarios.files_dir)
    resolved = scenario_params(params, scenario, out_project.as_posix(), dropped)
    params_path = out_dir / "params.yaml"
    with atomic_file(params_path) as fh:
        fh.write(f"# Params of scenario {name!r}, written by stages/scenario_inputs.py from params.yaml; "
                 "do not edit.\n")
        yaml.safe_dump(resolved, fh, sort_keys=False)
    with atomic_file(out_dir / "scenario.json") as fh:
        json.dump({"name": scenario.name, "title": scenario.title, "params": scenario.params,
                   "base_project": Path(base_project).as_posix(), "changes": changes}, fh, indent=2)
        fh.write("\n")
    return BuildResult(name, out_project, params_path, changes)
