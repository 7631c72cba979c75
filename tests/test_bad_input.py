"""Issue 7: bad input never crashes the pipeline or corrupts a result.

Each case starts from a valid project inside a repository-like folder whose
configuration was already written (`flintcloud configure`) and validated, then
breaks one input and runs `flintcloud validate` and `flintcloud configure`
again, in-process through the real CLI entry point. Each must exit non-zero
with one clear message per problem (file, layer, value, what is expected),
report all problems of the run at once, and leave the previous configuration
byte-identical (hashes). Property-based tests feed arbitrary JSON to the
sidecar, config and params parsers: only the specific flintcloud errors may
come out.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import sqlite3
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from affine import Affine
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from flintcloud import cli
from flintcloud.errors import ConfigError, LayerError
from flintcloud.gcbm.config import parse_gcbm_config
from flintcloud.gcbm.config_writer import settings_from_params
from flintcloud.gcbm.sidecar import parse_sidecar, read_sidecar
from test_validate import (
    AGES,
    CELL,
    CLASSIFIER1,
    CLASSIFIER1_ATTRS,
    CLASSIFIER2,
    CLASSIFIER2_ATTRS,
    CURVES,
    DISTURBANCE,
    DISTURBANCE_ATTRS,
    ORIGIN,
    TEMPERATURE,
    build_db,
    build_project,
    write_layer,
)

GOOD_PARAMS = {
    "project": {"dir": "project", "db": None, "layers_dir": None, "layers": None},
    "simulation": {"start_year": 2010, "end_year": 2020, "engine": "libcbm", "admin_boundary": "British Columbia",
                   "eco_boundary": "Taiga Plains"},
    "outputs": {"indicators": ["Age", "NPP", "NBP", "Total_Ecosystem_C"]},
}


def run_cli(*args) -> tuple[int, str, str]:
    """Run `flintcloud ARGS` through cli.run() (the console entry point); return (exit code, stdout, stderr)."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["flintcloud", *map(str, args)]
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            cli.run()
    except SystemExit as ex:
        code = ex.code if isinstance(ex.code, int) else 1
    finally:
        sys.argv = argv
    return code, out.getvalue(), err.getvalue()


def hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*")) if p.is_file()
    }


class Repo:
    """A repository-like folder (dvc.yaml marks its root) with a configured, validated project."""

    def __init__(self, root: Path):
        self.root = root
        (root / "dvc.yaml").write_text("stages: {}\n")
        self.project = build_project(root)
        self.tiled = self.project / "layers" / "tiled"
        self.db = self.project / "input_database" / "gcbm_input.db"
        self.config = root / "build" / "config"
        self.report = root / "reports" / "validation.json"
        self.params_file = root / "params.yaml"
        self.write_params(GOOD_PARAMS)
        code, _, err = self.validate()
        assert code == 0, err
        code, _, err = run_cli("configure", self.project, self.config, "--params", self.params_file,
                               "--root", self.root, "--skip-validation")  # validated just above
        assert code == 0, err
        self.before = hashes(self.config)

    def write_params(self, params: dict) -> None:
        self.params_file.write_text(yaml.safe_dump(params))

    def validate(self, target: Path | None = None, *extra):
        return run_cli("validate", target or self.project, "--params", self.params_file, "--report", self.report,
                       "--root", self.root, *extra)

    def configure(self):
        return run_cli("configure", self.project, self.config, "--params", self.params_file, "--root", self.root,
                       "--overwrite")

    def problems(self) -> list[dict]:
        return json.loads(self.report.read_text())["errors"]

    def assert_rejected(self, *needles: str, n: int | None = None, configure: bool = True) -> list[dict]:
        """validate fails listing the problems; configure refuses; the previous config is unchanged."""
        code, _, err = self.validate()
        assert code == 1, err
        problems = self.problems()
        messages = [p["message"] for p in problems]
        if n is not None:
            assert len(problems) == n, messages
        for needle in needles:
            assert any(needle in m for m in messages), f"{needle!r} not in {messages}"
            assert needle in err
        assert "flintcloud: error: " in err and f"{len(problems)} problem(s) found" in err
        if configure:
            code, _, cerr = self.configure()
            assert code == 1, cerr
        assert hashes(self.config) == self.before, "the previous configuration changed"
        assert sorted(p.name for p in self.config.parent.iterdir()) == ["config"], "temporary files left behind"
        return problems


