"""Runs as jobs: a persistent queue (huey on SQLite, in the data directory) and the worker side.

    enqueue_run(settings, run_id)      the API puts a run on the queue (status 'queued' in the store)
    run_consumer(settings)             `flintcloud worker`: N worker processes take runs off the queue

Each queued run is executed by one huey worker process, which starts a runner subprocess
(`python -m flintcloud.service.runner`) that calls flintcloud.pipeline.run_pipeline — the web
process never simulates. The worker supervises it: heartbeats, cancel (SIGTERM to the runner,
whose atomic writes then clean up), and a crash or kill becomes status failed with the reason.
Concurrency is bounded by the number of worker processes. Queued runs persist in queue.db and
start when a worker (re)starts; runs found 'running' with no live runner are marked failed
"interrupted" and can be restarted (POST .../restart).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from huey import SqliteHuey

from flintcloud.service.paths import run_dir
from flintcloud.service.settings import ServiceSettings
from flintcloud.service.store import Store

TASK_NAME = "flintcloud.run"
INTERRUPTED = "interrupted: the worker running it stopped (server restart or crash); restart the run"
POLL_SECONDS = 0.5


def make_queue(settings: ServiceSettings) -> SqliteHuey:
    """The huey queue of a data directory, with the run task registered (same name in API and workers)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    huey = SqliteHuey(name="flintcloud", filename=str(settings.queue_path), results=False, journal_mode="wal")

    @huey.task(name=TASK_NAME)
    def run_task(run_id: str) -> None:
        supervise_run(settings, run_id)

    huey.flintcloud_run = run_task
    return huey


def enqueue_run(huey: SqliteHuey, run_id: str) -> None:
    huey.flintcloud_run(run_id)


def queue_ping(settings: ServiceSettings) -> int:
    """Pending jobs in the queue (raises if queue.db cannot be read)."""
    huey = SqliteHuey(name="flintcloud", filename=str(settings.queue_path), results=False, journal_mode="wal")
    return huey.pending_count()


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (finished, not yet reaped) is not alive.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return True


def mark_interrupted(store: Store, settings: ServiceSettings, host: str | None = None) -> list[str]:
    """Runs 'running' whose runner is gone (this host: pid dead; other hosts: no heartbeat) -> failed."""
    host = host or socket.gethostname()
    now = time.time()
    out = []
    for run in store.running_runs():
        stale = (run.host == host and not pid_alive(run.pid)) or (
            run.host != host and (run.heartbeat or 0) < now - settings.heartbeat_timeout)
        if stale:
            store.finish_run(run.id, "failed", INTERRUPTED)
            out.append(run.id)
    return out


def requeue_orphans(store: Store, huey: SqliteHuey) -> list[str]:
    """Queued runs in the store that the queue no longer holds (e.g. its db was lost): enqueue again."""
    pending = set()
    for task in huey.pending():
        if task.args:
            pending.add(task.args[0])
    out = []
    for run in store.queued_runs():
        if run.id not in pending:
            enqueue_run(huey, run.id)
            out.append(run.id)
    return out


def runner_command(settings: ServiceSettings, run_id: str) -> list[str]:
    return [sys.executable, "-m", "flintcloud.service.runner", "--data-dir", str(settings.data_dir), run_id]


def supervise_run(settings: ServiceSettings, run_id: str) -> None:
    """In a huey worker process: claim the run, start its runner, watch it until it ends."""
    store = Store(settings.db_path)
    run = store.get_run_any(run_id)
    if run is None or run.status != "queued":
        return  # deleted, cancelled while queued, or already taken
    rdir = run_dir(settings.data_dir, run.simulation_id, run_id)
    rdir.mkdir(parents=True, exist_ok=True)
    host = socket.gethostname()
    # The run belongs to this worker process from now on; its runner dies with it (PDEATHSIG),
    # so "this pid is gone" means "the run was interrupted".
    if not store.claim_run(run_id, host, os.getpid()):
        return
    with open(rdir / "run.log", "ab") as log:
        proc = subprocess.Popen(runner_command(settings, run_id), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    cancelled = False
    try:
        while proc.poll() is None:
            time.sleep(POLL_SECONDS)
            current = store.get_run_any(run_id)
            if current is None or current.cancel_requested:
                cancelled = True
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                break
            store.heartbeat(run_id)
    except BaseException:
        # The worker itself is stopping (SIGTERM/SIGINT on restart): stop the runner too.
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        current = store.get_run_any(run_id)
        if current is not None and current.status == "running":
            store.finish_run(run_id, "failed", INTERRUPTED)
        raise
    current = store.get_run_any(run_id)
    if current is None or current.status != "running":
        return  # the runner recorded succeeded/failed itself
    if cancelled or current.cancel_requested:
        store.finish_run(run_id, "cancelled", "cancelled by the user; earlier results are unchanged")
    else:
        store.finish_run(run_id, "failed", f"the run's process exited with code {proc.returncode} "
                                           f"without a result (see the run's log)")


def run_consumer(settings: ServiceSettings) -> None:
    """`flintcloud worker`: recover, then consume the queue with settings.workers processes (blocks)."""
    store = Store(settings.db_path).init()
    huey = make_queue(settings)
    for rid in mark_interrupted(store, settings):
        print(f"flintcloud worker: run {rid} was interrupted (marked failed; it can be restarted)", flush=True)
    requeue_orphans(store, huey)
    consumer = huey.create_consumer(workers=max(1, settings.workers), worker_type="process", periodic=False,
                                    initial_delay=0.1, max_delay=1.0, backoff=1.15, check_worker_health=True)
    print(f"flintcloud worker: {max(1, settings.workers)} worker process(es) on {settings.queue_path}", flush=True)
    consumer.run()
