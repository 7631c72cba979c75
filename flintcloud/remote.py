"""DVC remotes for flintcloud: a local default and Azure Blob, configured from the environment.

Two remotes live in the committed `.dvc/config`, neither with a credential:

- ``local`` (the default): a directory beside the checkout, ``../flintcloud-dvc-remote``. Works with
  no account. ``FLINTCLOUD_REMOTE_DIR`` moves it (written to the untracked ``.dvc/config.local``).
- ``azure``: ``azure://flintcloud/dvc`` through dvc-azure. ``FLINTCLOUD_AZURE_URL`` moves it
  (``.dvc/config.local``). Credentials come only from the environment, which dvc-azure reads:
  ``AZURE_STORAGE_CONNECTION_STRING``, or ``AZURE_STORAGE_ACCOUNT`` with ``AZURE_STORAGE_KEY`` /
  ``AZURE_STORAGE_SAS_TOKEN`` / a service principal (``AZURE_TENANT_ID``, ``AZURE_CLIENT_ID``,
  ``AZURE_CLIENT_SECRET``).

``FLINTCLOUD_DVC_REMOTE`` (``local`` or ``azure``) picks the default remote for this checkout.

Both remotes set ``verify = true``: every object DVC downloads is re-hashed, so a corrupted object in
the remote is rejected instead of checked out. DVC trusts the local cache, so :func:`push` and
:func:`pull` re-hash it first (:func:`verify_cache`): ``push`` refuses to upload a corrupted object,
``pull`` drops it so that it is fetched again (and verified) from the remote.

The Azurite helpers at the end start a real Azure Blob endpoint on 127.0.0.1 for the tests.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from flintcloud.errors import ConfigError, RemoteError

LOCAL_REMOTE = "local"
AZURE_REMOTE = "azure"
REMOTES = (LOCAL_REMOTE, AZURE_REMOTE)
DEFAULT_LOCAL_DIR_NAME = "flintcloud-dvc-remote"
DEFAULT_AZURE_URL = "azure://flintcloud/dvc"

ENV_REMOTE_DIR = "FLINTCLOUD_REMOTE_DIR"
ENV_AZURE_URL = "FLINTCLOUD_AZURE_URL"
ENV_DEFAULT_REMOTE = "FLINTCLOUD_DVC_REMOTE"

# Environment variables dvc-azure (through knack's AZURE_<section>_<option>) or azure-identity read.
AZURE_CREDENTIAL_VARS = (
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_ACCOUNT",
    "AZURE_STORAGE_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
)
# Remote options that hold a secret: never written by us, and refused in the committed config.
SECRET_OPTIONS = ("connection_string", "account_key", "sas_token", "client_secret", "password", "secret_access_key")

# DVC and CML must never phone home from anything we start.
NO_TELEMETRY = {"DVC_NO_ANALYTICS": "1", "ITERATIVE_DO_NOT_TRACK": "1"}


# --------------------------------------------------------------------------- settings (pure)


# An override is tri-state: None = the variable is not set (leave .dvc/config.local as it is, so a
# manual `dvc remote default --local azure` survives `make setup-remote`); RESET = set but empty
# (drop the override, back to the committed value); otherwise the value to write.
RESET = ""


@dataclass(frozen=True)
class RemoteSettings:
    """This checkout's overrides of the committed remotes, read from the environment."""

    default_local_dir: Path  # the committed location: <checkout>/../flintcloud-dvc-remote
    local_dir: Path | str | None = None  # FLINTCLOUD_REMOTE_DIR (absolute) / RESET / None
    azure_url: str | None = None  # FLINTCLOUD_AZURE_URL / RESET / None
    default_remote: str | None = None  # FLINTCLOUD_DVC_REMOTE / RESET / None


def remote_settings(repo_root: str | os.PathLike, env: Mapping[str, str]) -> RemoteSettings:
    """Read the remote overrides for the checkout at `repo_root` from `env` (pure, no I/O)."""
    root = Path(os.path.abspath(repo_root))
    default_dir = root.parent / DEFAULT_LOCAL_DIR_NAME

    local_dir: Path | str | None = None
    if ENV_REMOTE_DIR in env:
        raw_dir = env[ENV_REMOTE_DIR].strip()
        local_dir = RESET
        if raw_dir:
            path = Path(os.path.expanduser(raw_dir))
            path = Path(os.path.normpath(path if path.is_absolute() else root / path))
            if path == root or root in path.parents:
                raise ConfigError(
                    f"{ENV_REMOTE_DIR}={raw_dir!r} points inside the repository {str(root)!r}; "
                    "the local DVC remote must be a directory outside the checkout"
                )
            local_dir = path

    azure_url = env[ENV_AZURE_URL].strip() if ENV_AZURE_URL in env else None
    if azure_url:
        parts = urlsplit(azure_url)
        if parts.scheme != "azure" or not parts.netloc:
            raise ConfigError(
                f"{ENV_AZURE_URL}={azure_url!r} is not an Azure Blob DVC URL; expected azure://<container>[/<path>]"
            )

    default_remote = env[ENV_DEFAULT_REMOTE].strip() if ENV_DEFAULT_REMOTE in env else None
    if default_remote and default_remote not in REMOTES:
        raise ConfigError(f"{ENV_DEFAULT_REMOTE}={default_remote!r} is not a flintcloud remote; expected one of {REMOTES}")
    return RemoteSettings(default_dir, local_dir, azure_url, default_remote)


def apply_repo_config(conf: dict, local_url: object) -> None:
    """Put the committed remote sections into `conf` (DVC's repo-level config dict), in place.

    `local_url` is the default local directory as DVC's config layer wants it (a RelPath, saved
    relative to .dvc/). Keys other than url/verify in our sections are kept; secrets are refused.
    """
    remotes = conf.setdefault("remote", {})
    for name in REMOTES:
        leaked = sorted(k for k in remotes.get(name, {}) if k in SECRET_OPTIONS)
        if leaked:
            raise RemoteError(
                f"the committed .dvc/config holds {', '.join(leaked)} for remote {name!r}; remove it "
                "(`dvc remote modify --unset`) and pass credentials through environment variables"
            )
    remotes.setdefault(LOCAL_REMOTE, {}).update(url=local_url, verify=True)
    remotes.setdefault(AZURE_REMOTE, {}).update(url=DEFAULT_AZURE_URL, verify=True)
    conf.setdefault("core", {})["remote"] = LOCAL_REMOTE


def apply_local_config(conf: dict, settings: RemoteSettings) -> None:
    """Put this checkout's overrides into `conf` (DVC's config.local dict), in place.

    Only the variables that are set act: a value is written, an empty value drops the override.
    """
    remotes = conf.setdefault("remote", {})
    overrides = {LOCAL_REMOTE: settings.local_dir, AZURE_REMOTE: settings.azure_url}
    for name, url in overrides.items():
        if url is None:
            continue
        section = remotes.get(name, {})
        if url == RESET:
            section.pop("url", None)
        else:
            section["url"] = str(url)
        if section:
            remotes[name] = section
        else:
            remotes.pop(name, None)
    core = conf.setdefault("core", {})
    if settings.default_remote == RESET:
        core.pop("remote", None)
    elif settings.default_remote is not None:
        core["remote"] = settings.default_remote


# --------------------------------------------------------------------------- configuration (I/O)


def _dvc_dir(repo_root: Path) -> Path:
    dvc_dir = Path(repo_root) / ".dvc"
    if not dvc_dir.is_dir():
        raise ConfigError(f"{str(dvc_dir)!r} not found: {str(repo_root)!r} is not a DVC repository (run `dvc init`)")
    return dvc_dir