@pytest.fixture()
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path)


# --------------------------------------------------------------------------- layers and sidecars


def test_a_layer_on_another_grid(repo: Repo):
    shifted = Affine(CELL, 0.0, ORIGIN[0] + 10 * CELL, 0.0, -CELL, ORIGIN[1])
    write_layer(repo.tiled, "Classifier2", CLASSIFIER2, nodata=255, attributes=CLASSIFIER2_ATTRS, transform=shifted)
    (p,) = repo.assert_rejected("layer 'Classifier2'", "does not share the grid of layer 'Classifier1'", "origin x", n=1)
    assert p["layer"] == "Classifier2" and p["check"] == "grid"
    assert p["file"].endswith("Classifier2.tiff")


def test_a_layer_of_another_size(repo: Repo):
    write_layer(repo.tiled, "initial_age", np.vstack([AGES, AGES[:1]]), nodata=32767)
    repo.assert_rejected("layer 'initial_age'", "size 8x7 px, expected 8x6 px", n=1)


def test_a_layer_in_another_crs(repo: Repo):
    write_layer(repo.tiled, "mean_annual_temperature", TEMPERATURE, nodata=3.4e38, crs="EPSG:4269")
    repo.assert_rejected("layer 'mean_annual_temperature'", "CRS EPSG:4269, expected EPSG:4326", n=1)


def test_a_layer_without_sidecar(repo: Repo):
    (repo.tiled / "Classifier1.json").unlink()
    repo.assert_rejected("Classifier1.tiff' has no sidecar JSON", n=1)


def test_a_sidecar_that_is_not_json(repo: Repo):
    (repo.tiled / "disturbances_2012.json").write_text('{"layer_type": "GridLayer", "attributes": {"1": ')
    (p,) = repo.assert_rejected("disturbances_2012.json' is not valid JSON (line 1", n=1)
    assert p["check"] == "sidecar"


def test_a_classifier_sidecar_without_attributes_in_a_config(repo: Repo):
    sidecar = json.loads((repo.tiled / "Classifier2.json").read_text())
    del sidecar["attributes"]
    (repo.tiled / "Classifier2.json").write_text(json.dumps(sidecar))
    # The configuration names Classifier2 as a classifier: its sidecar must map pixel values.
    code, _, err = repo.validate(repo.config)
    assert code == 1
    (p,) = repo.problems()
    assert "classifier layer 'Classifier2' has no 'attributes'" in p["message"]
    assert hashes(repo.config) == repo.before


def test_a_disturbance_sidecar_without_attributes_named_in_params(repo: Repo):
    sidecar = json.loads((repo.tiled / "disturbances_2012.json").read_text())
    del sidecar["attributes"]
    (repo.tiled / "disturbances_2012.json").write_text(json.dumps(sidecar))
    params = copy.deepcopy(GOOD_PARAMS)
    params["project"]["layers"] = {"disturbances": ["disturbances_2012"]}
    repo.write_params(params)
    repo.assert_rejected("disturbance layer 'disturbances_2012' has no 'attributes'", "disturbance events", n=1)


def test_a_pixel_value_missing_from_the_sidecar(repo: Repo):
    bad = CLASSIFIER1.copy()
    bad[2, 2:4] = 9
    write_layer(repo.tiled, "Classifier1", bad, nodata=255, attributes=CLASSIFIER1_ATTRS)
    (p,) = repo.assert_rejected("layer 'Classifier1': pixel value(s) 9 occur", "(2 pixels)",
                                "not keys of the sidecar's attributes", n=1)
    assert p["value"] == [9]


def test_a_disturbance_pixel_value_missing_from_the_sidecar(repo: Repo):
    bad = DISTURBANCE.copy()
    bad[3, 3] = 4
    write_layer(repo.tiled, "disturbances_2012", bad, nodata=255, attributes=DISTURBANCE_ATTRS)
    repo.assert_rejected("layer 'disturbances_2012': pixel value(s) 4 occur", n=1)


