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


@contextlib.contextmanager
def tmpfs(where: Path, *options: str):
    """Mount a small tmpfs at `where` (root only); skip the test when this machine cannot mount."""
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8): the disk-full / read-only cases use one")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(options), f"flintcloud-{uuid.uuid4().hex[:8]}",
                           str(where)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip()}): needed for the disk-full / read-only cases")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def dead_pid() -> int:
    """The PID of a process that has exited (and been reaped)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid
