"""The `flintcloud` command line, in the style of rasterio's `rio`.

One click group; one module per subcommand under flintcloud/cli/, each
registering itself on `main`. Each subcommand calls the same library function
as the matching DVC stage.
"""

from __future__ import annotations

import importlib
import sys

import click

from flintcloud import __version__
from flintcloud.errors import FlintcloudError

# Subcommand modules (flintcloud/cli/<name>.py). Each defines a click command named `command`.
_SUBCOMMANDS = [
    "run",
    "validate",
    "build_db",
    "demo",
    "configure",
    "compile",
    "diff_outputs",
    "mosaic",
    "summarize",
    "report",
    "compare",
    "history",
    "remote",
    "flint",
    "serve",
    "worker",
    "token",
]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="flintcloud")
def main() -> None:
    """Run GCBM (CBM-CFS3) forest-carbon simulations reproducibly."""


for _name in _SUBCOMMANDS:
    main.add_command(importlib.import_module(f"flintcloud.cli.{_name}").command)


def run() -> None:
    """Entry point that turns FlintcloudError into one clear line and exit code 1."""
    try:
        main.main(standalone_mode=False)
    except click.exceptions.Exit as ex:
        sys.exit(ex.exit_code)
    except click.ClickException as ex:
        ex.show()
        sys.exit(ex.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except FlintcloudError as ex:
        click.echo(f"flintcloud: error: {ex}", err=True)
        sys.exit(1)
    except OSError as ex:
        if ex.filename is None:
            raise
        # A filesystem refusal outside flintcloud's own checks (permissions, a vanished folder): the path
        # and the cause, not a traceback. OSErrors without a path are bugs and keep their traceback.
        where = repr(str(ex.filename)) + (f" -> {str(ex.filename2)!r}" if ex.filename2 else "")
        click.echo(f"flintcloud: error: {where}: {ex.strerror or ex}", err=True)
        sys.exit(1)