def test_a_truncated_geotiff(repo: Repo):
    path = repo.tiled / "initial_age.tiff"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    (p,) = repo.assert_rejected("layer 'initial_age'", "is not a readable GeoTIFF (truncated or corrupt?)", n=1)
    assert p["check"] == "raster"


def test_an_empty_landscape(repo: Repo):
    write_layer(repo.tiled, "Classifier1", np.full_like(CLASSIFIER1, 255), nodata=255, attributes=CLASSIFIER1_ATTRS)
    repo.assert_rejected("empty landscape: no pixel has a value in every classifier layer", n=1)


# --------------------------------------------------------------------------- ages and temperature


def test_negative_ages(repo: Repo):
    ages = AGES.copy()
    ages[0, :2] = [-1, -30]
    write_layer(repo.tiled, "initial_age", ages, nodata=32767)
    (p,) = repo.assert_rejected("age layer 'initial_age': 2 pixel(s) have negative ages (minimum -30)", n=1)
    assert p["value"] == -30


def test_ages_above_the_growth_curves(repo: Repo):
    ages = AGES.copy()
    ages[4, 4] = 250  # nodata in Classifier1 there: not simulated, not reported
    ages[5, 0] = 260
    ages[5, 1] = 301
    write_layer(repo.tiled, "initial_age", ages, nodata=32767)
    (p,) = repo.assert_rejected("2 pixel(s) are older than the growth curves' maximum age 200 (oldest 301)", n=1)
    assert p["expected"] == "ages 0..200 (the growth curves' age range)"


def test_a_temperature_layer_of_nan(repo: Repo):
    write_layer(repo.tiled, "mean_annual_temperature", np.full_like(TEMPERATURE, np.nan), nodata=3.4e38)
    repo.assert_rejected("temperature layer 'mean_annual_temperature': every simulated pixel is NaN", n=1)


def test_some_nan_temperatures(repo: Repo):
    t = TEMPERATURE.copy()
    t[1, :3] = np.nan
    write_layer(repo.tiled, "mean_annual_temperature", t, nodata=3.4e38)
    repo.assert_rejected("3 of 42 simulated pixel(s) are NaN", n=1)


# --------------------------------------------------------------------------- database


def test_a_classifier_set_with_no_growth_curve(repo: Repo):
    curves = {k: v for k, v in CURVES.items() if v != ("TA", "6")}
    repo.db.unlink()
    build_db(repo.db, curves=curves)
    (p,) = repo.assert_rejected("classifier set (Classifier1='TA', Classifier2='6') on 6 pixel(s) has no growth curve",
                                n=1)
    assert p["value"] == {"Classifier1": "TA", "Classifier2": "6"}


def test_a_disturbance_type_not_in_the_db(repo: Repo):
    attrs = copy.deepcopy(DISTURBANCE_ATTRS)
    attrs["2"]["disturbance_type"] = "Clearcut"
    write_layer(repo.tiled, "disturbances_2012", DISTURBANCE, nodata=255, attributes=attrs)
    (p,) = repo.assert_rejected("disturbance layer 'disturbances_2012', pixel value 2 names disturbance type 'Clearcut', "
                                "which is not in the disturbance_type table", n=1)
    assert p["value"] == "Clearcut"


def test_a_disturbance_year_outside_the_window_is_a_listed_warning(repo: Repo):
    attrs = copy.deepcopy(DISTURBANCE_ATTRS)
    attrs["1"]["year"] = 2031
    write_layer(repo.tiled, "disturbances_2012", DISTURBANCE, nodata=255, attributes=attrs)
    code, out, err = repo.validate()
    assert code == 0, err
    report = json.loads(repo.report.read_text())
    assert report["valid"] is True and report["n_warnings"] == 1
    (w,) = report["warnings"]
    assert w["check"] == "disturbance_year" and w["value"] == 2031 and w["expected"] == "2010..2020"
    assert "warning: disturbance layer 'disturbances_2012', pixel value 1: year 2031 is outside" in err


