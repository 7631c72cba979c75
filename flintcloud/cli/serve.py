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
def command(host, port, data_dir, workers) -> None:
    """Serve the flintcloud API (OpenAPI at /spec, docs at /docs)."""
    import uvicorn

    from flintcloud.service.app import create_app
    from flintcloud.service.settings import read_settings
    from flintcloud.service.store import Store

    settings = read_settings(host=host, port=port, data_dir=data_dir, workers=workers)
    store = Store(settings.db_path).init()
    if not store.has_tokens():
        if not settings.is_loopback:
            raise ConfigError(
                f"no API tokens are configured, so the server only listens on loopback, not {settings.host!r}: "
                f"create one with `flintcloud token create USER --data-dir {settings.data_dir}` or use --host 127.0.0.1"
            )
        click.echo("flintcloud: no API tokens configured: listening on loopback only, every request acts as user "
                   "'local' (create tokens with `flintcloud token create USER`)", err=True)
    app = create_app(settings)
    worker = None
    if settings.workers > 0:
        worker = subprocess.Popen(worker_command(settings.data_dir, settings.workers))
    click.echo(f"flintcloud: data in {settings.data_dir}; {settings.workers} worker process(es); "
               f"http://{settings.host}:{settings.port}/docs", err=True)
    try:
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")
    finally:
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)  # huey stops its workers; their runs are marked interrupted
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                worker.kill()
