"""Service settings: one typed object, read once (flags > environment > defaults), then injected.

Nothing else in flintcloud.service reads the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from flintcloud.errors import ConfigError

ENV_PREFIX = "FLINTCLOUD_"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
# The built-in data directory: beside the repository checkout's data/, ignored by git.
DEFAULT_DATA_DIR = Path("data") / "service"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class Limits:
    """Upload and run limits (bytes / counts). Each can be set with FLINTCLOUD_<NAME> (upper case)."""

    max_upload_bytes: int = 512 * 1024**2          # one uploaded file (or one zip)
    max_files: int = 400                           # input files per simulation
    max_total_bytes: int = 2 * 1024**3             # all inputs of one simulation
    max_zip_entries: int = 1000                    # entries in one uploaded zip
    max_zip_ratio: int = 200                       # uncompressed/compressed size of any zip entry
    max_simulations_per_user: int = 1000
    page_size: int = 50                            # default page of list endpoints (max 500)
    # What a simulation's params may ask of the worker host (params executor.*; the API refuses more).
    max_executor_workers: int = 4                  # executor.n_workers (Dask LocalCluster worker processes)
    max_executor_threads: int = 2                  # executor.threads_per_worker
    max_executor_memory_bytes: int = 8 * 1024**3   # executor.memory_limit (per Dask worker)


@dataclass(frozen=True)
class ServiceSettings:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    data_dir: Path = DEFAULT_DATA_DIR
    workers: int = 1
    limits: Limits = field(default_factory=Limits)
    # Seconds without a heartbeat after which a running run on another host counts as interrupted.
    heartbeat_timeout: float = 60.0
    # Optional Azure Blob copy of inputs and results (flintcloud.service.blob): azure://container/prefix.
    blob_url: str | None = None
    azure_connection_string: str | None = field(default=None, repr=False)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "flintcloud.db"

    @property
    def queue_path(self) -> Path:
        return self.data_dir / "queue.db"

    @property
    def is_loopback(self) -> bool:
        return self.host in LOOPBACK_HOSTS or self.host.startswith("127.")


def _int(name: str, value: str, minimum: int = 0) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{name}={value!r} is not a whole number") from err
    if n < minimum:
        raise ConfigError(f"{name}={value!r} must be at least {minimum}")
    return n


def parse_settings(env: Mapping[str, str], **flags) -> ServiceSettings:
    """Settings from an environment mapping and CLI flags (a flag given as None falls back to env). Pure."""
    def pick(key: str, default):
        if flags.get(key) is not None:
            return flags[key]
        return env.get(ENV_PREFIX + key.upper(), default)

    host = str(pick("host", DEFAULT_HOST))
    port = _int(ENV_PREFIX + "PORT", pick("port", DEFAULT_PORT), 0)
    if port > 65535:
        raise ConfigError(f"{ENV_PREFIX}PORT={port} is not a TCP port (0-65535)")
    workers = _int(ENV_PREFIX + "WORKERS", pick("workers", 1), 0)
    data_dir = Path(pick("data_dir", DEFAULT_DATA_DIR)).expanduser()
    limit_values = {}
    for name in Limits.__dataclass_fields__:
        key = ENV_PREFIX + name.upper()
        if flags.get(name) is not None:
            limit_values[name] = _int(key, flags[name], 1)
        elif key in env:
            limit_values[name] = _int(key, env[key], 1)
    return ServiceSettings(host=host, port=port, data_dir=data_dir.resolve(), workers=workers,
                           limits=Limits(**limit_values), blob_url=env.get(ENV_PREFIX + "BLOB_URL") or None,
                           azure_connection_string=env.get("AZURE_STORAGE_CONNECTION_STRING") or None)


def read_settings(**flags) -> ServiceSettings:
    """Settings from os.environ and flags: the one place the service reads the environment."""
    return parse_settings(os.environ, **flags)


def with_overrides(settings: ServiceSettings, **changes) -> ServiceSettings:
    return replace(settings, **changes)
