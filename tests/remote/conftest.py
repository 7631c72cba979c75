"""Fixtures for the DVC remote tests: a real Azurite endpoint and small real DVC repositories.

Azurite is installed by `npm ci` from the committed package-lock.json into a cache directory
(tests/remote/azurite.py) and started on 127.0.0.1 on a free port, once per test
process; it is stopped when the session ends. The tests skip only where npm is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

from flintcloud import remote
from . import azurite as azurite_harness

REPO_ROOT = Path(__file__).resolve().parents[2]
STEP_TIMEOUT = 120  # seconds for any one subprocess (dvc, git)


def base_env(tmp_path: Path) -> dict[str, str]:
    """A subprocess environment cut off from the user's own Azure/DVC/git settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "FLINTCLOUD_", "GIT_"))}
    env.update(remote.NO_TELEMETRY)
    env.update(
        CI="1",  # no DVC update check
        AZURE_CONFIG_DIR=str(tmp_path / "azure-cli-config"),  # no ~/.azure/config
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        GIT_AUTHOR_NAME="remote-tests", GIT_AUTHOR_EMAIL="remote-tests@example.invalid",
        GIT_COMMITTER_NAME="remote-tests", GIT_COMMITTER_EMAIL="remote-tests@example.invalid",
        GIT_CONFIG_NOSYSTEM="1", HOME=str(tmp_path / "home"),
    )
    (tmp_path / "home").mkdir(exist_ok=True)
    return env


