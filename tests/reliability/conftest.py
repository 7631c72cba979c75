"""Fault cases of issue 19 ("Nothing a user types can destroy data, and every failure is one line naming
its cause"): each test performs the fault through the real command and asserts the outcome (data intact,
the one-line message, the exit code).

`flintcloud` runs as a subprocess (the installed entry point, so exit codes and stderr are the user's).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from shared_paths import IN_CI

FLINTCLOUD = [sys.executable, "-W", "ignore", "-m", "flintcloud"]
TIMEOUT = 300


def tree_hashes(root: Path) -> dict[str, str]:
    """Every file under `root` (symlinks as their target text) -> sha256."""
    out = {}
    for p in sorted(Path(root).rglob("*")):
        if p.is_symlink():
            out[str(p.relative_to(root))] = "->" + os.readlink(p)
        elif p.is_file():
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def flintcloud(*args: str, cwd: Path, env: dict | None = None, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    full_env = dict(os.environ if env is None else env)
    full_env.setdefault("DVC_NO_ANALYTICS", "1")
    full_env.setdefault("ITERATIVE_DO_NOT_TRACK", "1")
    return subprocess.run([*FLINTCLOUD, *args], cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=timeout)


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    """The command failed with exit 1 and one `flintcloud: error:` line, no traceback; return that line."""
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("flintcloud: error:")]
    assert len(errors) == 1, proc.stderr
    return errors[0]


@pytest.fixture
def demo_project(flint_demo: Path, tmp_path: Path) -> Path:
    """A private copy of the FLINT.Cloud demo project (config/, layers/, input_database/), relative paths kept."""
    dest = tmp_path / "demo2"
    shutil.copytree(flint_demo, dest)
    for p in [dest, *dest.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    return dest


def mount_prefix() -> list[str] | None:
    """How this process can mount: ``[]`` as root, ``["sudo", "-n"]`` with passwordless sudo, else None."""
    if shutil.which("mount") is None:
        return None
    if os.geteuid() == 0:
        return []
    sudo = shutil.which("sudo")
    if sudo is not None:
        try:
            if subprocess.run([sudo, "-n", "true"], capture_output=True, timeout=30).returncode == 0:
                return [sudo, "-n"]
        except (OSError, subprocess.TimeoutExpired):
            pass
    return None


def _missing_capability(reason: str, *, providable: bool) -> None:
    """Skip; under CI=true fail instead where this machine should provide the capability (see tmpfs)."""
    if IN_CI and providable:
        pytest.fail(f"{reason} (CI=true: this machine runs as root or has passwordless sudo, so it should "
                    "mount and the case must run)", pytrace=False)
    pytest.skip(reason)


def _mount_tmpfs(prefix: list[str], where: Path, options: tuple[str, ...]) -> str | None:
    """Mount a tmpfs at `where` (owned by this user when sudo mounts it); None on success, else mount's error."""
    opts = list(options)
    if prefix:  # root mounts it for us: let our uid own its root, as tmp_path is
        opts += [f"uid={os.getuid()}", f"gid={os.getgid()}", "mode=0755"]
    proc = subprocess.run([*prefix, "mount", "-t", "tmpfs", "-o", ",".join(opts),
                           f"flintcloud-{uuid.uuid4().hex[:8]}", str(where)], capture_output=True, text=True)
    if proc.returncode == 0:
        return None
    lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip() and not ln.strip().startswith("dmesg(1)")]
    return " ".join(lines) or f"mount exited {proc.returncode}"


@contextlib.contextmanager
def tmpfs(where: Path, *options: str):
    """Mount a small tmpfs at `where` (e.g. ``size=1m`` for the disk-full case) for the `with` block.

    Who mounts: root directly; a non-root user through ``sudo -n mount`` when passwordless sudo works
    (GitHub's runners: non-root, with passwordless sudo), the tmpfs then owned by that user. There is no
    other way to fill a disk safely, so without either the test is skipped with the reason, even under
    CI=true (the capability cannot be provided there). Where it can (root or sudo available) but the
    mount fails (e.g. a container without CAP_SYS_ADMIN), CI=true fails instead of skipping: the case
    must run wherever the machine promises it can.
    """
    where.mkdir(parents=True, exist_ok=True)
    prefix = mount_prefix()
    if prefix is None:
        _missing_capability("mounting a tmpfs needs root or passwordless sudo (sudo -n) and mount(8): the "
                            "disk-full case uses one", providable=False)
    error = _mount_tmpfs(prefix, where, options)
    if error is not None:
        _missing_capability(f"cannot mount a tmpfs here ({error}): needed for the disk-full case",
                            providable=True)
    try:
        yield where
    finally:
        subprocess.run([*prefix, "umount", "-l", str(where)], capture_output=True)


@contextlib.contextmanager
def read_only_dir(where: Path):
    """A folder nothing can be written into: yields (folder, the cause check_writable names).

    Preferably a read-only tmpfs (mounted as `tmpfs` does: root, or ``sudo -n``), which is what a
    read-only disk is: cause "a read-only filesystem" (EROFS, which root cannot bypass). Without a mount
    a non-root user gets the folder at chmod 0555 instead: cause "Permission denied" (EACCES). Root
    ignores permission bits, so for root without a working mount the case cannot be made: skipped, or
    under CI=true failed (root can normally mount). A non-root run therefore never skips this case.
    """
    where.mkdir(parents=True, exist_ok=True)
    prefix = mount_prefix()
    error = "no root and no passwordless sudo" if prefix is None else _mount_tmpfs(prefix, where, ("ro", "size=1m"))
    if error is None:
        try:
            yield where, "a read-only filesystem"
        finally:
            subprocess.run([*prefix, "umount", "-l", str(where)], capture_output=True)
        return
    if os.geteuid() == 0:
        _missing_capability(f"cannot mount a read-only tmpfs here ({error}), and root writes through chmod 0555",
                            providable=True)
    where.chmod(0o555)
    try:
        yield where, "Permission denied"
    finally:
        where.chmod(0o755)


def dead_pid() -> int:
    """The PID of a process that has exited (and been reaped)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid
