"""The embedded engine against GCBM's own output on more cases than the FLINT.Cloud demo (issue 20).

Each case is a project GCBM itself ran (gcbm-reference-output/<case>/README.md says how it is built):

- ``builtin-demo``: flintcloud's own demo (``flintcloud demo``, seed 42, small), configured by the
  ``configure`` stage; stands of ~240-260 years, so overmature decline through spinup and the run.
- ``aged40``: the FLINT.Cloud demo with every stand 40 years older, 2010-2030 (ages up to 286).
- ``transitions``: the FLINT.Cloud demo with wildfires matched to ``transition_rule`` rows on the
  stands' classifiers (new species, regeneration delays 0-5 years), a relative age reset (-10) and an
  absolute reset to age 20 through sidecar transition ids, 2010-2025.

The same checks as tests/test_gcbm_reference.py, at the same tolerance (1e-6 relative, never loosened):
every pool per year (year 0 = after spinup), fluxes by module and pool pair, disturbance fluxes by type,
disturbed area, area by age class, the raw db through the writer and diff-outputs, and, per classifier
set, area, pools and disturbed area (the set a transition gives is reported in the disturbance year).
None of these references has GCBM's maps (only the FLINT.Cloud demo's has, checked there).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flintcloud.engine import simulate
from flintcloud.engine.step import StepTotals
from flintcloud.sqlite_ro import connect_ro
from shared_paths import REPO_ROOT, missing_fixture
from test_gcbm_reference import REFERENCE_SQL, RTOL, _compare

pytestmark = [pytest.mark.shared, pytest.mark.shared_only]  # GCBM's output for these cases is in ../shared only

CASES = {
    # case: (reference folder, years simulated)
    "builtin-demo": ("flintcloud-builtin-demo", list(range(2010, 2021))),
    "aged40": ("flint-cloud-linux-demo-aged40", list(range(2010, 2031))),
    "transitions": ("flint-cloud-linux-demo-transitions", list(range(2010, 2026))),
}


def _reference_dir(shared_data: Path, case: str) -> Path:
    """GCBM's output for `case`, where shared_paths finds the GCBM data (../shared or tests/data's copy)."""
    path = shared_data / "gcbm-reference-output" / CASES[case][0]
    if not (path / "gcbm_output.db").is_file():
        missing_fixture(f"GCBM reference output for case {case!r} not found at {path} "
                        "(tests/data/gcbm-data holds a copy)")
    return path


def _builtin_demo(root: Path, ref: Path) -> Path:
    """The built-in demo as the reference ran it: data/demo/project + build/config (GCBM's config)."""
    from flintcloud.demo.project import generate_demo_project

    project = root / "data" / "demo" / "project"
    generate_demo_project(project, seed=42, size="small", start_year=2010, end_year=2020,
                          growth_curves=REPO_ROOT / "data" / "demo" / "growth_curves.csv")
    changed = []
    for line in (ref / "inputs.md5").read_text().splitlines():
        digest, rel = line.split(maxsplit=1)
        if hashlib.md5((project / rel).read_bytes()).hexdigest() != digest:
            changed.append(rel)
    assert not changed, (
        f"the demo generator no longer writes the inputs GCBM ran ({ref / 'inputs.md5'}): {changed}; "
        "rerun GCBM on the new demo to renew the reference"
    )
    shutil.copytree(ref / "config", root / "build" / "config")
    return root / "build" / "config"


def _flint_demo_variant(root: Path, flint_demo: Path, case: str, ref: Path) -> Path:
    import rasterio

    project = root / "project"
    shutil.copytree(flint_demo, project)
    if case == "aged40":  # README: end_date 2031/01/01, initial_age + 40 where not nodata
        ld = project / "config" / "localdomain.json"
        doc = json.loads(ld.read_text())
        doc["LocalDomain"]["end_date"] = "2031/01/01"
        ld.write_text(json.dumps(doc, indent=4))
        tif = project / "layers" / "tiled" / "initial_age.tiff"
        with rasterio.open(tif) as src:
            profile, age, nodata = src.profile, src.read(1), src.nodata
        with rasterio.open(tif, "w", **profile) as dst:
            dst.write(np.where(age == nodata, age, age + 40).astype(age.dtype), 1)
    else:  # transitions: the overlay's files over the demo's
        overlay = ref / "overlay"
        for f in overlay.rglob("*"):
            if f.is_file():
                shutil.copy2(f, project / f.relative_to(overlay))
    return project / "config"


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request, shared_data, tmp_path_factory):
    """(case name, config, StandSet, StepTotals, [StepOutput], GCBM's reference dir)."""
    from flintcloud.gcbm.config import read_gcbm_config
    from flintcloud.run import prepare_run

    name = request.param
    ref = _reference_dir(shared_data, name)
    root = tmp_path_factory.mktemp(name)
    if name == "builtin-demo":
        config_dir = _builtin_demo(root, ref)
    else:
        flint_demo = request.getfixturevalue("flint_demo")
        config_dir = _flint_demo_variant(root, flint_demo, name, ref)
    prepared = prepare_run(read_gcbm_config(config_dir))  # what `flintcloud run` reads, preflight included
    config, db, stands = prepared.config, prepared.inputs, prepared.stands
    totals, steps = StepTotals(), []
    simulate(config, stands, db, [totals, steps.append], progress=False)
    return name, config, stands, totals, steps, ref


