"""Report tables as CSV + one .xlsx; provenance of a summary; the area disturbed at least once."""

from __future__ import annotations

import json
import re
import subprocess

import pandas as pd
import pytest
from openpyxl import load_workbook

from flintcloud.report import provenance as prov
from flintcloud.report import tables as tab
from flintcloud.report.disturbed_area import ANY, EVENTS, area_disturbed_once
from flintcloud.report.inventory import parse_inventory_settings
from flintcloud.report.markdown import write_report
from flintcloud.report.summarize import summarize_run

CTX = {"start": 2010, "end": 2012}
# the shape flintcloud.validate.ValidationReport.to_dict() writes
VALIDATION = {"target": "data/demo/project", "valid": True, "n_errors": 0, "n_warnings": 1, "errors": [],
              "warnings": [{"check": "disturbance_year", "message": "2 events in 2031, after the end year"}],
              "summary": {"root": ".", "mode": "project", "years": [2010, 2012], "layers_checked": 5,
                          "layers": {"age": "age"}}}
PROVENANCE = {"git_commit": "0123abc", "git_dirty": False, "input_project": "data/demo/project",
              "input_project_md5": "af58.dir", "flintcloud_version": "0.1.0", "libcbm_version": "2.10.2",
              "engine": "libcbm", "engine_version": "libcbm 2.10.2"}


def _summarize(run_dir, r):
    st = parse_inventory_settings({"hwp": {"enabled": True, "shares": {"sawnwood": 0.5, "paper": 0.5}}})
    return summarize_run(run_dir, r / "metrics.json", r / "plots", r / "figures", tables_dir=r / "tables",
                         inventory=st, provenance=PROVENANCE, validation=VALIDATION)


@pytest.fixture
def summarized(run_dir, tmp_path):
    r = tmp_path / "reports"
    return r, _summarize(run_dir, r)


def test_every_table_is_a_csv_and_a_sheet_with_units(summarized):
    r, m = summarized
    csvs = sorted(p.stem for p in (r / "tables").glob("*.csv"))
    assert csvs == sorted(["headline", "stock_changes", "inventory_summary", "inventory", "emissions_by_gas", "hwp",
                           "disturbance_losses", "by_classifier_Classifier1", "by_classifier_Classifier2",
                           "by_land_class", "by_age_class", "gwp", "provenance", "validation"])
    wb = load_workbook(r / "tables" / tab.WORKBOOK, read_only=True)
    assert wb.sheetnames[0] == "contents"
    assert len(wb.sheetnames) == len(csvs) + 1
    contents = list(wb["contents"].iter_rows(values_only=True))
    assert contents[0] == ("Sheet", "Table", "CSV file") and {row[2] for row in contents[1:]} == {f"{c}.csv" for c in csvs}
    inv = list(wb["inventory"].iter_rows(values_only=True))
    assert inv[0][0].startswith("GHG inventory by year")
    assert "Net emissions (+) / removals (-) [tCO2e]" in inv[1] and "Area [ha]" in inv[1] and "CH4 [t CH4]" in inv[1]
    assert inv[2][0] == 2010 and isinstance(inv[2][0], int)  # years are numbers in the workbook
    csv = pd.read_csv(r / "tables" / "inventory.csv")
    assert len(inv) - 2 == len(csv)
    net_col = inv[1].index("Net emissions (+) / removals (-) [tCO2e]")
    assert [row[net_col] for row in inv[2:]] == pytest.approx(list(csv["net_tco2e"]), abs=1e-6)
    by = list(wb["by_Classifier1"].iter_rows(values_only=True))
    assert by[1][:3] == ("Classifier1", "Area, end of 2010 [ha]", "Stock, end of 2010 [tC]")
    headline = pd.read_csv(r / "tables" / "headline.csv").set_index("figure")
    assert headline.loc["Total ecosystem carbon, end of 2012", "unit"] == "tC"
    assert float(headline.loc["Net emissions (+) / removals (-), 2010-2012 (UNFCCC sign; with HWP when enabled)",
                              "value"]) == pytest.approx(m["net_emissions_tco2e"])


def _md_tables(text: str) -> list[list[list[str]]]:
    """Every GitHub table of a Markdown text: rows of cells (header first, alignment row left out)."""
    tables, current = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if not all(set(c) <= set(":-") for c in cells):
                current.append(cells)
        elif current:
            tables.append(current)
            current = []
    return tables


