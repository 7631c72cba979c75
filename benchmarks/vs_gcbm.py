"""`flintcloud run` against GCBM itself: the FLINT.Cloud demo and Belize, timed end to end.

    .venv/bin/python benchmarks/vs_gcbm.py                    # both cases, one run each
    .venv/bin/python benchmarks/vs_gcbm.py --cases demo --repeat 3
    .venv/bin/python benchmarks/vs_gcbm.py --shared /data/gcbm-data --name after-maps

Each run is the command a user types, `flintcloud run CONFIG --out OUT --no-progress`, in a fresh
process into a fresh output folder (so start-up and imports count, and nothing is overwritten), with
`--timings` for the split: start-up (process wall time minus the run's own seconds), grouping (config,
input db, landscape, stands), libcbm setup (parameters db, model), spinup, steps (annual steps without
the writers), maps (time the run waits for the map writers: queueing plus the final drain), raw db,
compile. The map writer threads' own seconds are listed too (they run beside the steps).

GCBM's times were measured on this kind of machine (2 cores; issue 20): 48.4 s on the FLINT.Cloud demo,
923 s on Belize. The goals: the demo at 20x (<= 2.42 s), Belize at 100x (<= 9.23 s). The data comes from
../shared/gcbm-data (or --shared / FLINTCLOUD_SHARED_DATA); a case whose data is absent is skipped with
the reason. Prints a table and writes benchmarks/results/<name>.json (git-ignored): every run's wall,
CPU and timings, the load average before and after, the commit. Timings on a shared machine vary with
its load: read the load columns before comparing numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"


# name -> (config folder under the shared data, GCBM's measured seconds, goal as a multiple of GCBM's speed)
CASES = {
    "demo": ("flint-cloud-linux-demo/config", 48.4, 20.0),
    "belize": ("belize/gcbm_project", 923.0, 100.0),
}
PARTS = [  # (column, key in the --timings JSON or computed below)
    ("start-up", "startup_seconds"),
    ("grouping", "grouping_seconds"),
    ("setup", "libcbm_setup_seconds"),
    ("spinup", "spinup_seconds"),
    ("steps", "steps_seconds"),
    ("maps", "maps_seconds"),
    ("raw db", "raw_db_seconds"),
    ("compile", "compile_seconds"),
]


def shared_data(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    return Path(os.environ.get("FLINTCLOUD_SHARED_DATA", REPO.parent / "shared" / "gcbm-data"))


def breakdown(timings: dict, wall: float) -> dict:
    """Pure: the table's parts from `flintcloud run --timings` JSON and the process wall time."""
    out = dict(timings)
    out["startup_seconds"] = round(wall - float(timings.get("seconds", 0.0)), 3)
    steps = float(timings.get("steps_and_reporters_seconds", 0.0))
    out["steps_seconds"] = round(steps - float(timings.get("reporters_in_steps_seconds", 0.0)), 3)
    return out


def run_once(config: Path, work: Path, flintcloud: list[str]) -> dict:
    out, timings = work / "out", work / "timings.json"
    cmd = [*flintcloud, "run", str(config), "--out", str(out), "--no-progress", "--timings", str(timings)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    record = breakdown(json.loads(timings.read_text()), wall)
    record.update(
        wall_seconds=round(wall, 3),
        cpu_seconds=round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 3),
        load_before=round(load0, 2),
        load_after=round(os.getloadavg()[0], 2),
        maps=len(list((out / "spatial").glob("*.tif"))),
        line=done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "",
    )
    return record


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), default=list(CASES))
    parser.add_argument("--repeat", type=int, default=1, help="runs per case (the table shows the fastest)")
    parser.add_argument("--shared", default=None, help="the shared gcbm-data folder (default ../shared/gcbm-data)")
    parser.add_argument("--name", default="vs_gcbm", help="results file benchmarks/results/<name>.json")
    args = parser.parse_args(argv)

    exe = Path(sys.executable).with_name("flintcloud")
    flintcloud = [str(exe)] if exe.exists() else [sys.executable, "-m", "flintcloud"]
    data = shared_data(args.shared)
    result = {"commit": commit(), "host": platform.node(), "cpus": os.cpu_count(), "python": platform.python_version(),
              "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "cases": {}}
    rows = []
    for name in args.cases:
        rel, gcbm_seconds, goal = CASES[name]
        config = data / rel
        if not (config / "gcbm_config.cfg").is_file():
            reason = f"no GCBM config at {config}"
            print(f"{name}: skipped ({reason})")
            result["cases"][name] = {"skipped": reason}
            continue
        runs = []
        for _ in range(max(1, args.repeat)):
            work = Path(tempfile.mkdtemp(prefix=f"vs_gcbm_{name}_"))
            try:
                runs.append(run_once(config, work, flintcloud))
            finally:
                shutil.rmtree(work, ignore_errors=True)  # (not timed)
        best = min(runs, key=lambda r: r["wall_seconds"])
        speedup = gcbm_seconds / best["wall_seconds"]
        result["cases"][name] = {"config": str(config), "gcbm_seconds": gcbm_seconds, "goal_speedup": goal,
                                 "goal_seconds": round(gcbm_seconds / goal, 2), "speedup": round(speedup, 1),
                                 "best": best, "runs": runs}
        rows.append((name, best, gcbm_seconds, speedup, goal))

    if rows:
        head = ["case", "pixels", "stands", "years", "maps", "wall s", "cpu s", "load", "GCBM s", "x GCBM", "goal"]
        head += [c for c, _ in PARTS] + ["map threads"]
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join("---:" if i else "---" for i in range(len(head))) + "|")
        for name, b, gcbm_seconds, speedup, goal in rows:
            cells = [name, f"{b['pixels']:,}", f"{b['unique_stands']:,}", str(b["years"]), str(b["maps"]),
                     f"{b['wall_seconds']:.2f}", f"{b['cpu_seconds']:.2f}", f"{b['load_before']:.1f}-{b['load_after']:.1f}",
                     f"{gcbm_seconds:g}", f"{speedup:.1f}", f"{goal:g}x ({gcbm_seconds / goal:.2f} s)"]
            cells += [f"{float(b.get(key, 0.0)):.2f}" for _, key in PARTS]
            cells.append(f"{float(b.get('map_writer_thread_seconds', 0.0)):.2f}")
            print("| " + " | ".join(cells) + " |")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{args.name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
