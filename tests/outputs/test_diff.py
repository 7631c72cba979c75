from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys

import pytest
from click.testing import CliRunner
from outputs_fixtures import three_stand_run

from flintcloud.cli import main
from flintcloud.errors import DatabaseError
from flintcloud.outputs.diff import diff_outputs
from flintcloud.outputs.raw_db import RawOutputWriter


def _write(path, steps):
    with RawOutputWriter(path, ["Classifier1", "Classifier2"]) as w:
        for s in steps:
            w(s)
    return path


def test_identical_runs_have_no_difference(tmp_path):
    a = _write(tmp_path / "a.db", three_stand_run())
    b = _write(tmp_path / "b.db", three_stand_run())
    diff = diff_outputs(a, b)
    assert not diff["exceeds"].any()
    assert (diff["abs_diff"] == 0).all()
    assert set(diff["quantity"]) == {"pool", "flux", "flux_module", "disturbed_area", "age_area", "area"}
    assert set(diff["year"]) == {0, 2010, 2011}
    assert len(diff[diff["quantity"] == "pool"]) == 3 * 6


def test_changed_flux_and_area_are_ranked_first(tmp_path):
    a = _write(tmp_path / "a.db", three_stand_run())
    steps = three_stand_run()
    steps[2].fluxes[1, 3] *= 1.01  # wildfire SoftwoodMerch -> CO2, +1 %
    steps[2].area_ha[1] += 1e-3
    b = _write(tmp_path / "b.db", steps)
    diff = diff_outputs(a, b, rtol=1e-6)
    bad = diff[diff["exceeds"]]
    top = bad.iloc[0]
    assert (top["quantity"], top["year"]) == ("flux", 2011)
    assert top["item"] == "CBMDisturbanceEventModule | Wildfire | SoftwoodMerch -> CO2"
    assert top["a"] == pytest.approx(60.0) and top["b"] == pytest.approx(30.0 * 1.01 * 2.001)
    assert {"disturbed_area", "area", "pool"} <= set(bad["quantity"])
    # year 2010 is untouched by both changes
    assert not bad["year"].eq(2010).any()


def test_ids_do_not_matter_only_names(tmp_path):
    a = _write(tmp_path / "a.db", three_stand_run())
    b = tmp_path / "b.db"
    shutil.copy(a, b)
    with sqlite3.connect(b) as conn:  # renumber the pool dimension
        conn.execute("UPDATE PoolDimension SET id = id + 100")
        conn.execute("UPDATE Pools SET poolId = poolId + 100")
        conn.execute("UPDATE Fluxes SET poolSrcDimId = poolSrcDimId + 100, poolDstDimId = poolDstDimId + 100")
    assert not diff_outputs(a, b)["exceeds"].any()


def test_missing_db_and_wrong_schema(tmp_path):
    a = _write(tmp_path / "a.db", three_stand_run())
    with pytest.raises(DatabaseError, match="does not exist"):
        diff_outputs(a, tmp_path / "nope.db")
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE Pools (x)")
    with pytest.raises(DatabaseError, match=r"table\(s\) \['AgeArea'"):
        diff_outputs(a, other)
    assert not (tmp_path / "nope.db").exists()


def test_cli_exit_codes(tmp_path):
    a = _write(tmp_path / "a.db", three_stand_run())
    steps = three_stand_run()
    steps[1].pools[0, 0] += 5.0
    b = _write(tmp_path / "b.db", steps)
    runner = CliRunner()
    same = runner.invoke(main, ["diff-outputs", str(a), str(a)])
    assert same.exit_code == 0, same.output
    assert "0 of" in same.output
    differ = runner.invoke(main, ["diff-outputs", str(a), str(b), "--top", "3"])
    assert differ.exit_code == 1
    assert "AboveGroundSlowSoil" in differ.output and "beyond the tolerance" in differ.output
    loose = runner.invoke(main, ["diff-outputs", str(a), str(b), "--rtol", "0.5"])
    assert loose.exit_code == 0


def test_cli_reports_bad_path_in_one_line(tmp_path):
    a = _write(tmp_path / "a.db", three_stand_run())
    proc = subprocess.run(
        [sys.executable, "-m", "flintcloud", "diff-outputs", str(a), str(tmp_path / "missing.db")],
        capture_output=True, text=True,
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("flintcloud: error: raw GCBM output database") and "missing.db" in proc.stderr


def test_reference_against_itself(gcbm_reference_output):
    ref = gcbm_reference_output / "gcbm_output.db"
    diff = diff_outputs(ref, ref)
    assert not diff["exceeds"].any()
    areas = diff[diff["quantity"] == "area"]
    assert len(areas) == 12 and areas["a"].round(9).eq(510.620353071).all()
    dist = diff[diff["quantity"] == "disturbed_area"]
    assert set(dist["item"]) == {
        "Wildfire [code 1]", "Mountain pine beetle — Low impact [code 136]",
        "Mountain pine beetle — Very severe impact [code 138]"}


def test_disturbance_codes_are_compared(tmp_path):
    """GCBM writes disturbance_type.code (Wildfire: code 1), not the db id; a different code is a difference."""
    a = tmp_path / "a.db"
    with RawOutputWriter(a, ["Classifier1", "Classifier2"], disturbance_type_codes={1: 7, 136: 136}) as w:
        for s in three_stand_run():
            w(s)
    b = _write(tmp_path / "b.db", three_stand_run())
    with sqlite3.connect(a) as conn:
        assert conn.execute("SELECT disturbanceType, disturbanceTypeName FROM DisturbanceTypeDimension").fetchall() == [
            (7, "Wildfire")]
    bad = diff_outputs(a, b).query("exceeds")
    assert set(bad["item"]) == {"Wildfire [code 7]", "Wildfire [code 1]"}
