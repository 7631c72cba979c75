"""Load benchmark of the service: N concurrent clients on a real `flintcloud serve` (loopback, free port).

Each client creates a simulation, uploads the built-in demo (one zip), starts a run and polls its
status until it ends; while runs are in flight, the client also lists its simulations. Every request's
latency is recorded. Prints a table and writes benchmarks/results/<name>.json:
runs completed, errors (any non-2xx or failed run; must be 0), p50/p99 latency of status and list,
run throughput (runs per minute, wall clock), peak memory (RSS of serve + its worker + the runners,
sampled every 0.1 s).

    .venv/bin/python benchmarks/load.py --clients 4 --runs-per-client 2 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil

from flintcloud.service.routers.webapp import demo_zip

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Memory(threading.Thread):
    """Peak RSS of a process tree, sampled every 0.1 s."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0, threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                root = psutil.Process(self.pid)
                procs = [root, *root.children(recursive=True)]
                total = 0
                for p in procs:
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:
                        pass
                self.peak = max(self.peak, total)
            except psutil.Error:
                pass
            time.sleep(0.1)


def client_work(url: str, i: int, runs: int, payload: bytes, out: dict, lock: threading.Lock) -> None:
    lat = {"status": [], "list": [], "create": [], "upload": [], "start": []}
    errors, done = [], 0

    def timed(kind, fn):
        t = time.perf_counter()
        r = fn()
        lat[kind].append(time.perf_counter() - t)
        if r.status_code >= 400:
            errors.append(f"{kind}: {r.status_code} {r.text[:200]}")
        return r

    with httpx.Client(base_url=url, timeout=300) as c:
        for k in range(runs):
            sim = timed("create", lambda: c.post("/api/v1/simulations", json={"title": f"client {i} run {k}"})).json()
            base = f"/api/v1/simulations/{sim['id']}"
            timed("upload", lambda: c.post(base + "/inputs", files={"files": ("demo.zip", payload)}))
            run = timed("start", lambda: c.post(base + "/runs")).json()
            while True:
                st = timed("status", lambda: c.get(f"{base}/runs/{run['id']}")).json()
                timed("list", lambda: c.get("/api/v1/simulations", params={"limit": 20}))
                if st["status"] in ("succeeded", "failed", "cancelled"):
                    break
                time.sleep(0.25)
            if st["status"] == "succeeded":
                done += 1
            else:
                errors.append(f"run {run['id']}: {st['status']}: {st.get('error')}")
    with lock:
        out["done"] += done
        out["errors"] += errors
        for kind, values in lat.items():
            out["latency"].setdefault(kind, []).extend(values)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--runs-per-client", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2, help="worker processes of the server (concurrent runs)")
    ap.add_argument("--name", default="load")
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="flintcloud-load-"))
    payload = demo_zip()  # the bytes the web app's 'built-in demo' button uploads
    port = free_port()
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "ITERATIVE_DO_NOT_TRACK": "1"}
    log = open(work / "serve.log", "wb")
    server = subprocess.Popen([sys.executable, "-c", "from flintcloud.cli import run; run()", "serve", "--port",
                               str(port), "--data-dir", str(work / "data"), "--workers", str(args.workers)],
                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(url + "/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        mem = Memory(server.pid)
        mem.start()
        out, lock = {"done": 0, "errors": [], "latency": {}}, threading.Lock()
        started = time.perf_counter()
        threads = [threading.Thread(target=client_work, args=(url, i, args.runs_per_client, payload, out, lock))
                   for i in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - started
        mem.stop.set()
        mem.join()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=120)
        log.close()
        shutil.rmtree(work, ignore_errors=True)

    lat = out["latency"]
    result = {
        "clients": args.clients, "runs_per_client": args.runs_per_client, "workers": args.workers,
        "runs_requested": args.clients * args.runs_per_client, "runs_completed": out["done"],
        "errors": len(out["errors"]), "error_messages": out["errors"][:20],
        "wall_seconds": round(wall, 1), "runs_per_minute": round(out["done"] / wall * 60, 2),
        "peak_rss_bytes": mem.peak, "cpu_count": os.cpu_count(),
        "latency_ms": {k: {"n": len(v), "p50": round(pct(v, 0.5) * 1e3, 1), "p99": round(pct(v, 0.99) * 1e3, 1),
                           "mean": round(statistics.fmean(v) * 1e3, 1)} for k, v in lat.items() if v},
    }
    rows = [("runs completed", f"{result['runs_completed']} / {result['runs_requested']}"),
            ("errors", str(result["errors"])),
            ("wall time", f"{result['wall_seconds']} s"), ("run throughput", f"{result['runs_per_minute']} runs/min"),
            ("peak memory (serve+workers+runners)", f"{mem.peak / 2**20:.0f} MiB")]
    for kind in ("status", "list", "create", "upload", "start"):
        if kind in result["latency_ms"]:
            l = result["latency_ms"][kind]
            rows.append((f"{kind} latency p50 / p99 (n)", f"{l['p50']} / {l['p99']} ms ({l['n']})"))
    width = max(len(r[0]) for r in rows)
    print(f"flintcloud load: {args.clients} clients x {args.runs_per_client} runs, {args.workers} workers")
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"-> {out_dir / (args.name + '.json')}")
    if out["errors"]:
        print("errors:\n  " + "\n  ".join(out["errors"][:20]))
        sys.exit(1)


if __name__ == "__main__":
    main()