@pytest.fixture(scope="module")
def reference(case):
    with connect_ro(case[5] / "gcbm_output.db") as conn:
        yield conn


@pytest.fixture(scope="module")
def ours_raw(case, tmp_path_factory):
    """The engine's StepOutputs through the raw writer (GCBM's star schema)."""
    from flintcloud.outputs.raw_db import RawOutputWriter

    name, config, stands, _, steps, _ = case
    path = tmp_path_factory.mktemp(f"{name}-raw") / "gcbm_output.db"
    with RawOutputWriter(path, stands.classifier_names, config.age_class_range, config.age_maximum) as writer:
        for step in steps:
            writer(step)
    return path


def test_pool_totals_every_year_including_spinup(case, reference):
    name, _, _, totals, _, _ = case
    ref = pd.read_sql(REFERENCE_SQL["pools"], reference)
    ours = totals.pool_frame()
    assert sorted(ours["year"].unique()) == [0] + CASES[name][1]
    assert sorted(ref["year"].unique()) == [0] + CASES[name][1]
    _compare(ours, ref, ["year", "pool"], f"{name}: pool total (tC)")


def test_fluxes_by_module_and_pool_pair(case, reference):
    name, _, _, totals, _, _ = case
    ref = pd.read_sql(REFERENCE_SQL["fluxes"], reference)
    ours = totals.flux_frame().groupby(["year", "module", "source", "sink"], as_index=False)["value"].sum()
    _compare(ours, ref, ["year", "module", "source", "sink"], f"{name}: flux (tC)")
    by_module = ours.groupby(["year", "module"], as_index=False)["value"].sum()
    _compare(by_module, ref.groupby(["year", "module"], as_index=False)["value"].sum(), ["year", "module"],
             f"{name}: flux total by module (tC)")


def test_disturbance_fluxes_by_type_and_pool_pair(case, reference):
    name, _, _, totals, _, _ = case
    ref = pd.read_sql(REFERENCE_SQL["disturbance_fluxes"], reference)
    fl = totals.flux_frame()
    ours = fl[fl["disturbance_type_id"] > 0].groupby(
        ["year", "disturbance_type", "source", "sink"], as_index=False)["value"].sum()
    assert len(ref) > 0
    _compare(ours, ref, ["year", "disturbance_type", "source", "sink"], f"{name}: disturbance flux (tC)")


