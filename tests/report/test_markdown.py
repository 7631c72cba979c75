from __future__ import annotations

import json
import re

import pandas as pd
import pytest
import yaml

from flintcloud.errors import ReportError
from flintcloud.report import markdown as md
from flintcloud.report.summarize import summarize_run

from .conftest import expected

PARAMS = {
    "project": {"dir": "data/demo/project", "demo": {"seed": 42, "size": "small"}},
    "simulation": {"start_year": 2010, "end_year": 2012, "engine": "libcbm"},
    "outputs": {"indicators": ["Total_Ecosystem_C", "NBP"], "years": None},
    "report": {"title": "Test run", "decimals": 1, "include_maps": True},
}


@pytest.fixture
def reports(run_dir, tmp_path):
    r = tmp_path / "reports"
    summarize_run(run_dir, r / "metrics.json", r / "plots", r / "figures")
    # the shape flintcloud.validate.ValidationReport.to_dict() writes
    (r / "validation.json").write_text(json.dumps({
        "target": "data/demo/project", "valid": True, "n_errors": 0, "n_warnings": 1, "errors": [],
        "warnings": [{"check": "layers", "message": "2 pixels nodata", "layer": "age"}],
        "summary": {"root": "/abs/elsewhere", "mode": "project", "years": [2010, 2012], "layers_checked": 5}}))
    return r


def write(reports, params=PARAMS):
    return md.write_report(reports / "report.md", params=params, metrics_path=reports / "metrics.json",
                           plots_dir=reports / "plots", figures_dir=reports / "figures",
                           validation_path=reports / "validation.json")


def test_report_has_headline_values_charts_maps_validation_and_params(reports):
    text = write(reports)
    assert (reports / "report.md").read_text() == text
    assert text.startswith("# Test run\n")
    te = expected()["te"][2012]
    row = next(line for line in text.splitlines() if line.startswith("| Total ecosystem carbon, end of 2012"))
    assert f"{te:,.1f}" in row and row.rstrip().endswith("| tC |")
    # every image link is relative and points at a file that exists
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(links) == 7  # 5 charts (net emissions with the inventory) + 2 maps
    for link in links:
        assert not link.startswith("/") and "://" not in link
        assert (reports / link).is_file()
    assert "**Passed**, 1 warning(s)." in text and "- 2 pixels nodata" in text and "| layers checked | 5 |" in text
    assert "| years | 2010, 2012 |" in text and "/abs/elsewhere" not in text
    assert "| Wildfire | 10.0 | 170.0 | 25.0 |" in text
    params_block = text.split("```yaml\n")[1].split("```")[0]
    assert yaml.safe_load(params_block) == PARAMS


def test_maps_can_be_left_out(reports):
    params = {**PARAMS, "report": {**PARAMS["report"], "include_maps": False}}
    text = write(reports, params)
    assert "## Maps" not in text and "map_total_ecosystem_c.png" not in text
    assert "stocks.png" in text


def test_failed_validation_lists_every_problem():
    out = md.validation_section({"valid": False, "errors": [
        {"check": "layers", "message": "layer 'age' CRS EPSG:3005 != EPSG:4326"}, {"check": "years", "message": "year 1990"}]})
    assert out.startswith("**Failed** - 2 problem(s).")
    assert "- layer 'age' CRS EPSG:3005 != EPSG:4326" in out and "- year 1990" in out


def test_md_table_formats_numbers_and_escapes_pipes():
    df = pd.DataFrame({"name": ["a|b"], "value": [12345.678]})
    assert md.md_table(df, 1) == "| name | value |\n|:---|---:|\n| a\\|b | 12,345.7 |\n"


def test_missing_metrics_is_a_report_error(reports):
    (reports / "metrics.json").unlink()
    with pytest.raises(ReportError, match="metrics file .*metrics.json.* not found"):
        write(reports)
    assert not (reports / "report.md").exists()
