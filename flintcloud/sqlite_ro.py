"""Read-only SQLite opens: the one way flintcloud opens a database it must not change.

`sqlite3.connect(f"file:{path}?mode=ro", uri=True)` is wrong for any path holding
`#`, `?` or `%` (SQLite reads `run#1/x.db` as the file `run` plus a fragment: the
database looks empty and an empty file `run` appears). `ro_uri(path)` builds the URI
from the absolute path with every special character percent-encoded; `connect_ro`
opens it and closes the connection when the `with` block ends.
Bottom layer: imports only the standard library.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path


def ro_uri(path: str | os.PathLike) -> str:
    """SQLite URI opening `path` read-only (never creates a file; `#`, `?`, `%` and spaces are safe)."""
    return Path(path).resolve().as_uri().replace("file://", "file:", 1) + "?mode=ro"


@contextlib.contextmanager
def connect_ro(path: str | os.PathLike, *, timeout: float = 5.0) -> Iterator[sqlite3.Connection]:
    """An open read-only connection to `path`, closed on exit (sqlite3's own `with` only commits)."""
    conn = sqlite3.connect(ro_uri(path), uri=True, timeout=timeout)
    try:
        yield conn
    finally:
        conn.close()