def test_a_db_that_is_not_sqlite(repo: Repo):
    repo.db.write_text("id,name\n1,Wildfire\n")
    (p,) = repo.assert_rejected("gcbm_input.db' is not a SQLite database", n=1)
    assert p["check"] == "database"


def test_a_missing_db(repo: Repo):
    repo.db.unlink()
    repo.assert_rejected("gcbm_input.db' does not exist", n=1)


def test_a_locked_db(repo: Repo):
    holder = sqlite3.connect(repo.db, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        repo.assert_rejected("gcbm_input.db' is locked by another process", n=1, configure=False)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert repo.validate()[0] == 0  # released: valid again


def test_a_db_lacking_tables_and_columns(repo: Repo):
    with sqlite3.connect(repo.db) as conn:
        conn.execute("DROP TABLE disturbance_type")
        conn.execute("ALTER TABLE growth_curve_component_value RENAME TO gccv_old")
        conn.execute("CREATE TABLE growth_curve_component_value (growth_curve_component_id, age)")
    conn.close()
    problems = repo.assert_rejected("missing table 'disturbance_type'",
                                    "table 'growth_curve_component_value' lacks column(s) 'merchantable_volume'", n=2)
    assert {p["value"] for p in problems} == {"disturbance_type", "growth_curve_component_value"}


# --------------------------------------------------------------------------- params


def test_params_end_before_start_unknown_engine_and_indicator_all_at_once(repo: Repo):
    params = copy.deepcopy(GOOD_PARAMS)
    params["simulation"].update(start_year=2020, end_year=2015, engine="gcbm")
    params["outputs"]["indicators"] = ["NPP", "Total_Carbon"]
    repo.write_params(params)
    problems = repo.assert_rejected(
        "simulation.end_year 2015 is before simulation.start_year 2020",
        "simulation.engine 'gcbm' is not a known engine; expected one of libcbm, gcbm-container",
        "unknown indicator name(s) 'Total_Carbon'; known indicators: Age, AG_Biomass_C",
        n=3,
    )
    assert {p["check"] for p in problems} == {"params"}


# --------------------------------------------------------------------------- paths


def test_a_project_path_escaping_through_dotdot_is_refused(repo: Repo, tmp_path_factory):
    outside = build_project(tmp_path_factory.mktemp("elsewhere"))
    sneaky = repo.root / ".." / os.path.relpath(outside, repo.root.parent)
    # The path is refused and nothing under it is read.
    code, _, err = repo.validate(sneaky)
    assert code == 1
    (p,) = repo.problems()
    assert p["check"] == "path" and "outside the repository" in p["message"] and "through '..'" in p["message"]
    code, _, err = run_cli("configure", sneaky, repo.config, "--params", repo.params_file, "--root", repo.root,
                           "--overwrite")
    assert code == 1 and "outside the repository" in err
    assert hashes(repo.config) == repo.before


def test_a_layer_symlinked_outside_the_repo_is_refused(repo: Repo, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    write_layer(elsewhere, "Classifier2", CLASSIFIER2, nodata=255, attributes=CLASSIFIER2_ATTRS)
    (repo.tiled / "Classifier2.tiff").unlink()
    (repo.tiled / "Classifier2.tiff").symlink_to(elsewhere / "Classifier2.tiff")
    (p,) = repo.assert_rejected("layer 'Classifier2'", "outside the repository", "through a symlink", n=1)
    assert p["layer"] == "Classifier2"


def test_a_config_naming_a_layer_outside_the_repo_is_refused(repo: Repo, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    write_layer(elsewhere, "Classifier1", CLASSIFIER1, nodata=255, attributes=CLASSIFIER1_ATTRS)
    provider = json.loads((repo.config / "provider_config.json").read_text())
    for layer in provider["Providers"]["RasterTiled"]["layers"]:
        if layer["name"] == "Classifier1":
            layer["layer_path"] = os.path.relpath(elsewhere / "Classifier1.tiff", repo.config)
    (repo.config / "provider_config.json").write_text(json.dumps(provider))
    code, _, err = repo.validate(repo.config)
    assert code == 1
    messages = [p["message"] for p in repo.problems()]
    assert any("layer 'Classifier1'" in m and "outside the repository" in m for m in messages), messages


# --------------------------------------------------------------------------- all at once


def test_every_problem_of_a_badly_broken_project_in_one_run(repo: Repo):
    """Eight independent problems and a warning: one run lists them all, one message each, and writes nothing."""
    (repo.tiled / "Classifier2.json").unlink()                                            # no sidecar
    bad = CLASSIFIER1.copy()
    bad[0, 0] = 9
    write_layer(repo.tiled, "Classifier1", bad, nodata=255, attributes=CLASSIFIER1_ATTRS)  # unknown pixel value
    ages = AGES.copy()
    ages[1, 1] = -5
    ages[1, 2] = 999
    write_layer(repo.tiled, "initial_age", ages, nodata=32767)                             # negative + too old
    t = TEMPERATURE.copy()
    t[2, 2] = np.nan
    write_layer(repo.tiled, "mean_annual_temperature", t, nodata=3.4e38)                   # NaN temperature
    attrs = copy.deepcopy(DISTURBANCE_ATTRS)
    attrs["1"]["disturbance_type"] = "Meteor"
    attrs["2"]["year"] = 1999
    write_layer(repo.tiled, "disturbances_2012", DISTURBANCE, nodata=255, attributes=attrs)  # type + year (warning)
    params = copy.deepcopy(GOOD_PARAMS)
    params["simulation"]["engine"] = "fortran"
    params["outputs"]["indicators"] = ["Joy"]
    repo.write_params(params)                                                               # engine + indicator
    problems = repo.assert_rejected(n=8)
    assert sorted(p["check"] for p in problems) == [
        "age", "age", "disturbance_type", "params", "params", "pixel_value", "sidecar", "temperature"]
    assert json.loads(repo.report.read_text())["n_warnings"] == 1
    code, _, err = repo.validate()
    assert err.count("\n  - ") == 8  # one line per problem


# --------------------------------------------------------------------------- property-based: parsers

json_scalars = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=True) | st.text(max_size=8)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)
sidecar_like = st.fixed_dictionaries(
    {},
    optional={
        "layer_type": json_values,
        "layer_data": st.sampled_from(["Byte", "Int16", "Float32"]) | json_values,
        "nodata": st.integers(-1, 70000) | st.floats() | json_values,
        "attributes": st.dictionaries(
            st.integers(-5, 300).map(str) | st.text(max_size=4),
            st.text(max_size=6)
            | st.fixed_dictionaries(
                {},
                optional={
                    "year": st.integers(1900, 2100) | json_values,
                    "disturbance_type": st.text(max_size=8) | json_values,
                    "transition": st.integers(0, 5) | json_values,
                    "disturbance_type_id": json_values,
                },
            )
            | json_values,
            max_size=5,
        )
        | json_values,
    },
)


@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(obj=sidecar_like | json_values)
def test_sidecar_parser_never_crashes_on_arbitrary_json(obj):
    try:
        result = parse_sidecar(obj, "prop.json")
    except LayerError as err:
        assert "prop.json" in str(err)
        return
    if result.attributes:
        assert all(isinstance(k, int) for k in result.attributes)


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=40) | json_values.map(json.dumps))
def test_sidecar_reader_never_crashes_on_arbitrary_files(tmp_path_factory, text):
    folder = tmp_path_factory.mktemp("sc")
    (folder / "x.tiff").write_bytes(b"")
    (folder / "x.json").write_text(text)
    try:
        read_sidecar(folder / "x.tiff")
    except LayerError as err:
        assert "x.json" in str(err)


