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
@_data_dir
def create(user: str, data_dir) -> None:
    """Create a token for USER and print it (once)."""
    click.echo(_store(data_dir).create_token(_user(user)))


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
