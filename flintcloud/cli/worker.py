"""`flintcloud worker`: worker processes only, taking runs from the data directory's queue."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("worker")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The data directory the API uses [env FLINTCLOUD_DATA_DIR; default data/service].")
@click.option("--workers", type=int, default=None,
              help="Worker processes = concurrent runs [env FLINTCLOUD_WORKERS; default 1].")
def command(data_dir, workers) -> None:
    """Run queued simulations (the API's `serve --workers 0` leaves this to you)."""
    from flintcloud.service.jobs import run_consumer
    from flintcloud.service.settings import read_settings

    run_consumer(read_settings(data_dir=data_dir, workers=workers))
