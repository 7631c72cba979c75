"""`flintcloud remote`: set up, check, push to and pull from the DVC remotes (flintcloud.remote)."""

from __future__ import annotations

from pathlib import Path

import click

from flintcloud import remote as remotes

_repo_option = click.option(
    "--repo", type=click.Path(file_okay=False, path_type=Path), default=".", show_default=True,
    help="The flintcloud checkout (the directory holding .dvc/).",
)
_remote_option = click.option(
    "-r", "--remote", "name", type=click.Choice(remotes.REMOTES), default=None,
    help="Remote to use (default: the configured default remote, `local` unless FLINTCLOUD_DVC_REMOTE says otherwise).",
)


@click.group("remote")
def command() -> None:
    """DVC remotes: `local` (a directory beside the checkout) and `azure` (Azure Blob)."""


@command.command("setup")
@_repo_option
def setup(repo: Path) -> None:
    """Write both remotes into .dvc/config (overrides from the environment into .dvc/config.local)."""
    effective = remotes.configure_remotes(repo)
    click.echo(f"remote 'local': {effective['local']}")
    click.echo(f"remote 'azure': {effective['azure']} ({remotes.azure_credentials_source(repo)})")
    click.echo(f"default remote: {effective['default']}")


@command.command("check")
@_repo_option
@_remote_option
def check(repo: Path, name: str | None) -> None:
    """Fail fast, naming the remote, when it cannot be reached."""
    info = remotes.check_remote(repo, name)
    click.echo(f"DVC remote {info.name!r} ({info.url}) is reachable")


@command.command("push")
@_repo_option
@_remote_option
@click.option("--no-run-cache", is_flag=True, help="Do not push the run-cache (pushed by default).")
@click.argument("targets", nargs=-1)
def push(repo: Path, name: str | None, no_run_cache: bool, targets: tuple[str, ...]) -> None:
    """Check the remote and the cache's integrity, `dvc push --run-cache [TARGETS]`, then verify the remote
    holds every file the pushed outputs need and upload what an interrupted push left out (safe to rerun).

    TARGETS (optional): .dvc files or stages to push, e.g. data/projects/my_project.dvc; default all.
    """
    result = remotes.push(repo, name, targets=targets, run_cache=not no_run_cache)
    info = result.info
    if result.repaired:
        click.echo(
            f"the remote lacked {len(result.repaired)} object(s) although DVC reported it in sync (an earlier push "
            "was interrupted); uploaded them from the cache", err=True,
        )
    click.echo(f"pushed to DVC remote {info.name!r} ({info.url}); verified it holds all {result.checked} "
               "object(s) the workspace's outputs need")


@command.command("pull")
@_repo_option
@_remote_option
@click.option("--run-cache", is_flag=True, help="Also pull the run-cache.")
@click.argument("targets", nargs=-1)
def pull(repo: Path, name: str | None, run_cache: bool, targets: tuple[str, ...]) -> None:
    """Check the remote, drop corrupted cache objects, `dvc pull [TARGETS]` (downloads are re-hashed), then
    re-hash the workspace and restore every DVC-tracked file that does not match dvc.lock."""
    info, dropped, restored = remotes.pull(repo, name, targets=targets, run_cache=run_cache)
    for path in dropped:
        click.echo(f"dropped corrupted cache object {path} (downloaded again)", err=True)
    for problem in restored:
        click.echo(f"restored corrupted workspace file {problem.describe(repo.resolve())}", err=True)
    click.echo(f"pulled from DVC remote {info.name!r} ({info.url})")


@command.command("verify-cache")
@_repo_option
@click.option("--remove", is_flag=True, help="Delete the corrupted objects (they can be fetched again).")
def verify_cache(repo: Path, remove: bool) -> None:
    """Re-hash every object in the DVC cache; exit 1 if any does not match its name."""
    from flintcloud.errors import RemoteError

    cache_dir = remotes.dvc_cache_dir(repo)
    bad = remotes.verify_cache(cache_dir, remove=remove)
    listed = "\n".join(f"  - {p}" for p in bad)
    if bad and not remove:
        raise RemoteError(
            f"{len(bad)} corrupted object(s) in the DVC cache {str(cache_dir)!r} (rerun with --remove to delete "
            f"them, then `dvc fetch` or `dvc commit -f`):\n{listed}"
        )
    if bad:
        click.echo(f"removed {len(bad)} corrupted object(s) from the DVC cache {cache_dir}:\n{listed}", err=True)
    else:
        click.echo(f"DVC cache {cache_dir} verified: every object matches its hash")


@command.command("verify")
@_repo_option
@click.option("--repair", is_flag=True, help="Restore the files that differ from the cache (`dvc checkout`).")
def verify(repo: Path, repair: bool) -> None:
    """Re-hash the workspace's DVC-tracked files against dvc.lock and .dvc files (never trusting mtimes).

    Exit 1, listing each file, when one differs from its recorded hash; --repair restores them from the
    (re-hashed) cache. `dvc status` trusts modification times and misses a file corrupted in place.
    """
    from flintcloud.errors import RemoteError

    root = repo.resolve()
    if repair:
        bad = remotes.verify_cache(remotes.dvc_cache_dir(root), remove=True)
        for path in bad:
            click.echo(f"dropped corrupted cache object {path} (run `flintcloud remote pull` to fetch it)", err=True)
        restored = remotes.repair_workspace(root)
        for problem in restored:
            click.echo(f"restored {problem.describe(root)}", err=True)
    problems = remotes.verify_workspace(root)
    corrupt = [p for p in problems if p.actual is not None]
    if corrupt:
        listed = "; ".join(p.describe(root) for p in corrupt)
        raise RemoteError(
            f"{len(corrupt)} workspace file(s) differ from their recorded hash (`flintcloud remote verify --repair` "
            f"or `flintcloud remote pull` restores them): {listed}"
        )
    missing = len(problems) - len(corrupt)
    click.echo(f"workspace verified: every DVC-tracked file matches dvc.lock"
               + (f" ({missing} file(s) of partly present outputs missing: `dvc checkout`)" if missing else ""))
