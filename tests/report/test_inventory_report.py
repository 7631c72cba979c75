"""The inventory view as a reader sees it: report.md sections and the charts' content."""

from __future__ import annotations

import math
import sqlite3

import numpy as np
import pandas as pd
import pytest

from flintcloud.report import figures as fig
from flintcloud.report import inventory as inv
from flintcloud.report import summarize as s
from flintcloud.report.inventory_markdown import inventory_sections, md_table, provenance_section
from flintcloud.report.markdown import write_report
from flintcloud.report.summarize import summarize_run

from .conftest import FIRE

CTX = {"start": 2010, "end": 2012}
PARAMS = {"project": {"dir": "data/demo/project"}, "simulation": {"engine": "libcbm"},
          "report": {"title": "Inventory", "decimals": 1}}


def test_report_shows_provenance_inventory_breakdowns_and_losses(run_dir, tmp_path):
    r = tmp_path / "reports"
    prov = {"git_commit": "0123abc", "git_dirty": True, "input_project": "data/demo/project",
            "input_project_md5": "af58.dir", "flintcloud_version": "0.1.0", "libcbm_version": "2.10.2",
            "engine": "libcbm", "engine_version": "libcbm 2.10.2"}
    summarize_run(run_dir, r / "metrics.json", r / "plots", r / "figures", tables_dir=r / "tables",
                  inventory=inv.parse_inventory_settings({"gwp": "AR4"}), provenance=prov)
    text = write_report(r / "report.md", params=PARAMS, metrics_path=r / "metrics.json", plots_dir=r / "plots",
                        figures_dir=r / "figures", validation_path=None, tables_dir=r / "tables")
    head = text.split("## Headline figures")[0]
    assert "| Code | git commit 0123abc (with uncommitted changes) |" in head
    assert "DVC md5 af58\\.dir" in head and "libcbm 2\\.10\\.2" in head
    assert "## Greenhouse-gas inventory" in text and "| GWP CH4 | 25 |" in text
    assert "### By classifier Classifier1" in text and "### By age class" in text
    assert "| Wildfire | 10.0 | – | 170.0 |" in text  # events area, at least once not known here, emitted tC
    # the old per-type table is replaced by the losses table
    assert text.count("| Wildfire |") == 1
    assert "tables/report\\_tables\\.xlsx" in text
    net_row = next(line for line in text.splitlines() if line.startswith("| Net emissions (+) / removals (-), 2010"))
    assert "tCO2e" in net_row


def test_project_text_is_escaped_in_tables():
    df = pd.DataFrame({"Species": ["![x](../.dvc/config.local)", "total"], "nbp_tc": [1.5, 1.5]})
    out = md_table("by_classifier_Species", df, 1, CTX)
    assert "![x](" not in out and "\\!\\[x\\]\\(\\.\\./\\.dvc/config\\.local\\)" in out
    assert out.splitlines()[0] == "| Species | NBP \\(\\> 0 \\= sink\\) \\[tC\\] |"
    sections = inventory_sections({"by_classifier_<b>": df.rename(columns={"Species": "<b>"})}, 1, CTX, "tables")
    assert "<b>" not in sections.replace("<details>", "").replace("</details>", "").replace("<summary>", "")


def test_provenance_section_needs_provenance():
    assert provenance_section({"start_year": 2010}) == ""
    assert "(clean)" in provenance_section({"git_commit": "x", "git_dirty": False})


# ---------------------------------------------------------------- charts


@pytest.fixture
def chart_tables(compiled_db):
    tables = s.read_compiled_tables(compiled_db)
    summary = s.summarize_tables(tables)
    view = inv.build_inventory(tables, inv.parse_inventory_settings(
        {"hwp": {"enabled": True, "shares": {"sawnwood": 1.0}}}), area_once={"Wildfire": 7.0, "_any": 7.0})
    return {**summary.tables, **view.tables}


def test_stock_chart_marks_the_post_spinup_row(chart_tables):
    charts = fig.charts(chart_tables)
    ax = charts["stocks"].axes[0]
    marks = [line for line in ax.lines if list(line.get_xdata()) == [2009, 2009]]
    assert len(marks) == 1 and marks[0].get_linestyle() == ":"
    assert any("after spinup" in t.get_text() for t in ax.texts)


def test_flux_chart_draws_the_nep_to_nbp_gap(chart_tables):
    ax = fig.charts(chart_tables)["stock_changes"].axes[0]
    heights = [p.get_height() for p in ax.patches]
    changes = chart_tables["stock_changes"]
    assert heights == pytest.approx(list(-changes["disturbance_losses"]))
    assert changes["disturbance_losses"].max() == pytest.approx(FIRE["co2"] + FIRE["ch4"] + FIRE["co"] + FIRE["products"])
    assert np.allclose(changes["nep"] - changes["nbp"], changes["disturbance_losses"])


def test_disturbance_chart_has_carbon_and_area_panels(chart_tables):
    f = fig.charts(chart_tables)["disturbance_emissions"]
    carbon, area = f.axes[:2]
    widths = sorted(p.get_width() for p in carbon.patches)
    assert widths == pytest.approx(sorted([170.0, 25.0, 300.0]))
    assert sorted(p.get_width() for p in area.patches) == pytest.approx([7.0, 10.0])
    labels = [t.get_text() for t in area.get_legend().get_texts()]
    assert labels == ["sum of events (a stand hit twice counts twice)", "disturbed at least once"]


def test_age_chart_shows_start_and_end(chart_tables):
    ax = fig.charts(chart_tables)["age_classes"].axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["end of 2010", "end of 2012"]


def test_net_emissions_chart_stacks_parts_to_the_net(chart_tables):
    ax = fig.charts(chart_tables)["net_emissions"].axes[0]
    net = [line for line in ax.lines if line.get_label() == "net"][0]
    total = chart_tables["inventory"]
    total = total[total["unfccc_land_class"] == "total"]
    assert list(net.get_ydata()) == pytest.approx(list(total["net_tco2e"]))


def test_maps_are_drawn_to_scale_at_their_latitude():
    arr = np.ones((4, 4))
    f = fig.map_figure(arr, (-106.0, -105.9, 54.4, 54.6), "t", "tC/ha", geographic=True)
    assert f.axes[0].get_aspect() == pytest.approx(1 / math.cos(math.radians(54.5)))
    g = fig.map_figure(arr, (0, 400, 0, 400), "t", "tC/ha", geographic=False)
    assert g.axes[0].get_aspect() == 1.0


def test_breakdown_by_a_classifier_value_with_markdown_in_it(compiled_db, tmp_path):
    with sqlite3.connect(compiled_db) as c:
        for table in ("v_stock_change_indicators", "v_age_indicators", "v_pool_indicators"):
            c.execute(f"UPDATE {table} SET Classifier1 = '[TA](http://x)' WHERE Classifier1 = 'TA'")
    view = inv.build_inventory(s.read_compiled_tables(compiled_db), inv.parse_inventory_settings(None))
    text = inventory_sections(view.tables, 1, CTX, "tables")
    assert "[TA](http://x)" not in text and "\\[TA\\]\\(http\\:" in text
