"""Azurite for the tests: a real Azure Blob endpoint on 127.0.0.1 (moved out of flintcloud.remote).

`install_azurite` runs `npm ci` on the committed package.json + package-lock.json into a cache dir;
`run_azurite` starts azurite-blob on a free loopback port and stops it (and, on Linux, it dies with
the test process).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from flintcloud.errors import RemoteError
from flintcloud.remote import dvc_env


# Azurite's development account. The key is public (Microsoft documents it for the emulator);
# it opens nothing but a local Azurite.
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
REPO_ROOT = Path(__file__).resolve().parents[2]


def azurite_connection_string(port: int, host: str = "127.0.0.1") -> str:
    """Connection string for Azurite; the explicit BlobEndpoint keeps clients off the real Azure host."""
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint=http://{host}:{port}/{AZURITE_ACCOUNT};"
    )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def azurite_cache_dir(lock_file: Path) -> Path:
    """Where `npm ci` puts Azurite: keyed by the lock file's hash, so a new pin reinstalls."""
    base = os.environ.get("FLINTCLOUD_NODE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "flintcloud", "node"
    )
    digest = hashlib.sha256(lock_file.read_bytes()).hexdigest()[:16]
    return Path(base) / digest


def install_azurite(package_dir: str | os.PathLike = REPO_ROOT, *, timeout: float = 600) -> Path:
    """`npm ci` the committed package.json + package-lock.json into a cache dir; return azurite-blob.

    Safe to call from several processes at once (pytest-xdist workers): the install is locked.
    """
    npm = shutil.which("npm")
    if npm is None:
        raise RemoteError("npm not found on PATH: it is needed to install Azurite (the local Azure Blob endpoint)")
    package_dir = Path(package_dir)
    lock = package_dir / "package-lock.json"
    if not lock.is_file():
        raise RemoteError(f"{str(lock)!r} not found: Azurite is installed from the committed npm lock file")
    target = azurite_cache_dir(lock)
    binary = target / "node_modules" / ".bin" / "azurite-blob"
    target.mkdir(parents=True, exist_ok=True)
    with open(target / ".install.lock", "w") as lock_fh:
        fcntl.flock(lock_fh, fcntl.LOCK_EX)
        if binary.exists() and (target / ".installed").exists():
            return binary
        for name in ("package.json", "package-lock.json"):
            shutil.copy2(package_dir / name, target / name)
        try:
            proc = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=target, env=dvc_env(),
                capture_output=True, text=True, timeout=timeout, check=False,
            )
        except subprocess.TimeoutExpired as err:
            raise RemoteError(f"`npm ci` for Azurite in {str(target)!r} did not finish within {timeout} s") from err
        if proc.returncode != 0 or not binary.exists():
            raise RemoteError(f"`npm ci` for Azurite in {str(target)!r} failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
        (target / ".installed").write_text("ok\n")
    return binary


@dataclass
class AzuriteServer:
    process: subprocess.Popen
    host: str
    port: int
    location: Path

    @property
    def connection_string(self) -> str:
        return azurite_connection_string(self.port, self.host)

    @property
    def blob_endpoint(self) -> str:
        return f"http://{self.host}:{self.port}/{AZURITE_ACCOUNT}"

    def create_container(self, name: str) -> None:
        from azure.core.exceptions import ResourceExistsError
        from azure.storage.blob import BlobServiceClient

        with BlobServiceClient.from_connection_string(self.connection_string, retry_total=2) as service:
            with contextlib.suppress(ResourceExistsError):
                service.create_container(name)

    def stop(self, timeout: float = 10) -> None:
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=timeout)


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the process that started us dies (Linux), so a
    killed test run leaves no Azurite behind. Elsewhere a no-op (stop() still ends it normally)."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@contextlib.contextmanager
def run_azurite(binary: str | os.PathLike, location: str | os.PathLike, *, port: int | None = None,
                startup_timeout: float = 30) -> Iterator[AzuriteServer]:
    """Start azurite-blob on 127.0.0.1 (never another interface), wait until it listens, stop it after."""
    host = "127.0.0.1"
    location = Path(location)
    location.mkdir(parents=True, exist_ok=True)
    port = port or free_port(host)
    log = open(location / "azurite.log", "wb")
    cmd = [
        str(binary), "--blobHost", host, "--blobPort", str(port), "--location", str(location),
        "--skipApiVersionCheck", "--loose", "--disableTelemetry", "--silent",
    ]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=dvc_env(),
                            preexec_fn=_die_with_parent)
    server = AzuriteServer(proc, host, port, location)
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if proc.poll() is not None:
                raise RemoteError(
                    f"Azurite exited with code {proc.returncode} before listening on {host}:{port}; "
                    f"log: {(location / 'azurite.log').read_text(errors='replace')[-2000:]}"
                )
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.settimeout(0.5)
                if sock.connect_ex((host, port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise RemoteError(f"Azurite did not listen on {host}:{port} within {startup_timeout} s")
            time.sleep(0.1)
        yield server
    finally:
        server.stop()
        log.close()