def test_disturbed_area_by_type(case, reference):
    name, _, _, totals, _, _ = case
    ref = pd.read_sql(REFERENCE_SQL["disturbed_area"], reference)
    ours = pd.DataFrame(
        [(y, totals.type_names[t], a) for (y, t), a in totals.disturbed_area.items()],
        columns=["year", "disturbance_type", "value"],
    )
    assert len(ref) > 0
    _compare(ours, ref, ["year", "disturbance_type"], f"{name}: disturbed area (ha)")


def test_area_by_age_class(case, reference):
    name, config, _, totals, _, _ = case
    ref = pd.read_sql(REFERENCE_SQL["age_area"], reference)
    width, top = config.age_class_range, config.age_maximum
    rows = [(y, top if a >= top else (a // width) * width, v) for (y, a), v in totals.age_area.items()]
    ours = pd.DataFrame(rows, columns=["year", "start_age", "value"]).groupby(["year", "start_age"], as_index=False).sum()
    _compare(ours, ref, ["year", "start_age"], f"{name}: area by age class (ha)")


def test_raw_db_end_to_end_through_writer_and_diff(case, ours_raw):
    from flintcloud.outputs.diff import diff_outputs, format_diff

    diff = diff_outputs(ours_raw, case[5] / "gcbm_output.db", rtol=RTOL)
    assert len(diff) > 1000
    assert not diff["exceeds"].any(), format_diff(diff)


def _classifier_columns(conn) -> list[str]:
    cols = [r[1] for r in conn.execute("PRAGMA table_info(ClassifierSetDimension)")]
    return [c for c in cols if c != "id"]


def _by_classifier_set(path: Path, what: str) -> pd.DataFrame:
    """Area, total pools or disturbed area per (year, classifier set) from a raw gcbm_output.db."""
    with connect_ro(path) as conn:
        cls = _classifier_columns(conn)
        cset = " || '/' || ".join(f"c.{c}" for c in cls)
        base = ("FROM LocationDimension l JOIN DateDimension d ON d.id = l.dateDimId "
                "JOIN ClassifierSetDimension c ON c.id = l.classifierSetDimId")
        if what == "area":
            sql = f"SELECT d.year, {cset} AS cset, SUM(l.area) AS value {base} GROUP BY 1, 2"
        elif what == "pools":
            sql = (f"SELECT d.year, {cset} AS cset, p.poolName AS pool, SUM(x.poolValue) AS value {base} "
                   "JOIN Pools x ON x.locationDimId = l.id JOIN PoolDimension p ON p.id = x.poolId GROUP BY 1, 2, 3")
        else:  # disturbed area by the set after the event and the set before it
            prev = " || '/' || ".join(f"pc.{c}" for c in cls)
            sql = (f"SELECT d.year, {cset} AS cset, {prev} AS previous, t.disturbanceTypeName AS disturbance_type, "
                   f"SUM(dd.area) AS value {base} JOIN DisturbanceDimension dd ON dd.locationDimId = l.id "
                   "JOIN DisturbanceTypeDimension t ON t.id = dd.disturbanceTypeDimId "
                   "JOIN LocationDimension pl ON pl.id = dd.previousLocationDimId "
                   "JOIN ClassifierSetDimension pc ON pc.id = pl.classifierSetDimId GROUP BY 1, 2, 3, 4")
        return pd.read_sql(sql, conn)


def test_area_pools_and_disturbances_per_classifier_set(case, ours_raw):
    """Transitions change classifier sets in the disturbance year: every (year, set) must agree."""
    name, _, _, _, _, ref = case
    gcbm = ref / "gcbm_output.db"
    for what, keys in (("area", ["year", "cset"]), ("pools", ["year", "cset", "pool"]),
                       ("disturbed", ["year", "cset", "previous", "disturbance_type"])):
        _compare(_by_classifier_set(ours_raw, what), _by_classifier_set(gcbm, what), keys,
                 f"{name}: {what} per classifier set")
    if name == "transitions":
        moved = _by_classifier_set(gcbm, "disturbed")
        assert (moved["cset"] != moved["previous"]).any(), "the transitions case changes classifier sets"
