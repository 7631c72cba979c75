"""`flintcloud token create USER` / `flintcloud token revoke USER|--token T`: API tokens (stored hashed)."""

from __future__ import annotations

from pathlib import Path

import click

from flintcloud.errors import ConfigError

_data_dir = click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                         help="The server's data directory [env FLINTCLOUD_DATA_DIR; default data/service].")


def _store(data_dir):
    from flintcloud.service.settings import read_settings
    from flintcloud.service.store import Store

    return Store(read_settings(data_dir=data_dir).db_path).init()


def _user(user: str) -> str:
    import re

    if not re.fullmatch(r"[A-Za-z0-9_.@+-]{1,100}", user):
        raise ConfigError(f"user {user!r}: use letters, digits and _ . @ + - (at most 100)")
    return user


@click.group("token")
def command() -> None:
    """Create and revoke API tokens. The token is printed once; only its SHA-256 is stored."""


@command.command("create")
@click.argument("user")
@click.option("--if-none", is_flag=True,
              help="Only when no token exists yet (a deployment's first start; a later start creates nothing).")
@_data_dir
def create(user: str, if_none: bool, data_dir) -> None:
    """Create a token for USER and print it (once)."""
    store = _store(data_dir)
    if if_none and store.has_tokens():
        click.echo("tokens exist already: none created")
        return
    token = store.create_token(_user(user))
    click.echo(f"API token for {user} (shown once):" if if_none else token, err=if_none)
    if if_none:
        click.echo(token)


@command.command("revoke")
@click.argument("user", required=False)
@click.option("--token", default=None, help="Revoke only this token (else every token of USER).")
@_data_dir
def revoke(user, token, data_dir) -> None:
    """Revoke USER's tokens (or one --token)."""
    if user is None and token is None:
        raise ConfigError("give USER or --token")
    n = _store(data_dir).revoke_tokens(user=user, token=token)
    click.echo(f"revoked {n} token(s)")
