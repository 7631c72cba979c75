"""`flintcloud serve`: the HTTP API (and, unless --workers 0, the worker processes that run simulations)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import click

from flintcloud.errors import ConfigError


def worker_command(data_dir: Path, workers: int) -> list[str]:
    """`flintcloud worker` with this interpreter (the queue's task names are those of flintcloud.service.jobs)."""
    return [sys.executable, "-c", "from flintcloud.cli import run; run()", "worker", "--data-dir", str(data_dir),
            "--workers", str(workers)]


# One flag per flintcloud.service.settings.Limits field (a test keeps the two in step): --max-upload-bytes ...
LIMIT_HELP = {
    "max_upload_bytes": "Largest request body: one file, a zip or several files, in bytes",
    "max_files": "Input files per simulation",
    "max_total_bytes": "All inputs of one simulation, in bytes",
    "max_zip_entries": "Entries in one uploaded zip",
    "max_zip_ratio": "Uncompressed/compressed size of any zip entry (zip bombs)",
    "max_simulations_per_user": "Simulations one user may hold",
    "page_size": "Default page of list endpoints (at most 500)",
    "max_executor_workers": "Largest executor.n_workers a simulation may ask for (Dask workers)",
    "max_executor_threads": "Largest executor.threads_per_worker a simulation may ask for",
    "max_executor_memory_bytes": "Largest executor.memory_limit (per Dask worker) a simulation may ask for, in bytes",
}


def limit_options(func):
    """A --max-... option for each Limits field, [env FLINTCLOUD_MAX_...; default ...] in its help."""
    from dataclasses import fields

    from flintcloud.service.settings import ENV_PREFIX, Limits

    for f in reversed(fields(Limits)):
        func = click.option(f"--{f.name.replace('_', '-')}", f.name, type=click.IntRange(min=1), default=None,
                            help=f"{LIMIT_HELP[f.name]} [env {ENV_PREFIX}{f.name.upper()}; default {f.default}].")(func)
    return func


@click.command("serve")
@click.option("--host", default=None, help="Address to listen on [env FLINTCLOUD_HOST; default 127.0.0.1]. "
                                           "Without API tokens only loopback addresses are allowed.")
@click.option("--port", type=int, default=None, help="TCP port [env FLINTCLOUD_PORT; default 8080; 0 = any free].")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where simulations, runs, the store and the queue live [env FLINTCLOUD_DATA_DIR; default "
                   "data/service].")
@click.option("--workers", type=int, default=None,
              help="Worker processes started with the server (concurrent runs) [env FLINTCLOUD_WORKERS; default 1]; "
                   "0 = API only (run `flintcloud worker` elsewhere on the same data dir).")
@limit_options
def command(host, port, data_dir, workers, **limits) -> None:
    """Serve the flintcloud API (OpenAPI at /spec, docs at /docs). Limits: flag > environment > default."""
    import uvicorn

    from flintcloud.service.app import create_app
    from flintcloud.service.settings import read_settings
    from flintcloud.service.store import Store

    settings = read_settings(host=host, port=port, data_dir=data_dir, workers=workers, **limits)
    store = Store(settings.db_path).init()
    if not store.has_tokens():
        if not settings.is_loopback:
            raise ConfigError(
                f"no API tokens are configured, so the server only listens on loopback, not {settings.host!r}: "
                f"create one with `flintcloud token create USER --data-dir {settings.data_dir}` or use --host 127.0.0.1"
            )
        click.echo("flintcloud: no API tokens configured: listening on loopback only, every request acts as user "
                   "'local' (create tokens with `flintcloud token create USER`)", err=True)
    from flintcloud.service.jobs import mark_interrupted, stop_process

    # Before answering anything: runs the last server left 'running' with no live worker are interrupted.
    for run_id in mark_interrupted(store, settings):
        click.echo(f"flintcloud: run {run_id} was interrupted by the last stop (marked failed; it can be restarted)",
                   err=True)
    app = create_app(settings)
    worker = None
    if settings.workers > 0:
        worker = subprocess.Popen(worker_command(settings.data_dir, settings.workers))
    click.echo(f"flintcloud: data in {settings.data_dir}; {settings.workers} worker process(es); "
               f"http://{settings.host}:{settings.port}/docs", err=True)
    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame):  # stop the worker as soon as the server is told to stop
            if worker is not None and worker.poll() is None:
                worker.send_signal(signal.SIGTERM)  # huey interrupts its workers; their runs become "interrupted"
            super().handle_exit(sig, frame)

    try:
        Server(uvicorn.Config(app, host=settings.host, port=settings.port, log_level="info")).run()
    finally:
        if worker is not None:
            stop_process(worker, 60)
