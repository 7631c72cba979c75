"""`flintcloud compare`: on a real git + DVC repository built in tmp_path."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from flintcloud.cli import main
from flintcloud.errors import ReportError
from flintcloud.report.compare import (
    MapRaster,
    bars_figure,
    category_table,
    crop_to_data,
    difference_maps_figure,
    map_difference,
    metrics_diff,
    params_diff,
    year_series,
)

from ._gitdvc import git, init_repo, repro_and_commit, run, DVC, write_params

# Toy model (see _gitdvc.py): 19 valid pixels valued 101..119 plus growth * years simulated;
# 2010-2012 is 3 years, so end-year total = 2090 + 19 * 3 * growth.
END_TOTAL = {1.0: 2147.0, 2.0: 2204.0}


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """main: a committed run with growth 1.0; workspace: growth changed to 2.0 and rerun."""
    path = init_repo(tmp_path_factory.mktemp("compare") / "repo")
    write_params(path, growth=1.0)
    repro_and_commit(path, "baseline run")
    git(path, "checkout", "-q", "-b", "feature")
    write_params(path, growth=2.0)
    run([DVC, "repro", "-q"], path)
    return path


def compare(repo, *args):
    result = CliRunner().invoke(main, ["compare", *args, "--repo", str(repo),
                                       "--out", str(repo / "reports" / "compare.md")])
    return result


def test_compare_names_both_values_and_the_change(repo):
    result = compare(repo, "main")
    assert result.exit_code == 0, result.output
    md = (repo / "reports" / "compare.md").read_text()
    assert "| `simulation.growth` | 1\\.0 | 2\\.0 |" in md  # user values escaped (mdtext)
    head = git(repo, "rev-parse", "--short", "HEAD")
    assert f"## Simulation results: feature \\({head} \\+ uncommitted changes\\) vs main \\({head}\\)" in md
    # headline metric: unit, base, branch, change, % change; numbers as quantities (2147.0 tC is not "2147")
    pct = (END_TOTAL[2.0] - END_TOTAL[1.0]) / END_TOTAL[1.0] * 100
    assert f"| `total_ecosystem_c_end_tc` | tC | 2,147.0 tC | 2,204.0 tC | +57.0 tC | {pct:+.2f} % |" in md
    assert "| `cumulative_nbp_tc` | tC | 38.0 tC | 76.0 tC | +38.0 tC | +100.00 % |" in md
    assert "| `end_year` | year | 2010 |" not in md and "| `end_year` | year | 2012 | 2012 | 0 | +0.00 % |" in md
    # unchanged params are not listed
    assert "start_year" not in md.split("### Headline metrics")[0]
    # difference map: branch - base = 3 years * (2.0 - 1.0) on each of the 19 valid pixels
    assert ("(2012): 19 of 19 pixels changed; difference min 3.00 tC/ha, max 3.00 tC/ha, mean 3.00 tC/ha."
            in md)
    # cumulative NBP maps (NBP_<year>.tif summed over 2010-2012): 3 years * (2.0 - 1.0) tC/ha
    assert "- Cumulative NBP, feature" in md
    assert md.count("(2012): 19 of 19 pixels changed; difference min 3.00 tC/ha, max 3.00 tC/ha") == 2
    assert (repo / "reports" / "compare" / "nbp_difference.png").is_file()


def test_compare_writes_charts_linked_from_the_markdown(repo):
    assert compare(repo, "main").exit_code == 0
    md = (repo / "reports" / "compare.md").read_text()
    for name in ("stocks", "stock_changes", "total_ecosystem_difference"):
        png = repo / "reports" / "compare" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"(compare/{name}.png)" in md
    assert not list((repo / "reports").glob(".compare*tmp*"))


def test_unknown_base_keeps_previous_report(repo):
    assert compare(repo, "main").exit_code == 0
    before = (repo / "reports" / "compare.md").read_bytes()
    result = compare(repo, "no-such-branch")
    assert result.exit_code != 0
    assert isinstance(result.exception, ReportError)
    assert "unknown git revision 'no-such-branch'" in str(result.exception)
    assert (repo / "reports" / "compare.md").read_bytes() == before


def test_base_output_missing_from_dvc_cache_is_a_clear_error(repo, tmp_path):
    """The base map lives only in DVC's cache: without it (and no remote) compare says which file."""
    clone = tmp_path / "clone"
    shutil.copytree(repo, clone)
    shutil.rmtree(clone / ".dvc" / "cache")
    result = compare(clone, "main")
    assert isinstance(result.exception, ReportError)
    assert "outputs/simulate" in str(result.exception)
    assert "main" in str(result.exception)


