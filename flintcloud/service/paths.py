"""The one place where anything that came from a request becomes a path.

Simulations and runs are stored under ids the service generates (32 hex digits); titles and
uploaded file names never become paths. `data_path(data_dir, *parts)` is the single function
that maps ids and checked names to a path inside the data directory and refuses anything else;
`check_name` is the rule for a file name a client sent.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path, PurePosixPath

from flintcloud.errors import FlintcloudError

ID_RE = re.compile(r"^[0-9a-f]{32}$")
# A file name: letters, digits, '_', '-', '.', '+', not starting with '.', at most 200 characters.
NAME_RE = re.compile(r"^[A-Za-z0-9_+\-][A-Za-z0-9_.+\-]{0,199}$")
TITLE_RE = re.compile(r"^[^\x00-\x1f/\\]{1,200}$")


class UnsafePathError(FlintcloudError, ValueError):
    """A name or id from a request would leave its folder (or is not a plain name)."""


def new_id() -> str:
    return uuid.uuid4().hex


def check_id(value: str, what: str = "id") -> str:
    if not isinstance(value, str) or not ID_RE.match(value):
        raise UnsafePathError(f"{what} {value!r} is not an id (32 lower-case hex digits)")
    return value


def check_name(value: str, what: str = "file name") -> str:
    """A plain file name: no separators, no '..', no NUL, no absolute path, no leading dot."""
    if not isinstance(value, str) or not value:
        raise UnsafePathError(f"{what} is empty")
    if "\x00" in value:
        raise UnsafePathError(f"{what} {value!r} contains a NUL byte")
    if "/" in value or "\\" in value:
        raise UnsafePathError(f"{what} {value!r} contains a path separator; send plain file names")
    if value in (".", "..") or ".." in value:
        raise UnsafePathError(f"{what} {value!r} contains '..'")
    if not NAME_RE.match(value):
        raise UnsafePathError(
            f"{what} {value!r} is not a plain file name (letters, digits, '_', '-', '+', '.', "
            f"not starting with '.', at most 200 characters)"
        )
    return value


def check_title(value: str) -> str:
    """Titles are labels, never paths; still, refuse NUL, control characters and separators."""
    if not isinstance(value, str) or not value.strip():
        raise UnsafePathError("title is empty")
    if "\x00" in value:
        raise UnsafePathError(f"title {value!r} contains a NUL byte")
    if ".." in value:
        raise UnsafePathError(f"title {value!r} contains '..'")
    if not TITLE_RE.match(value):
        raise UnsafePathError(f"title {value!r} contains a path separator or control character (at most 200 characters)")
    return value


def check_relative(value: str, what: str = "zip entry") -> PurePosixPath:
    """A relative POSIX path whose every part is a plain name (zip entries)."""
    if "\x00" in value:
        raise UnsafePathError(f"{what} {value!r} contains a NUL byte")
    if value.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", value):
        raise UnsafePathError(f"{what} {value!r} is an absolute path")
    if "\\" in value:
        raise UnsafePathError(f"{what} {value!r} contains a backslash")
    parts = [p for p in value.split("/") if p not in ("",)]
    if any(p in (".", "..") for p in parts):
        raise UnsafePathError(f"{what} {value!r} contains '.' or '..' (zip slip)")
    for p in parts:
        check_name(p, f"{what} {value!r} part")
    return PurePosixPath(*parts)


def data_path(data_dir: Path, *parts: str) -> Path:
    """`data_dir/parts...`, each part a checked id or name, and provably inside data_dir."""
    root = Path(data_dir).resolve()
    path = root
    for part in parts:
        if not ID_RE.match(part):
            check_name(part, "path part")
        path = path / part
    resolved = path.resolve()
    if resolved != root and root not in resolved.parents:
        raise UnsafePathError(f"{'/'.join(parts)!r} resolves outside the data directory")
    return path


def simulation_dir(data_dir: Path, sim_id: str) -> Path:
    return data_path(data_dir, "simulations", check_id(sim_id, "simulation id"))


def run_dir(data_dir: Path, sim_id: str, run_id: str) -> Path:
    return data_path(data_dir, "simulations", check_id(sim_id, "simulation id"), "runs", check_id(run_id, "run id"))