def configure_remotes(repo_root: str | os.PathLike, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Write the two remotes into .dvc/config (+ overrides into .dvc/config.local); idempotent.

    Creates the local remote's directory. Writes no credential anywhere. Returns the effective
    remotes ({name: url}, and "default": name) as DVC now resolves them.
    """
    from dvc.config import Config
    from dvc.config import ConfigError as DvcConfigError
    from dvc.config_schema import RelPath

    root = Path(os.path.abspath(repo_root))
    settings = remote_settings(root, os.environ if env is None else env)
    dvc_dir = _dvc_dir(root)
    try:
        config = Config(dvc_dir=str(dvc_dir))
        with config.edit("repo") as conf:
            apply_repo_config(conf, RelPath(str(settings.default_local_dir)))
        with config.edit("local") as conf:
            apply_local_config(conf, settings)
        merged = Config(dvc_dir=str(dvc_dir)).read()
    except DvcConfigError as err:
        raise RemoteError(f"could not write the DVC remotes into {str(dvc_dir)!r}: {err}") from err
    effective = {name: str(merged["remote"][name]["url"]) for name in REMOTES}
    effective["default"] = merged["core"]["remote"]
    if not re.match(r"\w+://", effective[LOCAL_REMOTE]):
        Path(effective[LOCAL_REMOTE]).mkdir(parents=True, exist_ok=True)
    return effective


@dataclass(frozen=True)
class RemoteInfo:
    name: str
    url: str  # as DVC resolves it (absolute path for a local remote)
    cache_dir: Path
    options: Mapping[str, object] = field(default_factory=dict, repr=False)  # the remote's other config keys


def remote_info(repo_root: str | os.PathLike, name: str | None = None) -> RemoteInfo:
    """The named remote (default: the configured default) as DVC's merged config resolves it."""
    from dvc.config import Config

    root = Path(os.path.abspath(repo_root))
    dvc_dir = _dvc_dir(root)
    conf = Config(dvc_dir=str(dvc_dir)).read()
    name = name or conf.get("core", {}).get("remote")
    if not name:
        raise RemoteError(f"no DVC remote given and no default remote in {str(dvc_dir)!r} (run `make setup-remote`)")
    section = conf.get("remote", {}).get(name)
    if not section or "url" not in section:
        known = sorted(conf.get("remote", {}))
        raise RemoteError(f"DVC remote {name!r} is not configured in {str(dvc_dir)!r}; known remotes: {known}")
    options = {k: v for k, v in section.items() if k != "url"}
    return RemoteInfo(name, str(section["url"]), _cache_dir(conf, dvc_dir), options)


def _cache_dir(conf: dict, dvc_dir: Path) -> Path:
    return Path(conf.get("cache", {}).get("dir") or dvc_dir / "cache")


def dvc_cache_dir(repo_root: str | os.PathLike) -> Path:
    """The checkout's DVC cache directory (cache.dir, default .dvc/cache)."""
    from dvc.config import Config

    dvc_dir = _dvc_dir(Path(os.path.abspath(repo_root)))
    return _cache_dir(Config(dvc_dir=str(dvc_dir)).read(), dvc_dir)


def _azure_client_kwargs(info: RemoteInfo, env: Mapping[str, str]) -> dict:
    """Credentials in the order dvc-azure takes them: the remote's config keys, then the environment."""
    opts = info.options

    def pick(option: str, var: str) -> str | None:
        return opts.get(option) or env.get(var) or None

    conn = pick("connection_string", "AZURE_STORAGE_CONNECTION_STRING")
    if conn:
        return {"conn_str": conn}
    account = pick("account_name", "AZURE_STORAGE_ACCOUNT")
    if not account:
        raise RemoteError(
            f"DVC remote {info.name!r} ({info.url}) needs credentials in the environment: set "
            "AZURE_STORAGE_CONNECTION_STRING (or AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY, "
            "AZURE_STORAGE_SAS_TOKEN or a service principal)"
        )
    url = f"https://{account}.blob.core.windows.net"
    key = pick("account_key", "AZURE_STORAGE_KEY")
    if key:
        return {"account_url": url, "credential": {"account_name": account, "account_key": key}}
    sas = pick("sas_token", "AZURE_STORAGE_SAS_TOKEN")
    if sas:
        return {"account_url": url, "credential": sas}
    from azure.identity import DefaultAzureCredential

    return {"account_url": url, "credential": DefaultAzureCredential()}


def check_remote(repo_root: str | os.PathLike, name: str | None = None, *, env: Mapping[str, str] | None = None,
                 timeout: float = 10.0) -> RemoteInfo:
    """Fail fast, with the remote's name and URL, when the remote cannot be reached.

    DVC itself retries an unreachable Azure endpoint for over a minute and then reports an
    "unexpected error" without the remote's name; this check answers within `timeout` seconds.
    """
    env = os.environ if env is None else env
    info = remote_info(repo_root, name)
    parts = urlsplit(info.url)
    if parts.scheme == "azure":
        _check_azure(info, env, timeout)
    elif parts.scheme in ("", "file"):
        path = Path(parts.path if parts.scheme else info.url)
        probe = path if path.exists() else path.parent
        if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
            raise RemoteError(
                f"DVC remote {info.name!r} ({info.url}) is unreachable: {str(probe)!r} is not a writable "
                f"directory (run `make setup-remote`, or set {ENV_REMOTE_DIR})"
            )
    return info


def _check_azure(info: RemoteInfo, env: Mapping[str, str], timeout: float) -> None:
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError
    from azure.core.exceptions import ServiceRequestError
    from azure.storage.blob import BlobServiceClient

    parts = urlsplit(info.url)
    container, prefix = parts.netloc, parts.path.strip("/")
    kwargs = _azure_client_kwargs(info, env)
    opts = {"retry_total": 0, "connection_timeout": timeout, "read_timeout": timeout}
    if "conn_str" in kwargs:
        service = BlobServiceClient.from_connection_string(kwargs["conn_str"], **opts)
    else:
        service = BlobServiceClient(kwargs["account_url"], credential=kwargs["credential"], **opts)
    endpoint = service.url.split("?")[0].rstrip("/")
    where = f"DVC remote {info.name!r} ({info.url} at {endpoint})"
    try:
        with service:
            # Listing is what DVC itself needs (a container-scoped SAS may not read container properties).
            pages = service.get_container_client(container).list_blobs(
                name_starts_with=prefix + "/" if prefix else None, results_per_page=1
            ).by_page()
            next(pages, None)
    except ResourceNotFoundError as err:
        raise RemoteError(f"{where}: container {container!r} does not exist; create it first") from err
    except ClientAuthenticationError as err:
        raise RemoteError(f"{where} rejected the credentials from the environment: {err.reason or err}") from err
    except ServiceRequestError as err:
        raise RemoteError(f"{where} is unreachable: {err}") from err
    except HttpResponseError as err:
        if err.status_code in (401, 403):
            raise RemoteError(
                f"{where} rejected the credentials (HTTP {err.status_code}: {err.reason}); check "
                "AZURE_STORAGE_CONNECTION_STRING / the SAS token's permissions (list, read, write)"
            ) from err
        raise RemoteError(f"{where} answered HTTP {err.status_code}: {err.reason or err}") from err


# --------------------------------------------------------------------------- cache integrity


def _object_hash(path: Path, chunk: int = 1 << 20) -> str:
    md5 = hashlib.md5()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            md5.update(block)
    return md5.hexdigest()


def expected_hash(cache_dir: Path, obj: Path) -> str | None:
    """The md5 an object's cache path names (files/md5/ab/cdef…[.dir]), or None if not an object."""
    try:
        rel = obj.relative_to(Path(cache_dir) / "files" / "md5")
    except ValueError:
        return None
    if len(rel.parts) != 2 or len(rel.parts[0]) != 2:
        return None
    name = rel.parts[0] + rel.parts[1].removesuffix(".dir")
    if len(name) != 32 or any(c not in "0123456789abcdef" for c in name):
        return None
    return name


def verify_cache(cache_dir: str | os.PathLike, *, remove: bool = False) -> list[Path]:
    """Re-hash every object in a DVC cache; return those whose content does not match their name.

    DVC trusts its cache (it only re-hashes when size or mtime change), so bit rot or a stray edit
    would otherwise be checked out or pushed as if it were good. With `remove=True` the corrupted
    objects are deleted, so the next `dvc fetch`/`pull` downloads (and verifies) them again.
    """
    cache_dir = Path(cache_dir)
    objects_root = cache_dir / "files" / "md5"
    bad: list[Path] = []
    if not objects_root.is_dir():
        return bad
    for prefix in sorted(objects_root.iterdir()):
        if not prefix.is_dir():
            continue
        for obj in sorted(prefix.iterdir()):
            want = expected_hash(cache_dir, obj)
            if want is None or not obj.is_file():
                continue
            if _object_hash(obj) != want:
                bad.append(obj)
                if remove:
                    obj.chmod(0o600)
                    obj.unlink()
    return bad


# --------------------------------------------------------------------------- push / pull


def dvc_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """A subprocess environment for dvc: the given (or current) one, with telemetry off."""
    out = dict(os.environ if env is None else env)
    out.update(NO_TELEMETRY)
    return out


def _run_dvc(args: list[str], repo_root: Path, env: Mapping[str, str] | None, timeout: float | None) -> None:
    cmd = [sys.executable, "-m", "dvc", *args]
    try:
        proc = subprocess.run(cmd, cwd=repo_root, env=dvc_env(env), timeout=timeout, check=False)
    except subprocess.TimeoutExpired as err:
        raise RemoteError(f"`dvc {' '.join(args)}` in {str(repo_root)!r} did not finish within {timeout} s") from err
    if proc.returncode != 0:
        raise RemoteError(f"`dvc {' '.join(args)}` in {str(repo_root)!r} failed with exit code {proc.returncode} (see DVC's message above)")


def push(repo_root: str | os.PathLike, remote: str | None = None, *, targets: Sequence[str] = (),
         run_cache: bool = True, env: Mapping[str, str] | None = None, timeout: float | None = None) -> RemoteInfo:
    """Check the remote, refuse corrupted cache objects, then `dvc push [--run-cache] [targets]`."""
    root = Path(os.path.abspath(repo_root))
    info = check_remote(root, remote, env=env)
    bad = verify_cache(info.cache_dir)
    if bad:
        listed = "\n".join(f"  - {p}" for p in bad)
        raise RemoteError(
            f"refusing to push to DVC remote {info.name!r}: {len(bad)} object(s) in the cache "
            f"{str(info.cache_dir)!r} do not match their hash:\n{listed}\n"
            "Run `flintcloud remote verify-cache --remove`, then `dvc commit -f` (if the workspace copy is good) "
            "or `dvc fetch` from another remote."
        )
    _run_dvc(["push", "-r", info.name, *(["--run-cache"] if run_cache else []), *targets], root, env, timeout)
    return info


def pull(repo_root: str | os.PathLike, remote: str | None = None, *, targets: Sequence[str] = (),
         run_cache: bool = False, env: Mapping[str, str] | None = None,
         timeout: float | None = None) -> tuple[RemoteInfo, list[Path]]:
    """Check the remote, drop corrupted cache objects, then `dvc pull` (downloads are re-hashed).

    Returns the remote and the corrupted objects that were dropped (and so downloaded again).
    """
    root = Path(os.path.abspath(repo_root))
    info = check_remote(root, remote, env=env)
    dropped = verify_cache(info.cache_dir, remove=True)
    try:
        _run_dvc(["pull", "-r", info.name, *(["--run-cache"] if run_cache else []), *targets], root, env, timeout)
    except RemoteError as err:
        raise RemoteError(
            f"{err}. Nothing that failed to download or did not match its hash (the remote has verify = true) "
            f"was checked out; `dvc status -c -r {info.name}` lists what is missing"
        ) from err
    return info, dropped


# --------------------------------------------------------------------------- Azurite (tests)

# Azurite's development account. The key is public (Microsoft documents it for the emulator);
# it opens nothing but a local Azurite.
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
REPO_ROOT = Path(__file__).resolve().parents[1]


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
