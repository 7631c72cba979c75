"""A succeeded run's results, read from its DVC project folder (see flintcloud.pipeline).

Names a client asks for are looked up in listings made here (tables from sqlite_master, maps and
figures from the folder), never joined onto a path or into SQL directly.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import re
import sqlite3
import zipfile
from collections.abc import Iterator
from pathlib import Path

from flintcloud.params import OUTPUT_LAYOUT
from flintcloud.service.deps import NotFound
from flintcloud.sqlite_ro import ro_uri

RUN_OUTPUT = "build/output"  # the simulate stage's output folder in a run's DVC project (dvc.yaml)
COMPILED_DB = f"{RUN_OUTPUT}/{OUTPUT_LAYOUT.compiled_db}"
RAW_DB = f"{RUN_OUTPUT}/{OUTPUT_LAYOUT.raw_db}"
SPATIAL = f"{RUN_OUTPUT}/{OUTPUT_LAYOUT.spatial_dir}"
SUMMARY = f"{RUN_OUTPUT}/{OUTPUT_LAYOUT.summary_file}"
FIGURES = "reports/figures"
REPORT_MD = "reports/report.md"
METRICS = "reports/metrics.json"


def metrics(project: Path) -> dict:
    with open(project / METRICS, encoding="utf-8") as fh:
        return json.load(fh)


def report_markdown(project: Path) -> str:
    return (project / REPORT_MD).read_text(encoding="utf-8")


_FIGURE_SRC = re.compile(r'(<img\b[^>]*?\bsrc=")figures/([^"/]+)(")')


def inline_figures(body: str, project: Path) -> str:
    """The report's <img src="figures/<name>.png"> as data: URIs of the PNGs themselves (no re-encoding: the
    figures are already compressed; base64 adds a third), so the page shows its figures wherever it is opened:
    saved by curl, downloaded as a blob by the web app, or fetched with a bearer token an <img> cannot send.
    The name is looked up in the figures listing, never joined onto a path."""
    names = set(figure_names(project))

    def data_uri(m: re.Match) -> str:
        name = html.unescape(m.group(2))
        if name not in names:
            return m.group(0)
        encoded = base64.b64encode((project / FIGURES / name).read_bytes()).decode("ascii")
        return f"{m.group(1)}data:image/png;base64,{encoded}{m.group(3)}"

    return _FIGURE_SRC.sub(data_uri, body)


def report_html(project: Path, title: str) -> str:
    """report.md as one standalone HTML page, its figures inlined (inline_figures)."""
    import markdown

    body = inline_figures(markdown.markdown(report_markdown(project), extensions=["tables", "fenced_code"]), project)
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2rem .5rem}"
        "img{max-width:100%}</style></head>\n<body>\n" + body + "\n</body></html>\n"
    )


def figure_names(project: Path) -> list[str]:
    d = project / FIGURES
    return sorted(p.name for p in d.glob("*.png")) if d.is_dir() else []


def figure_path(project: Path, name: str) -> Path:
    if name not in figure_names(project):
        raise NotFound(f"figure {name!r} not found; available: {', '.join(figure_names(project))}")
    return project / FIGURES / name


def map_names(project: Path) -> list[str]:
    d = project / SPATIAL
    return sorted(p.name for p in d.glob("*.tif")) if d.is_dir() else []


def map_path(project: Path, name: str) -> Path:
    names = map_names(project)
    if name not in names:
        raise NotFound(f"map {name!r} not found ({len(names)} maps, e.g. {', '.join(names[:3])})")
    return project / SPATIAL / name


def _connect_ro(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise NotFound(f"{path.name} not found in the run's outputs")
    return sqlite3.connect(ro_uri(path), uri=True)  # safe for # ? % in the data directory's path


def table_names(project: Path) -> list[str]:
    conn = _connect_ro(project / COMPILED_DB)
    try:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view') ORDER BY name").fetchall()
    finally:
        conn.close()
    return [r[0] for r in rows]


def table_csv(project: Path, name: str) -> Iterator[str]:
    """One compiled table as CSV lines. The name must be one listed by table_names (no SQL from requests)."""
    names = table_names(project)
    if name not in names:
        raise NotFound(f"table {name!r} not found; available: {', '.join(names)}")
    quoted = '"' + names[names.index(name)].replace('"', '""') + '"'  # the listed name, not the request's
    conn = _connect_ro(project / COMPILED_DB)
    try:
        cur = conn.execute(f"SELECT * FROM {quoted}")
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow([d[0] for d in cur.description])
        while rows := cur.fetchmany(5000):
            writer.writerows(rows)
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
        if buf.getvalue():
            yield buf.getvalue()
    finally:
        conn.close()


def write_results_zip(project: Path, dest: Path) -> Path:
    """Everything a user wants from a run: metrics, report (md + html + figures), tables CSV, maps, dbs."""
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(project / METRICS, "metrics.json")
        zf.write(project / REPORT_MD, "report.md")
        zf.writestr("report.html", report_html(project, "flintcloud run report"))
        for name in figure_names(project):
            zf.write(project / FIGURES / name, f"figures/{name}")
        for name in table_names(project):
            zf.writestr(f"tables/{name}.csv", "".join(table_csv(project, name)))
        for name in map_names(project):
            zf.write(project / SPATIAL / name, f"maps/{name}")
        zf.write(project / RAW_DB, "gcbm_output.db")
        zf.write(project / COMPILED_DB, "compiled_gcbm_output.db")
        for extra in ("reports/validation.json", SUMMARY, "params.yaml"):
            if (project / extra).is_file():
                zf.write(project / extra, Path(extra).name)
    return dest


def write_project_zip(project: Path, dest: Path, record: dict | None = None) -> Path:
    """The run as a DVC project: params.yaml, data/project (inputs), dvc.yaml, stages/, .dvc/ — and the
    outputs, so `dvc repro` reproduces them (without the outputs it rebuilds them)."""
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(project.rglob("*")):
            rel = path.relative_to(project).as_posix()
            if path.is_file() and not rel.startswith(".dvc/cache") and not rel.startswith(".dvc/tmp"):
                zf.write(path, f"flintcloud-run/{rel}")
        if record is not None:
            zf.writestr("flintcloud-run/run_record.json", json.dumps(record, indent=2) + "\n")
    return dest


# FLINT.Cloud's config template names the raw database output/simulation_output.db (modules_output.json,
# CBMAggregatorSQLiteWriter databasename), and its /gcbm/download zips that output folder: clients look for it there.
FLINT_CLOUD_RAW_DB = "simulation_output.db"


def flint_cloud_zip(project: Path, dest: Path, log_path: Path | None) -> Path:
    """/gcbm/download: GCBM's output folder as FLINT.Cloud zips it (raw db, compiled db, maps, logs): the
    names inside the zip are FLINT.Cloud's, fixed by its API, whatever our own output layout calls them.

    The raw database is there under FLINT.Cloud's name (simulation_output.db) and under GCBM's own, which
    docs/service.md promises (gcbm_output.db): the same bytes."""
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(project / RAW_DB, FLINT_CLOUD_RAW_DB)
        zf.write(project / RAW_DB, "gcbm_output.db")
        zf.write(project / COMPILED_DB, "compiled_gcbm_output.db")
        zf.write(project / SUMMARY, "run_summary.json")
        for name in map_names(project):
            zf.write(project / SPATIAL / name, f"spatial/{name}")
        if log_path is not None and log_path.is_file():
            zf.write(log_path, "logs/run.log")
    return dest
