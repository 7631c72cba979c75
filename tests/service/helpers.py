"""Service test helpers: a real `flintcloud serve` on a free loopback port, real HTTP (httpx)."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from shared_paths import REPO_ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`flintcloud serve` in a subprocess (its own process group), stopped like a real deployment stops it."""

    def __init__(self, data_dir: Path, workers: int = 1, env: dict | None = None, args: list[str] | None = None):
        self.data_dir = data_dir
        self.workers = workers
        self.args = list(args or [])  # more `flintcloud serve` flags, e.g. ["--max-files", "3"]
        self.env = {**os.environ, "DVC_NO_ANALYTICS": "1", "ITERATIVE_DO_NOT_TRACK": "1", **(env or {})}
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.log = data_dir.parent / f"{data_dir.name}-serve.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        self.port = free_port()
        cmd = [sys.executable, "-c", "from flintcloud.cli import run; run()", "serve", "--host", "127.0.0.1",
               "--port", str(self.port), "--data-dir", str(self.data_dir), "--workers", str(self.workers), *self.args]
        self._log = open(self.log, "ab")
        self.proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited with {self.proc.returncode}: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/api/v1/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"serve did not answer within 60 s: {self.log.read_text()[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """SIGTERM the server (as systemd/Kubernetes do); it stops its worker, which stops its runs."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        # nothing of ours may survive: the worker and the runners of this server's process group
        try:
            os.killpg(self.proc.pid, 0)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    os.killpg(self.proc.pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.2)
            else:
                os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._log.close()
        self.proc = None

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=120)



def raw_request(server: Server, method: str, raw_path: str, headers: dict | None = None,
                body: bytes | None = None) -> tuple[int, dict | str]:
    """Send `raw_path` byte for byte (http.client; httpx removes '..' segments before sending, even from a
    raw_path). Returns (status, JSON body or text)."""
    import http.client
    import json

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        conn.request(method, raw_path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    try:
        return resp.status, json.loads(data)
    except ValueError:
        return resp.status, data.decode("utf-8", "replace")


def wait_for(client: httpx.Client, url: str, statuses=("succeeded", "failed", "cancelled"), timeout=600,
              seen: list | None = None) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(url).json()
        if seen is not None:
            seen.append((body["status"], body.get("stage"), body.get("progress")))
        if body["status"] in statuses:
            return body
        time.sleep(0.2)
    raise AssertionError(f"{url} did not reach {statuses} in {timeout} s: {body}")


def dvc_env() -> dict:
    """The environment `dvc repro` needs: this interpreter's bin first on PATH (stages call `python`)."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
            "DVC_NO_ANALYTICS": "1", "ITERATIVE_DO_NOT_TRACK": "1"}


def dvc_repro(project: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).parent / "dvc"), "repro"], cwd=project, env=dvc_env(),
                          capture_output=True, text=True, timeout=900)


def tree_bytes(root: Path, parts=("build", "reports")) -> dict[str, bytes]:
    """Every output file under root/<parts> by relative path, with its bytes."""
    out = {}
    for part in parts:
        for p in sorted((root / part).rglob("*")):
            if p.is_file():
                out[p.relative_to(root).as_posix()] = p.read_bytes()
    return out