def test_every_table_of_report_md_is_a_csv_and_a_sheet(run_dir, tmp_path):
    """inventory_markdown says every table of report.md is in tables/ as CSV and a sheet: the Provenance and
    "Validation of the inputs" tables too, with the same rows; and byte for byte the same on a second run."""
    r = tmp_path / "reports"
    _summarize(run_dir, r)
    (r / "validation.json").write_text(json.dumps(VALIDATION))
    params = {"project": {"dir": "data/demo/project"}, "simulation": {"engine": "libcbm"}, "report": {"title": "t"}}
    text = write_report(r / "report.md", params=params, metrics_path=r / "metrics.json", plots_dir=r / "plots",
                        figures_dir=r / "figures", validation_path=r / "validation.json", tables_dir=r / "tables")
    csvs = tab.read_tables(r / "tables")
    # each table of the report is one of the CSVs, known by its first column's header
    first = {tab.column_label(n, str(df.columns[0]), CTX): n for n, df in csvs.items()} | {"year": "stock_changes"}
    shown = [first.get(t[0][0].replace("\\", "")) for t in _md_tables(text)]
    assert None not in shown and {"provenance", "validation", "headline"} <= set(shown)
    unescape = lambda cell: re.sub(r"\\(.)", r"\1", cell)  # noqa: E731
    md_prov = next(t for t in _md_tables(text) if t[0][0] == "Provenance")
    assert [[unescape(c) for c in row] for row in md_prov[1:]] == csvs["provenance"].astype(str).values.tolist()
    assert csvs["provenance"].values.tolist()[0] == ["Code", "git commit 0123abc (clean)"]
    md_val = next(t for t in _md_tables(text) if t[0] == ["Check", "Result"])
    assert csvs["validation"].values.tolist() == [
        ["status", "passed"], *[[unescape(c) for c in row] for row in md_val[1:]],
        ["warning: disturbance_year", "2 events in 2031, after the end year"]]
    assert md_val[1:] == [["target", "data/demo/project"], ["mode", "project"], ["years", "2010, 2012"],
                          ["layers checked", "5"]]
    wb = load_workbook(r / "tables" / tab.WORKBOOK, read_only=True)
    assert list(wb["provenance"].iter_rows(values_only=True))[1] == ("Provenance", "Value")
    assert list(wb["validation"].iter_rows(values_only=True))[2] == ("status", "passed")
    again = tmp_path / "again"
    _summarize(run_dir, again)
    for name in ("provenance.csv", "validation.csv", tab.WORKBOOK):
        assert (again / "tables" / name).read_bytes() == (r / "tables" / name).read_bytes(), name


def test_workbook_is_byte_reproducible():
    tables = {"gwp": pd.DataFrame({"quantity": ["GWP CH4"], "value": ["28"], "note": ["x"]}),
              "emissions_by_gas": pd.DataFrame({"year": ["2010", "total"], "ch4_t": [1.0, 1.0]})}
    a, b = tab.workbook_bytes(tables, CTX), tab.workbook_bytes(tables, CTX)
    assert a == b


def test_sheet_names_are_excel_safe_and_unique():
    names = ["by_classifier_" + "x" * 40, "by_classifier_" + "x" * 41, "by_classifier_a/b:c"]
    out = tab.sheet_names(names)
    assert all(len(v) <= 31 for v in out.values()) and len(set(out.values())) == 3
    assert out["by_classifier_a/b:c"] == "by_a_b_c"


def test_metrics_carry_inventory_and_provenance(summarized):
    r, m = summarized
    on_disk = json.loads((r / "metrics.json").read_text())
    assert on_disk["git_commit"] == "0123abc" and on_disk["git_dirty"] is False
    assert on_disk["gwp_set"] == "AR5" and on_disk["co_accounting"] == "oxidised"
    assert on_disk["hwp_stock_end_tc"] > 0 and on_disk["hwp_net_emissions_tco2e"] < 0
    emissions = pd.read_csv(r / "plots" / "emissions.csv")
    assert list(emissions["year"]) == [2010, 2011, 2012]
    assert emissions["net_tco2e"].sum() == pytest.approx(on_disk["net_emissions_tco2e"], abs=1e-3)


def test_parse_lock_hash_and_dirty_paths():
    lock = {"stages": {
        "demo_inputs": {"outs": [{"path": "data/demo/project", "md5": "aaa.dir"}]},
        "simulate": {"deps": [{"path": "data/projects/x/", "md5": "bbb.dir"}],
                     "outs": [{"path": "build/output", "md5": "ccc.dir"}]},
        "report": {"outs": [{"path": "reports/report.md", "md5": "ddd"}]}}}
    assert prov.parse_lock_hash(lock, "data/demo/project") == "aaa.dir"
    assert prov.parse_lock_hash(lock, "data\\projects\\x") == "bbb.dir"
    assert prov.parse_lock_hash(lock, "elsewhere") is None
    porcelain = " M dvc.lock\n M reports/report.md\n M flintcloud/run.py\nR  a.py -> b.py\n"
    assert prov.dirty_paths(porcelain, prov.lock_outputs(lock)) == ["flintcloud/run.py", "b.py"]