def _paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, (*prefix, i))


def _flint_like_docs() -> dict:
    from shared_paths import SHARED_DATA, missing_fixture  # the one place that knows where the data is

    demo = SHARED_DATA / "flint-cloud-linux-demo" / "config"
    if not demo.is_dir():
        missing_fixture(f"FLINT demo config not found at {demo}")
    names = ["localdomain.json", "pools_cbm.json", "modules_cbm.json", "modules_output.json", "spinup.json",
             "variables.json", "internal_variables.json", "provider_config.json"]
    return {n: json.loads((demo / n).read_text(encoding="utf-8-sig")) for n in names}


@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_config_parser_never_crashes_on_mutated_configs(data):
    docs = copy.deepcopy(_flint_like_docs())
    for _ in range(data.draw(st.integers(1, 3))):
        name = data.draw(st.sampled_from(sorted(docs)))
        paths = list(_paths(docs[name]))
        path = data.draw(st.sampled_from(paths))
        replacement = data.draw(json_values)
        if not path:
            docs[name] = replacement
            continue
        parent = docs[name]
        for key in path[:-1]:
            parent = parent[key]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = replacement
    try:
        cfg = parse_gcbm_config(docs, Path("/tmp/cfg"))
    except ConfigError:
        return
    assert cfg.end_year >= cfg.start_year
    assert all(name in cfg.layers for name in cfg.classifier_layers)


