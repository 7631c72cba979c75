"""Issue 5 item 5: our `configure` regenerates the FLINT.Cloud demo's GCBM configuration.

The demo (../shared/gcbm-data/flint-cloud-linux-demo) ships the configuration
GCBM's moja.cli ran to write the reference output. We rebuild it from the
demo's layers and gcbm_input.db alone, then compare every file key by key:
same files, same modules with the same order/library/settings, the same
variables (all SQLQueryTransform queries verbatim), the same layers, pools,
tiles and dates. Every difference that is not a path is reported, and the
test fails listing them all.

Lists whose order GCBM ignores are compared as sets: the provider's `layers`
(keyed by name), CBMDisturbanceListener `vars` and CompositeTransform `vars`
(name-keyed maps in GCBM), WriteVariableGeotiff `items` (keyed by data_name)
and the landscape `tiles` (keyed by index). Values under path keys
(`path`, `layer_path`, `output_path`, `databasename`, logging's `FileName`)
may differ: they depend on where the config folder is written.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from flintcloud.gcbm.config_writer import ALL_FILES, ConfigSettings, discover_project, write_gcbm_config

pytestmark = pytest.mark.shared

PATH_KEYS = {"path", "layer_path", "output_path", "databasename", "FileName"}
UNORDERED_STRING_LISTS = {"vars"}
KEYED_LISTS = {"layers": "name", "items": "data_name", "tiles": "index"}


def diff_json(ours, theirs, where: str = "") -> list[str]:
    """Every non-path difference between two parsed JSON values, one line each."""
    key = where.rsplit(".", 1)[-1].split("[")[0]
    if key in PATH_KEYS:
        return [] if (ours is None) == (theirs is None) else [f"{where}: ours {ours!r}, shipped {theirs!r}"]
    if isinstance(ours, dict) and isinstance(theirs, dict):
        out = []
        for k in theirs:
            if k not in ours:
                out.append(f"{where}.{k}: missing in ours (shipped {_short(theirs[k])})")
        for k in ours:
            if k not in theirs:
                out.append(f"{where}.{k}: only in ours ({_short(ours[k])})")
        for k in theirs:
            if k in ours:
                out.extend(diff_json(ours[k], theirs[k], f"{where}.{k}"))
        return out
    if isinstance(ours, list) and isinstance(theirs, list):
        if key in KEYED_LISTS and all(isinstance(x, dict) for x in ours + theirs):
            field = KEYED_LISTS[key]
            a = {x.get(field): x for x in ours}
            b = {x.get(field): x for x in theirs}
            return diff_json(a, b, where)
        if key in UNORDERED_STRING_LISTS and all(isinstance(x, str) for x in ours + theirs):
            if sorted(ours) != sorted(theirs):
                return [f"{where}: ours {sorted(ours)}, shipped {sorted(theirs)}"]
            return []
        if len(ours) != len(theirs):
            return [f"{where}: {len(ours)} entries in ours, {len(theirs)} shipped ({_short(ours)} vs {_short(theirs)})"]
        out = []
        for i, (x, y) in enumerate(zip(ours, theirs)):
            out.extend(diff_json(x, y, f"{where}[{i}]"))
        return out
    if isinstance(ours, bool) or isinstance(theirs, bool):
        return [] if ours is theirs else [f"{where}: ours {ours!r}, shipped {theirs!r}"]
    if isinstance(ours, (int, float)) and isinstance(theirs, (int, float)):
        return [] if math.isclose(ours, theirs, rel_tol=1e-9, abs_tol=1e-12) else [
            f"{where}: ours {ours!r}, shipped {theirs!r}"
        ]
    if ours != theirs:
        return [f"{where}: ours {_short(ours)}, shipped {_short(theirs)}"]
    return []


def _short(value) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 160 else text[:157] + "..."


def parse_ini(text: str) -> dict:
    """logging.conf as {section: {key: value}}."""
    out: dict[str, dict] = {}
    section = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = out.setdefault(line[1:-1], {})
        elif "=" in line and section is not None:
            k, v = line.split("=", 1)
            section[k.strip()] = v.strip()
    return out


def diff_config_dirs(ours: Path, theirs: Path) -> list[str]:
    problems = []
    for name in ALL_FILES:
        a, b = ours / name, theirs / name
        if not b.is_file():
            continue
        if not a.is_file():
            problems.append(f"{name}: not written")
            continue
        if name.endswith(".json"):
            problems.extend(diff_json(json.loads(a.read_text()), json.loads(b.read_text(encoding="utf-8-sig")), name))
        elif name.endswith(".cfg"):
            la = [x.strip() for x in a.read_text().splitlines() if x.strip()]
            lb = [x.strip() for x in b.read_text().splitlines() if x.strip()]
            if la != lb:
                problems.append(f"{name}: ours {la}, shipped {lb}")
        else:
            problems.extend(diff_json(parse_ini(a.read_text()), parse_ini(b.read_text()), name))
    return problems


def demo_settings() -> ConfigSettings:
    # What the demo's params would say: its years and its spatial unit.
    return ConfigSettings(start_year=2010, end_year=2020, admin_boundary="British Columbia", eco_boundary="Taiga Plains")


def test_regenerated_demo_config_matches_the_shipped_one(flint_demo: Path, tmp_path: Path):
    out = tmp_path / "config"
    write_gcbm_config(flint_demo, out, demo_settings())
    problems = diff_config_dirs(out, flint_demo / "config")
    assert not problems, f"{len(problems)} difference(s) from the shipped config:\n" + "\n".join(problems)


def test_regenerated_paths_point_at_the_same_files(flint_demo: Path, tmp_path: Path):
    """Paths may be spelled differently, but must resolve to the same layer files and db."""
    out = tmp_path / "config"
    write_gcbm_config(flint_demo, out, demo_settings())
    ours = json.loads((out / "provider_config.json").read_text())["Providers"]
    shipped = json.loads((flint_demo / "config" / "provider_config.json").read_text())["Providers"]
    assert (out / ours["SQLite"]["path"]).resolve() == (flint_demo / "config" / shipped["SQLite"]["path"]).resolve()
    ours_layers = {x["name"]: (out / x["layer_path"]).resolve() for x in ours["RasterTiled"]["layers"]}
    shipped_layers = {
        x["name"]: (flint_demo / "config" / x["layer_path"]).resolve() for x in shipped["RasterTiled"]["layers"]
    }
    assert ours_layers == shipped_layers
    assert len(ours_layers) == 11


def test_discovery_finds_the_demo_roles(flint_demo: Path):
    project = discover_project(flint_demo, demo_settings())
    roles = {x.name: x.role for x in project.layers}
    assert roles == {
        "Classifier1": "classifier",
        "Classifier2": "classifier",
        "initial_age": "age",
        "mean_annual_temperature": "temperature",
        **{f"disturbances_{y}": "disturbance" for y in (2011, 2012, 2013, 2014, 2015, 2016, 2018)},
    }
    assert project.db_classifiers == ("Classifier1", "Classifier2")


def test_the_comparison_reports_every_non_path_difference(flint_demo: Path, tmp_path: Path):
    """The checker itself: a changed date, a dropped query and a moved path give exactly two problems."""
    out = tmp_path / "config"
    write_gcbm_config(flint_demo, out, demo_settings())
    variables = json.loads((out / "variables.json").read_text())
    del variables["Variables"]["decay_parameters"]
    (out / "variables.json").write_text(json.dumps(variables))
    local = json.loads((out / "localdomain.json").read_text())
    local["LocalDomain"]["end_date"] = "2020/01/01"
    (out / "localdomain.json").write_text(json.dumps(local))
    output = json.loads((out / "modules_output.json").read_text())
    output["Modules"]["CBMAggregatorSQLiteWriter"]["settings"]["databasename"] = "elsewhere/out.db"
    (out / "modules_output.json").write_text(json.dumps(output))
    problems = diff_config_dirs(out, flint_demo / "config")
    assert len(problems) == 2, problems
    assert any("variables.json.Variables.decay_parameters: missing in ours" in p for p in problems)
    assert any("localdomain.json.LocalDomain.end_date" in p and "2020/01/01" in p for p in problems)
