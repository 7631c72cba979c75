"""Scale benchmark: the whole pipeline on synthetic demo landscapes of 10^5 -> 10^7 pixels.

    .venv/bin/python benchmarks/scale.py                       # 1e5, 1e6, 1e7 pixels x 50 years
    .venv/bin/python benchmarks/scale.py --sizes 1e5 1e6 --name quick
    .venv/bin/python benchmarks/scale.py --large               # also 1e8 pixels (10000^2, 3 x 3 tiles)

For each size, in a fresh subprocess (so peak RSS is that size's own): generate the demo project
(flintcloud.demo, not timed as a stage), then the pipeline's stages through the same library functions
the stage scripts call: validate (validate_project) -> configure (write_gcbm_config) -> simulate
(run_project: grouping, engine + raw db + maps, compile) -> summarize (summarize_run) -> report
(write_report). Maps: 6 indicators at 6 years. Prints a table and writes
benchmarks/results/<name>.json (git-ignored). The generation is timed apart (`generate s`, not in the
total): the demo generator's speed at 10^7 pixels is checked here, not in tests/demo (no timing in tests).

Also, by default: the simulate stage again with the dask executor (a 2-worker LocalCluster) for the
sizes up to --dask-max (local / dask time ratio), and on the smallest size the ratio to running libcbm
once per pixel (no grouping: one engine row per pixel, engine only, both runs with the same
in-memory totals reporter; their totals are compared as a check).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"

INDICATORS = ["Age", "Total_Ecosystem_C", "Total_Biomass_C", "Soil_C", "NPP", "NBP"]
MAX_SIDE = 16000  # flintcloud.demo.project.MAX_SIDE: 4 x 4 tiles of 4000 x 4000 cells


def side_of(pixels: float) -> int:
    """Pixels per side of the square demo landscape; past 4000 it spans several 1-degree tiles."""
    side = int(round(float(pixels) ** 0.5))
    return min(side, MAX_SIDE)


def map_years(start: int, end: int) -> list[int]:
    """Six years: the first, four evenly spaced, the last."""
    n = end - start
    return sorted({start + round(i * n / 5) for i in range(6)})


class PeakRss:
    """Peak resident memory of this process plus its children (dask workers), sampled every 0.1 s."""

    def __init__(self):
        import psutil

        self.proc = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def sample(self) -> int:
        import psutil

        total = 0
        for p in [self.proc, *self.proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        self.peak = max(self.peak, total)
        return total

    def _loop(self):
        while not self._stop.wait(0.1):
            self.sample()

    def __enter__(self):
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.sample()


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def params_for(project: Path, start: int, end: int) -> dict:
    import yaml

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["project"]["dir"] = str(project)
    params["simulation"].update(start_year=start, end_year=end)
    params["outputs"].update(indicators=INDICATORS, years=map_years(start, end))
    return params


# --------------------------------------------------------------------------- one size (subprocess)


def run_one(pixels: float, years: int, work: Path, executor: str, per_pixel: bool) -> dict:
    from flintcloud.demo import generate_demo_project
    from flintcloud.gcbm.config_writer import settings_from_params, write_gcbm_config
    from flintcloud.report.markdown import write_report
    from flintcloud.report.summarize import summarize_run
    from flintcloud.run import run_project
    from flintcloud.validate import validate_project
    from flintcloud.validate import write_report as write_validation

    start, end = 2010, 2010 + years - 1
    side = side_of(pixels)
    work.mkdir(parents=True, exist_ok=True)
    project = work / "project"
    result: dict = {"target_pixels": float(pixels), "side": side, "grid_cells": side * side, "years": years,
                    "executor": executor}
    stages: dict[str, float] = {}

    def timed(name, fn):
        t = time.perf_counter()
        out = fn()
        stages[name] = round(time.perf_counter() - t, 3)
        return out

    with PeakRss() as rss:
        # generated afresh (and timed: the `generate s` column) except for the dask run, which reuses it
        if executor != "dask" or not (project / "input_database" / "gcbm_input.db").is_file():
            t = time.perf_counter()
            generate_demo_project(project, size=side, start_year=start, end_year=end, overwrite=True)
            result["generate_seconds"] = round(time.perf_counter() - t, 3)
        params = params_for(project, start, end)
        rss_before = rss.sample()
        report = timed("validate", lambda: validate_project(project, params=params, root=work))
        if report.errors:
            raise SystemExit(f"validation failed: {report.errors[:3]}")
        write_validation(report, work / "reports" / "validation.json")
        config = work / "config"
        timed("configure", lambda: write_gcbm_config(project, config, settings_from_params(params, base_dir=work)))
        out = work / f"output-{executor}"
        ex = {"kind": "dask", "n_workers": 2, "threads_per_worker": 1} if executor == "dask" else "local"
        summary = timed("simulate", lambda: run_project(config, out, map_years=params["outputs"]["years"],
                                                         overwrite=True, executor=ex))
        reports = work / "reports"
        # maps=False: the summary's cumulative-NBP map needs NBP in every year; this run maps 6 years.
        timed("summarize", lambda: summarize_run(out, reports / "metrics.json", reports / "plots",
                                                 reports / "figures", maps=False))
        timed("report", lambda: write_report(reports / "report.md", params=params,
                                             metrics_path=reports / "metrics.json", plots_dir=reports / "plots",
                                             figures_dir=reports / "figures",
                                             validation_path=reports / "validation.json"))
    record = json.loads((out / "run_summary.json").read_text())
    total = sum(stages.values())
    result.update(
        pixels=record["pixels"], unique_stands=record["unique_stands"], spinup_groups=record["spinup_groups"],
        stage_seconds=stages, simulate_parts=dict(summary.timings),
        end_to_end_seconds=round(total, 3),
        pixel_years_per_second=round(record["pixels"] * years / total, 1),
        simulate_pixel_years_per_second=round(record["pixels"] * years / stages["simulate"], 1),
        peak_rss_bytes=rss.peak, peak_rss_before_pipeline_bytes=rss_before,
        driver_maxrss_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        output_bytes=dir_bytes(out), maps=len(list((out / "spatial").glob("*.tif"))),
        summary_line=summary.line(),
    )
    if per_pixel:
        result["per_pixel"] = per_pixel_ratio(config)
    return result


def per_pixel_ratio(config_dir: Path) -> dict:
    """Engine time with one libcbm row per pixel vs one per unique stand (same totals expected)."""
    import numpy as np
    import pandas as pd

    from flintcloud.engine import simulate
    from flintcloud.engine.step import StepTotals
    from flintcloud.gcbm.config import read_gcbm_config
    from flintcloud.inputdb.reader import read_input_db
    from flintcloud.landscape.grid import pixel_area_ha
    from flintcloud.landscape.raster import read_landscape
    from flintcloud.landscape.stands import StandSet, group_stands

    config = read_gcbm_config(config_dir)
    inputs = read_input_db(config.db_path)
    dt = inputs.disturbance_types
    type_ids = dict(zip(dt["name"], dt["id"].astype(int)))
    type_codes = {int(c): n for c, n in zip(dt["code"], dt["name"]) if c == c and c is not None}
    stands = group_stands(read_landscape(config), inputs.spatial_unit_id, type_ids, type_codes)

    flat = stands.pixel_stand.ravel()
    pixels = np.flatnonzero(flat >= 0)
    of = flat[pixels]
    rows = pixels // stands.pixel_stand.shape[1]
    per = stands.stands.iloc[of].reset_index(drop=True)
    per["area_ha"] = pixel_area_ha(stands.grid)[rows]
    per["n_pixels"] = 1
    owner = pd.DataFrame({"stand_id": of, "pixel": np.arange(len(of))})
    ev = stands.events.merge(owner, on="stand_id").drop(columns="stand_id").rename(columns={"pixel": "stand_id"})
    ungrouped = StandSet(stands=per, events=ev.sort_values(["stand_id", "year"]).reset_index(drop=True),
                         pixel_stand=np.arange(len(of)).reshape(1, -1), grid=stands.grid,
                         classifier_names=stands.classifier_names)

    out = {}
    totals = {}
    for name, s in (("grouped", stands), ("per_pixel", ungrouped)):
        rep = StepTotals()
        t = time.perf_counter()
        simulate(config, s, inputs, [rep], progress=False)
        out[f"{name}_engine_seconds"] = round(time.perf_counter() - t, 3)
        out[f"{name}_rows"] = int(s.n_stands)
        totals[name] = rep.pool_frame().set_index(["year", "pool"])["value"]
    a, b = totals["grouped"], totals["per_pixel"].reindex(totals["grouped"].index)
    # per (year, pool); pools below 1 tC (e.g. empty ones) are compared absolutely
    out["max_rel_diff_total_pools"] = float(((a - b).abs() / b.abs().clip(lower=1.0)).max())
    out["ratio"] = round(out["per_pixel_engine_seconds"] / out["grouped_engine_seconds"], 2)
    return out


# --------------------------------------------------------------------------- driver


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def table(results: list[dict]) -> str:
    head = ["pixels", "stands", "validate", "configure", "simulate", "summarize", "report", "total s",
            "px-yr/s", "peak RSS", "output", "dask sim s", "local/dask", "generate s"]
    lines = [" | ".join(head), " | ".join("---" for _ in head)]
    for r in results:
        if "error" in r:
            lines.append(f"{r['target_pixels']:.0e} | {r['error']}")
            continue
        s = r["stage_seconds"]
        d = r.get("dask") or {}
        lines.append(" | ".join([
            f"{r['pixels']:,}", f"{r['unique_stands']:,}", *(f"{s[k]:.1f}" for k in
                                                            ("validate", "configure", "simulate", "summarize", "report")),
            f"{r['end_to_end_seconds']:.1f}", f"{r['pixel_years_per_second']:,.0f}", human_bytes(r["peak_rss_bytes"]),
            human_bytes(r["output_bytes"]), f"{d['stage_seconds']['simulate']:.1f}" if d else "-",
            f"{s['simulate'] / d['stage_seconds']['simulate']:.2f}" if d else "-",
            f"{r['generate_seconds']:.1f}" if "generate_seconds" in r else "-",
        ]))
    return "\n".join(lines)


def subprocess_run(args: list[str]) -> dict:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", nargs="+", type=float, default=[1e5, 1e6, 1e7], help="pixel counts")
    ap.add_argument("--large", action="store_true", help="also 1e8 pixels (a 10000 x 10000 landscape over 3 x 3 tiles)")
    ap.add_argument("--years", type=int, default=50)
    ap.add_argument("--dask-max", type=float, default=1e7, help="largest size also run with the dask executor")
    ap.add_argument("--no-per-pixel", action="store_true", help="skip the once-per-pixel ratio")
    ap.add_argument("--work-dir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "flintcloud-bench")
    ap.add_argument("--name", default="scale")
    ap.add_argument("--one", type=float, help=argparse.SUPPRESS)
    ap.add_argument("--executor", default="local", help=argparse.SUPPRESS)
    ap.add_argument("--per-pixel", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)

    if a.one is not None:  # child process: one size, JSON on the last stdout line
        work = a.work_dir / f"px{int(a.one):d}-y{a.years}"
        print(json.dumps(run_one(a.one, a.years, work, a.executor, a.per_pixel)))
        return

    load_at_start = os.getloadavg()
    sizes = sorted(set(a.sizes + ([1e8] if a.large else [])))
    results = []
    for i, px in enumerate(sizes):
        common = ["--one", str(px), "--years", str(a.years), "--work-dir", str(a.work_dir)]
        print(f"[{time.strftime('%H:%M:%S')}] {px:.0e} pixels x {a.years} years ...", file=sys.stderr, flush=True)
        if side_of(px) ** 2 < px * 0.9:
            print(f"  the demo generator makes at most {MAX_SIDE}^2: {side_of(px) ** 2:.2e} pixels",
                  file=sys.stderr)
        r = subprocess_run(common + (["--per-pixel"] if i == 0 and not a.no_per_pixel else []))
        r.setdefault("target_pixels", px)
        if "error" not in r and px <= a.dask_max:
            print(f"[{time.strftime('%H:%M:%S')}]   ... and with the dask executor", file=sys.stderr, flush=True)
            r["dask"] = subprocess_run(common + ["--executor", "dask"])
        results.append(r)
        print(table(results[-1:]).splitlines()[-1], file=sys.stderr, flush=True)

    doc = {
        "name": a.name, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "memory_bytes": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
                    "load_average_at_start": load_at_start, "load_average_at_end": os.getloadavg(),
                    "GDAL_CACHEMAX": os.environ.get("GDAL_CACHEMAX", "default (5% of RAM)")},
        "indicators": INDICATORS, "results": results,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{a.name}.json"
    path.write_text(json.dumps(doc, indent=2) + "\n")
    print(table(results))
    for r in results:
        if "per_pixel" in r:
            p = r["per_pixel"]
            print(f"\nonce per pixel ({p['per_pixel_rows']:,} rows) vs grouped ({p['grouped_rows']:,} stands), engine "
                  f"only: {p['per_pixel_engine_seconds']:.1f} s / {p['grouped_engine_seconds']:.1f} s = {p['ratio']}x "
                  f"(total pools agree to {p['max_rel_diff_total_pools']:.1e})")
    print(f"\nwritten {path}")


if __name__ == "__main__":
    main()