def run(cmd: list[str], cwd: Path, env: dict[str, str], *, check: bool = True,
        timeout: float = STEP_TIMEOUT) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        pytest.fail(f"{' '.join(map(str, cmd))} in {cwd} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def dvc(cwd: Path, env: dict[str, str], *args: str, check: bool = True, timeout: float = STEP_TIMEOUT):
    return run([sys.executable, "-m", "dvc", *args], cwd, env, check=check, timeout=timeout)


def git(cwd: Path, env: dict[str, str], *args: str, check: bool = True):
    return run(["git", "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", *args], cwd, env, check=check)


# The `simulate` stage of the test pipeline: hashes its inputs into outputs/, and appends one line
# to a marker file OUTSIDE its outputs (and outside every clone), so a test can tell whether it ran.
SIMULATE_PY = """\
import hashlib, pathlib, sys
src, out, marker = map(pathlib.Path, sys.argv[1:])
with open(marker, "a") as fh:
    fh.write("simulate ran\\n")
out.mkdir(parents=True, exist_ok=True)
lines = []
for p in sorted(src.rglob("*")):
    if p.is_file():
        lines.append(f"{p.relative_to(src)} {hashlib.sha256(p.read_bytes()).hexdigest()}")
(out / "inputs.sha256").write_text("\\n".join(lines) + "\\n")
(out / "total_bytes.txt").write_text(str(sum(p.stat().st_size for p in src.rglob("*") if p.is_file())) + "\\n")
"""


@dataclass
class Project:
    """A git + DVC repository with a GCBM-like input folder tracked by `dvc add` and a `simulate` stage."""

    path: Path
    env: dict[str, str]
    marker: Path
    data_dir: Path

    def dvc(self, *args: str, check: bool = True, timeout: float = STEP_TIMEOUT):
        return dvc(self.path, self.env, *args, check=check, timeout=timeout)

    def git(self, *args: str, check: bool = True):
        return git(self.path, self.env, *args, check=check)

    def files(self, rel: str) -> dict[str, bytes]:
        root = self.path / rel
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    def marker_lines(self) -> int:
        return len(self.marker.read_text().splitlines()) if self.marker.exists() else 0

    def clone(self, dest: Path, rev: str | None = None) -> "Project":
        git(dest.parent, self.env, "clone", "--quiet", str(self.path), dest.name)
        if rev:
            git(dest, self.env, "checkout", "--quiet", rev)
        clone = Project(dest, self.env, self.marker, dest / self.data_dir.relative_to(self.path))
        remote.configure_remotes(dest, self.env)  # what `make setup-remote` does on a fresh clone
        return clone


def build_project(root: Path, env: dict[str, str], *, n_files: int = 4, file_size: int = 4096,
                  seed: int = 0, run: bool = True) -> Project:
    """A small real DVC pipeline in `root`/origin: data/projects/demo (dvc add) -> simulate -> outputs.

    First commit: the inputs and dvc.yaml. With `run`, `dvc repro` and a second commit with dvc.lock.
    """
    import random

    path = root / "origin"
    path.mkdir(parents=True)
    git(path, env, "init", "--quiet")
    from dvc.repo import Repo

    # `dvc init` and `dvc add` run in-process (a dvc subprocess costs ~1 s of CPU to start);
    # everything under test (repro, push, pull, status) runs as a real `dvc` subprocess.
    Repo.init(str(path)).close()
    data = path / "data" / "projects" / "demo"
    (data / "layers").mkdir(parents=True)
    rng = random.Random(seed)
    for i in range(n_files):
        (data / "layers" / f"layer_{i:04d}.tif").write_bytes(rng.randbytes(file_size))
    (data / "gcbm_input.db").write_bytes(rng.randbytes(file_size))
    (path / "simulate.py").write_text(SIMULATE_PY)
    marker = root / "simulate-runs.log"
    (path / "dvc.yaml").write_text(
        "stages:\n"
        "  simulate:\n"
        f"    cmd: {sys.executable} simulate.py data/projects/demo outputs {marker}\n"
        "    deps: [simulate.py, data/projects/demo]\n"
        "    outs: [outputs]\n"
    )
    remote.configure_remotes(path, env)
    with warnings.catch_warnings(), Repo(str(path)) as repo:
        warnings.simplefilter("ignore", DeprecationWarning)  # pygtrie's, from inside DVC
        repo.add(str(data))
    git(path, env, "add", ".")
    git(path, env, "commit", "--quiet", "-m", "inputs and the simulate stage")
    if run:
        dvc(path, env, "repro", "--quiet")
        git(path, env, "add", "dvc.lock", ".gitignore")
        git(path, env, "commit", "--quiet", "-m", "simulate outputs")
    return Project(path, env, marker, data)


@pytest.fixture(scope="session")
def azurite_binary() -> Path:
    if shutil.which("npm") is None:
        pytest.skip("npm not found on PATH: the Azure Blob remote tests install Azurite (npm package "
                    "`azurite`, pinned in package-lock.json) with `npm ci`")
    return azurite_harness.install_azurite(REPO_ROOT)


@pytest.fixture(scope="session")
def azurite(azurite_binary: Path, tmp_path_factory):
    with azurite_harness.run_azurite(azurite_binary, tmp_path_factory.mktemp("azurite")) as server:
        yield server


@pytest.fixture
def azure_env(azurite, tmp_path: Path) -> dict[str, str]:
    """Environment for one test: a fresh container on Azurite, `azure` as the default remote."""
    container = f"t{uuid.uuid4().hex[:20]}"
    azurite.create_container(container)
    env = base_env(tmp_path)
    env.update(
        AZURE_STORAGE_CONNECTION_STRING=azurite.connection_string,
        FLINTCLOUD_AZURE_URL=f"azure://{container}/dvc",
        FLINTCLOUD_DVC_REMOTE="azure",
        FLINTCLOUD_REMOTE_DIR=str(tmp_path / "local-remote"),
    )
    return env


@pytest.fixture
def local_env(tmp_path: Path) -> dict[str, str]:
    """Environment for one test with the default `local` remote in tmp_path (no Azurite needed)."""
    env = base_env(tmp_path)
    env["FLINTCLOUD_REMOTE_DIR"] = str(tmp_path / "local-remote")
    return env


def container_blobs(server, env: dict[str, str]) -> dict[str, bytes | None]:
    """Blob names in the test's container (values not downloaded: None)."""
    from azure.storage.blob import BlobServiceClient

    container = env["FLINTCLOUD_AZURE_URL"].split("/")[2]
    with BlobServiceClient.from_connection_string(server.connection_string) as service:
        return {b.name: None for b in service.get_container_client(container).list_blobs()}


def flip_byte_keep_mtime(path: Path, offset: int = 100) -> None:
    """Corrupt a file the way bit rot does: same size, same mtime (DVC's trust markers)."""
    st = path.stat()
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    path.chmod(st.st_mode & 0o777)
