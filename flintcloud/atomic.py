"""Write outputs so that a failed or interrupted run leaves nothing half-written.

Everything is written to a temporary sibling path first and moved into place
with os.replace (atomic on one filesystem). If anything fails, the previous
output is untouched and the temporary path is removed.

Temporary siblings are named ``.<name>.tmp-<host>-<pid>-<random>`` (and the previous output, while it
is being swapped out, ``.<name>.old-<host>-<pid>``). A process killed with SIGKILL cannot clean up, so
the next write of the same target removes the temporaries of *its own name* whose writer is dead: the
host tag matches this machine and no process with that PID exists. Nothing else is ever removed; a
``.old-`` folder of a dead writer whose target is missing (killed between the two renames) is put back.

A write that runs out of disk space is reported as :class:`~flintcloud.errors.OutputError` naming the
target and the free space, not as a bare ``OSError``/``sqlite3.OperationalError``.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import socket
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

from flintcloud.errors import OutputError

_DISK_FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def _host_tag() -> str:
    return hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _as_if_created(path: Path, mode: int) -> None:
    """mkdtemp/mkstemp make owner-only paths; give them the mode a plain open/mkdir would."""
    os.chmod(path, mode & ~_umask())


def _tmp_prefix(target: Path) -> str:
    return f".{target.name}.tmp-{_host_tag()}-{os.getpid()}-"


def _old_name(target: Path) -> Path:
    return target.parent / f".{target.name}.old-{_host_tag()}-{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return True  # never treat a nonsense PID as dead
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def stale_temporaries(target: str | os.PathLike) -> list[Path]:
    """Temporary siblings of `target` left by a dead writer on this host (see the module docstring)."""
    target = Path(os.path.abspath(target))
    parent = target.parent
    if not parent.is_dir():
        return []
    pattern = re.compile(
        rf"^\.{re.escape(target.name)}\.(?:tmp-(?P<h1>[0-9a-f]{{8}})-(?P<p1>\d+)-.+|old-(?P<h2>[0-9a-f]{{8}})-(?P<p2>\d+))$"
    )
    host = _host_tag()
    stale = []
    for entry in parent.iterdir():
        match = pattern.match(entry.name)
        if not match:
            continue
        tag, pid = (match["h1"], match["p1"]) if match["h1"] else (match["h2"], match["p2"])
        if tag == host and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            stale.append(entry)
    return sorted(stale)


def remove_stale_temporaries(target: str | os.PathLike) -> list[Path]:
    """Remove (or, for a swapped-out previous output whose target is gone, restore) stale temporaries."""
    target = Path(os.path.abspath(target))
    removed = []
    for path in stale_temporaries(target):
        if ".old-" in path.name and not target.exists() and not target.is_symlink():
            with contextlib.suppress(OSError):
                os.replace(path, target)
                continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        removed.append(path)
    return removed


def is_disk_full(err: BaseException) -> bool:
    if isinstance(err, OSError) and err.errno in _DISK_FULL_ERRNOS:
        return True
    return isinstance(err, sqlite3.OperationalError) and "disk is full" in str(err).lower()


def disk_full_error(target: Path, err: BaseException) -> OutputError:
    """One line: the output, the filesystem's free space, and what ran out."""
    free = "unknown"
    with contextlib.suppress(OSError):
        free = f"{shutil.disk_usage(target.parent).free / 2**20:.1f} MiB"
    return OutputError(
        f"no space left on the device while writing {str(target)!r} ({free} free there; {err}); "
        "the previous output is unchanged: free some space or choose another output folder"
    )


@contextlib.contextmanager
def _translated(target: Path) -> Iterator[None]:
    try:
        yield
    except (OSError, sqlite3.OperationalError) as err:
        if is_disk_full(err):
            raise disk_full_error(target, err) from err
        raise


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh temporary directory that replaces `target` on success."""
    target = Path(os.path.abspath(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target)
    tmp = Path(tempfile.mkdtemp(prefix=_tmp_prefix(target), dir=target.parent))
    _as_if_created(tmp, 0o777)
    with _translated(target):
        try:
            yield tmp
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        old = None
        try:
            if target.exists() or target.is_symlink():
                old = _old_name(target)
                os.replace(target, old)
            os.replace(tmp, target)
        except BaseException:
            if old is not None and old.exists() and not target.exists():
                os.replace(old, target)
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if old is not None:
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_file(target: str | os.PathLike, mode: str = "w", **open_kwargs) -> Iterator:
    """Open a temporary file next to `target`; it replaces `target` on success."""
    target = Path(os.path.abspath(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target)
    fd, tmp_name = tempfile.mkstemp(prefix=_tmp_prefix(target), dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    _as_if_created(tmp, 0o666)
    with _translated(target):
        try:
            with open(tmp, mode, **open_kwargs) as fh:
                yield fh
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path (not created) that replaces `target` on success.

    For writers that want a filename (sqlite3, rasterio) rather than a handle.
    """
    target = Path(os.path.abspath(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target)
    fd, tmp_name = tempfile.mkstemp(prefix=_tmp_prefix(target), dir=target.parent, suffix=target.suffix)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()
    with _translated(target):
        try:
            yield tmp
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            # sqlite's journal beside a half-written db
            for extra in (Path(f"{tmp}-journal"), Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
                extra.unlink(missing_ok=True)
            raise
