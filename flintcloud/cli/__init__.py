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

# Subcommand name -> module (flintcloud/cli/<module>.py), which defines a click command named `command`.
# A module is imported when its command runs (or --help lists it), so `flintcloud run` does not pay
# for validate's, report's or remote's imports; a missing or broken module is still an ImportError
# for its command and for --help (tests/test_cli.py imports every one and checks the names).
SUBCOMMANDS = {
    "run": "run",
    "validate": "validate",
    "build-db": "build_db",
    "demo": "demo",
    "configure": "configure",
    "compile": "compile",
    "diff-outputs": "diff_outputs",
    "mosaic": "mosaic",
    "summarize": "summarize",
    "report": "report",
    "compare": "compare",
    "history": "history",
    "remote": "remote",
    "flint": "flint",
    "serve": "serve",
    "worker": "worker",
    "token": "token",
}


class LazyGroup(click.Group):
    """A click group importing each subcommand's module on first use (click's documented lazy pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *SUBCOMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in SUBCOMMANDS:
            command = importlib.import_module(f"flintcloud.cli.{SUBCOMMANDS[cmd_name]}").command
            # Importing flintcloud.cli.run binds this package's attribute `run` to that submodule; the
            # console entry point `flintcloud.cli:run` (the function below) must stay what `run` names.
            globals()["run"] = _entry_point
            if command.name != cmd_name:
                raise ImportError(
                    f"flintcloud.cli.{SUBCOMMANDS[cmd_name]} defines command {command.name!r}, listed as {cmd_name!r}"
                )
            self.add_command(command)
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="flintcloud")
def main() -> None:
    """Run GCBM (CBM-CFS3) forest-carbon simulations reproducibly."""


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


_entry_point = run