@hsettings(max_examples=200, deadline=None)
@given(docs=st.dictionaries(st.sampled_from(["localdomain.json", "provider_config.json", "variables.json",
                                             "modules_cbm.json", "modules_output.json", "spinup.json"]),
                            json_values | st.fixed_dictionaries({}, optional={
                                "LocalDomain": json_values, "Providers": json_values, "Variables": json_values,
                                "Modules": json_values, "Spinup": json_values}), max_size=6))
def test_config_parser_never_crashes_on_arbitrary_documents(docs):
    try:
        parse_gcbm_config(docs, Path("/tmp/cfg"))
    except ConfigError as err:
        assert str(err)


@hsettings(max_examples=300, deadline=None)
@given(params=st.dictionaries(st.sampled_from(["project", "simulation", "outputs", "report"]),
                              st.dictionaries(st.sampled_from(["start_year", "end_year", "engine", "spinup", "layers",
                                                               "indicators", "db", "admin_boundary", "initial_age",
                                                               "age_maximum", "classifiers"]), json_values, max_size=6)
                              | json_values, max_size=4) | json_values)
def test_params_parser_never_crashes_on_arbitrary_yaml_values(params):
    try:
        s = settings_from_params(params)
    except ConfigError as err:
        assert str(err)
        return
    assert s.end_year >= s.start_year
    assert isinstance(s.start_year, int) and not (isinstance(s.start_year, float) and math.isnan(s.start_year))


def test_validate_never_raises_on_a_config_of_garbage(repo: Repo):
    """A config folder whose files are not JSON: validate reports, it does not crash."""
    for name in ("variables.json", "provider_config.json"):
        (repo.config / name).write_text("\x00\x01 not json")
    code, _, err = repo.validate(repo.config)
    assert code == 1 and "not valid JSON" in err
    assert all(isinstance(p["message"], str) for p in repo.problems())


# --------------------------------------------------------------------------- interrupting simulate