def test_collect_provenance_in_a_git_repository(tmp_path):
    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / "dvc.lock").write_text("stages:\n  sim:\n    deps:\n    - path: data/p\n      md5: 123.dir\n"
                                       "    outs:\n    - path: reports/report.md\n      md5: 9\n")
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "report.md").write_text("a\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    out = tmp_path / "out"
    out.mkdir()
    (out / "run_summary.json").write_text(json.dumps({"engine": "libcbm", "engine_version": "libcbm 2.10.2"}))
    p = prov.collect_provenance(tmp_path, "data/p", out)
    head = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    assert p["git_commit"] == head.strip() and p["git_dirty"] is False
    assert p["input_project_md5"] == "123.dir" and p["engine"] == "libcbm" and p["engine_version"] == "libcbm 2.10.2"
    assert p["libcbm_version"] == "2.10.2" and p["flintcloud_version"] != "unknown"
    (tmp_path / "reports" / "report.md").write_text("b\n")  # the pipeline's own output: not a code change
    assert prov.collect_provenance(tmp_path, "data/p", out)["git_dirty"] is False
    (tmp_path / "code.py").write_text("x = 2\n")
    assert prov.collect_provenance(tmp_path, "data/p", out)["git_dirty"] is True
    nowhere = prov.collect_provenance(tmp_path / "out", None, tmp_path / "none")
    assert nowhere["engine"] == "unknown" and nowhere["input_project_md5"] == "unknown"


def test_area_disturbed_once_counts_a_stand_once():
    stands = pd.DataFrame({"area_ha": [10.0, 5.0, 2.0]})
    events = pd.DataFrame({"stand_id": [0, 0, 1, 1], "year": [2011, 2015, 2012, 2012],
                           "disturbance_type": ["Wildfire", "Clearcut", "Wildfire", "Wildfire"]})
    out = area_disturbed_once(stands, events)
    assert out == {"Wildfire": 15.0, "Clearcut": 10.0, ANY: 15.0, EVENTS: 30.0}
    assert area_disturbed_once(stands, events.iloc[:0]) == {ANY: 0.0, EVENTS: 0.0}


def test_workbook_bytes_do_not_depend_on_the_clock(monkeypatch):
    """openpyxl stamps docProps/core.xml's `modified` with the time of saving; the workbook fixes it, so the
    service's run and `dvc repro` of the same run give the same bytes."""
    import datetime as dt
    import io
    import zipfile

    import openpyxl.writer.excel as excel
    import pandas as pd

    from flintcloud.report.tables import workbook_bytes

    tables = {"stocks": pd.DataFrame({"year": [2010, 2011], "total_ecosystem": [1.5, 2.5]})}
    saved = []
    for year in (2030, 2031):  # two different clocks at save time (openpyxl.writer.excel.save_workbook reads it)
        class Clock(dt.datetime):
            @classmethod
            def now(cls, tz=None):
                return dt.datetime(year, 1, 1, tzinfo=tz)

        class FakeDatetimeModule:
            datetime = Clock
            timezone = dt.timezone

        monkeypatch.setattr(excel, "datetime", FakeDatetimeModule)
        saved.append(workbook_bytes(tables, {}))
    assert saved[0] == saved[1]
    core = zipfile.ZipFile(io.BytesIO(saved[0])).read("docProps/core.xml").decode()
    assert "2000-01-01T00:00:00Z</dcterms:modified>" in core


def test_project_hash_without_dvc_lock_is_dvcs_own(tmp_path):
    """Where dvc.lock has no entry (the service runs the stages without DVC), the input project's hash is
    computed as DVC computes it: the same md5 `dvc add` records."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from flintcloud.report.provenance import collect_provenance

    project = tmp_path / "data" / "project"
    (project / "layers").mkdir(parents=True)
    (project / "layers" / "a.json").write_text('{"nodata": 0}')
    (project / "gcbm_input.db").write_bytes(b"SQLite format 3\x00" + bytes(100))
    dvc = str(Path(sys.executable).parent / "dvc")
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    subprocess.run([dvc, "init", "--no-scm", "-q"], cwd=tmp_path, check=True, env=env)
    prov = collect_provenance(tmp_path, "data/project", tmp_path / "build")
    subprocess.run([dvc, "add", "-q", "data/project"], cwd=tmp_path, check=True, env=env)
    recorded = (tmp_path / "data" / "project.dvc").read_text()
    assert prov["input_project_md5"].endswith(".dir") and f"md5: {prov['input_project_md5']}" in recorded