def test_params_diff_lists_added_removed_and_changed():
    diff = params_diff({"a": 1, "b": "x", "c": 3}, {"a": 2, "b": "x", "d": 4})
    assert diff.to_dict("records") == [
        {"param": "a", "base": 1, "branch": 2},
        {"param": "c", "base": 3, "branch": None},
        {"param": "d", "base": None, "branch": 4},
    ]


def test_metrics_diff_change_and_percent():
    diff = metrics_diff({"x": 200.0, "z": 0.0, "gone": 1.0}, {"x": 150.0, "z": 5.0, "new": 2.0}).set_index("metric")
    assert diff.loc["x", "change"] == -50.0 and diff.loc["x", "pct_change"] == -25.0
    assert diff.loc["z", "change"] == 5.0 and math.isnan(diff.loc["z", "pct_change"])
    assert math.isnan(diff.loc["gone", "branch"]) and math.isnan(diff.loc["new", "base"])


def test_year_series_long_and_wide():
    long = pd.DataFrame({"year": [2010, 2010, 2011, 2011], "indicator": ["A", "B", "A", "B"],
                         "value": [1.0, 2.0, 3.0, 4.0]})
    wide = year_series(long)
    assert list(wide.columns) == ["A", "B"] and wide.loc[2011, "B"] == 4.0
    assert year_series(pd.DataFrame({"age_class": ["0-20"], "area": [3.0]})) is None
    plain = year_series(pd.DataFrame({"year": [2011, 2010], "nbp": [2.0, 1.0]}))
    assert list(plain.index) == [2010, 2011] and plain["nbp"].tolist() == [1.0, 2.0]


def _raster(values, transform=(10.0, 0.0, 0.0, 0.0, -10.0, 0.0)):
    arr = np.ma.masked_invalid(np.asarray(values, dtype="float64"))
    return MapRaster(path="m.tif", year=2020, values=arr, transform=transform, crs="EPSG:3005")


def test_category_table_and_bars():
    emissions = pd.DataFrame({"disturbance_type": ["Wildfire", "Harvest", "Wildfire"],
                              "emissions_tc": [10.0, 0.0, 5.0], "area_ha": [1.0, 2.0, 3.0]})
    table = category_table(emissions)
    assert table.to_dict() == {"emissions_tc": {"Wildfire": 15.0, "Harvest": 0.0}, "area_ha": {"Wildfire": 4.0, "Harvest": 2.0}}
    ages = category_table(pd.DataFrame({"age_class": [1, 2], "age_range": ["0-19", "20-39"], "area_ha": [5.0, 6.0]}))
    assert list(ages.columns) == ["area_ha"] and list(ages.index) == ["0-19", "20-39"]
    assert category_table(pd.DataFrame({"year": [2010], "x": [1.0]})) is None
    fig = bars_figure("t", table, table * 2, "base", "branch")
    assert [len(ax.patches) for ax in fig.axes] == [4, 4]


def test_crop_to_data_keeps_every_valid_pixel():
    values = np.ma.masked_all((50, 60))
    values[10, 20] = 1.0
    values[12, 25] = 2.0
    cropped = crop_to_data(values, margin=1)
    assert cropped.shape == (5, 8) and cropped.count() == 2 and cropped.sum() == 3.0


def _grid_raster(values, transform, crs):
    return MapRaster(path="m.tif", year=2020, values=np.ma.masked_invalid(np.asarray(values, dtype="float64")),
                     transform=transform, crs=crs)