@pytest.mark.parametrize("signum", [2, 15], ids=["SIGINT", "SIGTERM"])
def test_interrupting_flintcloud_run_leaves_the_previous_output_untouched(tmp_path: Path, signum: int):
    """Ctrl-C / SIGTERM in the middle of `flintcloud run`: exit non-zero, the previous output folder is
    byte-identical and no half-written temp folder is left for DVC to pick up."""
    import signal
    import subprocess
    import time

    from flintcloud.demo import generate_demo_project

    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    project = generate_demo_project(tmp_path / "project", seed=7, size=32)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"simulation": {"start_year": 2010, "end_year": 2020}}))
    code, _, err = run_cli("configure", project, tmp_path / "build" / "config", "--params", params,
                           "--root", tmp_path)
    assert code == 0, err
    out = tmp_path / "build" / "output"
    (out / "spatial").mkdir(parents=True)
    (out / "run_summary.json").write_text('{"previous": true}\n')
    (out / "spatial" / "NBP_2010.tif").write_bytes(b"previous map")
    before = hashes(out)

    exe = Path(sys.executable).with_name("flintcloud")
    proc = subprocess.Popen(
        [str(exe), "run", str(tmp_path / "build" / "config"), "--out", str(out), "--overwrite", "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # xdist workers may ignore SIGINT
    )
    try:
        deadline = time.monotonic() + 120
        while not any(p.name.startswith(".output.tmp-") for p in out.parent.iterdir()):
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the run never started writing"
            time.sleep(0.05)
        time.sleep(0.5)
        os.kill(proc.pid, signum)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    assert hashes(out) == before, "the previous output changed"
    assert sorted(p.name for p in out.parent.iterdir()) == ["config", "output"], "partial output left behind"


# --------------------------------------------------------------------------- simulate on bad input


def _break_pixel_value(repo: Repo):
    bad = CLASSIFIER1.copy()
    bad[0, 0] = 9
    write_layer(repo.tiled, "Classifier1", bad, nodata=255, attributes=CLASSIFIER1_ATTRS)
    return "9"


def _break_grid(repo: Repo):
    shifted = Affine(CELL, 0.0, ORIGIN[0] + 10 * CELL, 0.0, -CELL, ORIGIN[1])
    write_layer(repo.tiled, "Classifier2", CLASSIFIER2, nodata=255, attributes=CLASSIFIER2_ATTRS, transform=shifted)
    return "Classifier2"


def _break_sidecar(repo: Repo):
    (repo.tiled / "initial_age.json").write_text("{oops")
    return "initial_age.json"


def _truncate(repo: Repo):
    path = repo.tiled / "Classifier1.tiff"
    path.write_bytes(path.read_bytes()[:300])
    return "Classifier1"


def _empty(repo: Repo):
    write_layer(repo.tiled, "Classifier1", np.full_like(CLASSIFIER1, 255), nodata=255, attributes=CLASSIFIER1_ATTRS)
    return "no pixel can be simulated"


def _not_sqlite(repo: Repo):
    repo.db.write_bytes(b"PK\x03\x04 a zip, not a db")
    return "not a SQLite database"


def _disturbance_type(repo: Repo):
    attrs = copy.deepcopy(DISTURBANCE_ATTRS)
    attrs["1"]["disturbance_type"] = "Meteor"
    write_layer(repo.tiled, "disturbances_2012", DISTURBANCE, nodata=255, attributes=attrs)
    return "Meteor"


@pytest.mark.parametrize("breaker", [_break_pixel_value, _break_grid, _break_sidecar, _truncate, _empty, _not_sqlite,
                                     _disturbance_type], ids=lambda f: f.__name__.strip("_"))
def test_flintcloud_run_on_bad_input_fails_cleanly_and_keeps_the_previous_output(repo: Repo, breaker):
    """The simulate stage's command, given a broken project: one `flintcloud: error:` line naming the culprit,
    exit 1, and the previous output folder byte-identical (nothing is written before the inputs are read)."""
    out = repo.root / "build" / "output"
    (out / "spatial").mkdir(parents=True)
    (out / "gcbm_output.db").write_bytes(b"previous raw db")
    (out / "spatial" / "NBP_2010.tif").write_bytes(b"previous map")
    before = hashes(out)
    needle = breaker(repo)
    code, _, err = run_cli("run", repo.config, "--out", out, "--overwrite", "--no-progress")
    assert code == 1, err
    assert err.startswith("flintcloud: error: ") and needle in err, err
    assert "Traceback" not in err
    assert hashes(out) == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["config", "output"]


def test_a_config_writing_outside_the_repo_is_refused(repo: Repo):
    outputs = json.loads((repo.config / "modules_output.json").read_text())
    outputs["Modules"]["CBMAggregatorSQLiteWriter"]["settings"]["databasename"] = "../../../../../../tmp/x.db"
    (repo.config / "modules_output.json").write_text(json.dumps(outputs))
    code, _, err = repo.validate(repo.config)
    assert code == 1
    (p,) = repo.problems()
    assert p["check"] == "path" and "output path (CBMAggregatorSQLiteWriter databasename)" in p["message"]
    assert "outside the repository" in p["message"]