def test_difference_maps_are_drawn_to_scale_in_map_units():
    """At 54-55 N a degree of longitude is 0.58 of one of latitude: drawn as square pixels, the map
    was stretched 1.7x east-west. The panel is the data window (2 px margin) in degrees, to scale."""
    values = np.full((40, 60), np.nan)
    values[10:20, 30:50] = 1.0
    base = _grid_raster(values, (0.001, 0.0, -106.0, 0.0, -0.001, 55.0), "EPSG:4326")
    branch = _grid_raster(values * 2, base.transform, base.crs)
    ax = difference_maps_figure("t", [("b − a", map_difference(base, branch))]).axes[0]
    left, right, bottom, top = ax.images[0].get_extent()
    assert (left, right, bottom, top) == pytest.approx((-106.0 + 0.028, -106.0 + 0.052, 55.0 - 0.022, 55.0 - 0.008))
    assert ax.get_aspect() == pytest.approx(1 / math.cos(math.radians(55.0 - 0.015)))
    assert ax.images[0].get_array().shape == (14, 24)
    # a projected grid (metres) is drawn 1:1
    metres = _grid_raster(values, (30.0, 0.0, 500000.0, 0.0, -30.0, 6000000.0), "EPSG:3005")
    ax = difference_maps_figure("t", [("b − a", map_difference(metres, metres))]).axes[0]
    assert ax.get_aspect() == 1.0 and ax.images[0].get_extent()[0] == pytest.approx(500000.0 + 28 * 30.0)


def test_one_rule_tells_degrees_from_metres():
    """figures.is_geographic/map_aspect: the one rule the run's maps, compare and the scenario maps use."""
    from rasterio.crs import CRS

    from flintcloud.report.figures import is_geographic, map_aspect

    assert is_geographic("EPSG:4326") and is_geographic(CRS.from_epsg(4326).to_wkt()) and is_geographic("OGC:CRS84")
    assert is_geographic("")  # GCBM tiles without a CRS are in degrees
    assert not is_geographic("EPSG:3005") and not is_geographic("EPSG:32613")
    assert map_aspect((-106.0, -105.0, 54.0, 55.0), True) == pytest.approx(1.7220, abs=1e-4)
    assert map_aspect((0.0, 1.0, 54.0, 55.0), False) == 1.0


def test_map_difference_masks_nodata_and_refuses_other_grids():
    diff = map_difference(_raster([[1, 2], [np.nan, 4]]), _raster([[1, 5], [7, 2]]))
    assert diff.n_valid == 3 and diff.n_changed == 2
    assert (diff.min, diff.max, diff.sum) == (-2.0, 3.0, 1.0)
    with pytest.raises(ReportError, match="grids differ"):
        map_difference(_raster([[1, 2]]), _raster([[1], [2]]))


def test_base_dir_reads_a_reproduced_checkout_of_the_base(repo, tmp_path):
    """What CI does for fork PRs (no remote): `dvc repro` in a worktree of main, then --base-dir."""
    base = tmp_path / "base"
    git(repo, "worktree", "add", "-q", "--detach", str(base), "main")
    try:
        run([DVC, "repro", "-q"], base)
        out = tmp_path / "compare.md"
        result = CliRunner().invoke(main, ["compare", "main", "--repo", str(repo), "--base-dir", str(base),
                                           "--out", str(out)])
        assert result.exit_code == 0, result.output
        md = out.read_text()
        assert "| `simulation.growth` | 1\\.0 | 2\\.0 |" in md and "| 2,147.0 tC | 2,204.0 tC | +57.0 tC |" in md
        assert (tmp_path / "compare" / "total_ecosystem_difference.png").is_file()
        other = tmp_path / "other"
        other.mkdir()
        git(other, "init", "-q")
        git(other, "-c", "user.name=T", "-c", "user.email=t@example.org", "commit", "-q", "--allow-empty", "-m", "x")
        wrong = CliRunner().invoke(main, ["compare", "main", "--repo", str(repo), "--base-dir", str(other),
                                          "--out", str(out)])
        assert isinstance(wrong.exception, ReportError) and "checked out, not main" in str(wrong.exception)
    finally:
        git(repo, "worktree", "remove", "--force", str(base))
