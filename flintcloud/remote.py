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

DVC trusts more than that: a remote holding a directory's ``.dir`` manifest is assumed to hold every
file the manifest lists, so an interrupted push looks complete to every later ``dvc push`` and
``dvc status -c``. :func:`push` therefore checks, after DVC's push, that the remote holds every object
the workspace's outputs need (:func:`missing_on_remote`) and uploads what is missing from the cache.
:func:`verify_workspace` re-hashes the workspace against dvc.lock/.dvc files (DVC trusts mtimes), and
:func:`pull` restores the workspace files it finds corrupted.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from flintcloud.errors import ConfigError, OutputError, RemoteError

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
    saved = {p: p.read_bytes() for p in (dvc_dir / "config", dvc_dir / "config.local") if p.is_file()}
    try:
        config = _atomic_config_class()(dvc_dir=str(dvc_dir))
        with config.edit("repo") as conf:
            apply_repo_config(conf, RelPath(str(settings.default_local_dir)))
        with config.edit("local") as conf:
            apply_local_config(conf, settings)
        merged = Config(dvc_dir=str(dvc_dir)).read()
    except (DvcConfigError, OSError, UnicodeError, OutputError) as err:
        _restore(saved, dvc_dir)
        raise RemoteError(f"could not write the DVC remotes into {str(dvc_dir)!r} (left unchanged): {err}") from err
    except BaseException:
        _restore(saved, dvc_dir)
        raise
    effective = {name: str(merged["remote"][name]["url"]) for name in REMOTES}
    effective["default"] = merged["core"]["remote"]
    if not re.match(r"\w+://", effective[LOCAL_REMOTE]):
        Path(effective[LOCAL_REMOTE]).mkdir(parents=True, exist_ok=True)
    return effective


def _atomic_config_class():
    """DVC's Config, saving each file atomically and as UTF-8.

    DVC writes through configobj's default ASCII encoding straight into the file: a non-ASCII
    FLINTCLOUD_REMOTE_DIR raised UnicodeEncodeError and left .dvc/config.local at 0 bytes. DVC reads
    UTF-8, so writing UTF-8 makes such paths work; writing to a temp file and renaming keeps the old
    file whatever fails.
    """
    from configobj import ConfigObj
    from dvc.config import Config, _pack_named

    from flintcloud.atomic import atomic_file

    class AtomicConfig(Config):
        def _save_config(self, level, conf_dict):
            filename = self.files[level]
            config = ConfigObj(_pack_named(conf_dict), encoding="utf-8")
            with atomic_file(filename, "wb") as fobj:
                config.write(fobj)

    return AtomicConfig


def _restore(saved: Mapping[Path, bytes], dvc_dir: Path) -> None:
    """Put back the config files as they were before a failed edit (atomically)."""
    from flintcloud.atomic import atomic_file

    for path in (dvc_dir / "config", dvc_dir / "config.local"):
        if path in saved:
            if not path.is_file() or path.read_bytes() != saved[path]:
                with atomic_file(path, "wb") as fh:
                    fh.write(saved[path])
        elif path.exists() and path.stat().st_size == 0:
            path.unlink()


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


def azure_credentials_source(repo_root: str | os.PathLike, env: Mapping[str, str] | None = None) -> str:
    """Where the `azure` remote's credentials will come from, as `remote setup` reports it."""
    env = os.environ if env is None else env
    info = remote_info(repo_root, AZURE_REMOTE)
    in_config = sorted(k for k in info.options if k in SECRET_OPTIONS or k == "account_name")
    if any(k in SECRET_OPTIONS for k in in_config):
        return f"credentials from .dvc/config.local: {', '.join(in_config)}"
    in_env = [v for v in AZURE_CREDENTIAL_VARS if env.get(v)]
    if in_env:
        return f"credentials from the environment: {', '.join(in_env)}"
    return "no credentials set: export AZURE_STORAGE_CONNECTION_STRING before using it"


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


def _azure_service(info: RemoteInfo, env: Mapping[str, str], timeout: float):
    """A BlobServiceClient for the remote; a malformed connection string is a RemoteError naming the variable.

    The message never repeats the string (it holds the account key).
    """
    from azure.storage.blob import BlobServiceClient

    kwargs = _azure_client_kwargs(info, env)
    opts = {"retry_total": 0, "connection_timeout": timeout, "read_timeout": timeout}
    try:
        if "conn_str" in kwargs:
            return BlobServiceClient.from_connection_string(kwargs["conn_str"], **opts)
        return BlobServiceClient(kwargs["account_url"], credential=kwargs["credential"], **opts)
    except (ValueError, TypeError) as err:
        source = ("the remote's connection_string option" if info.options.get("connection_string")
                  else "AZURE_STORAGE_CONNECTION_STRING" if "conn_str" in kwargs else "the Azure credentials")
        raise RemoteError(
            f"DVC remote {info.name!r} ({info.url}): {source} is malformed ({err}); expected "
            "'DefaultEndpointsProtocol=https;AccountName=<name>;AccountKey=<base64 key>[;BlobEndpoint=<url>]'"
        ) from err


def _check_azure(info: RemoteInfo, env: Mapping[str, str], timeout: float) -> None:
    import binascii

    from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError
    from azure.core.exceptions import ResourceNotFoundError, ServiceRequestError, ServiceResponseError

    parts = urlsplit(info.url)
    container, prefix = parts.netloc, parts.path.strip("/")
    service = _azure_service(info, env, timeout)
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
        raise RemoteError(f"{where} is unreachable: {_first_line(err)}") from err
    except ServiceResponseError as err:
        raise RemoteError(f"{where} did not answer like Azure Blob storage: {_first_line(err)}") from err
    except HttpResponseError as err:
        if err.status_code in (401, 403):
            raise RemoteError(
                f"{where} rejected the credentials (HTTP {err.status_code}: {err.reason}); check "
                "AZURE_STORAGE_CONNECTION_STRING / the SAS token's permissions (list, read, write)"
            ) from err
        raise RemoteError(f"{where} answered HTTP {err.status_code}: {err.reason or _first_line(err)}") from err
    except (binascii.Error, ValueError) as err:  # an AccountKey that is not base64 fails when signing
        raise RemoteError(f"{where}: the account key is malformed ({err}); expected the base64 key") from err
    except AzureError as err:
        raise RemoteError(f"{where} failed: {_first_line(err)}") from err


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


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


@dataclass
class PushResult:
    """What :func:`push` did beyond `dvc push`: objects the remote lacked although DVC said it was in sync."""

    info: RemoteInfo
    checked: int = 0  # objects the workspace's outputs need (files and .dir manifests)
    repaired: list[str] = field(default_factory=list)  # md5s uploaded by the completeness check


def push(repo_root: str | os.PathLike, remote: str | None = None, *, targets: Sequence[str] = (),
         run_cache: bool = True, env: Mapping[str, str] | None = None, timeout: float | None = None) -> PushResult:
    """Check the remote, refuse corrupted cache objects, `dvc push [--run-cache] [targets]`, then make sure
    the remote holds every object the workspace's outputs need and upload what it lacks (:func:`complete_remote`).
    """
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
    return complete_remote(root, info, targets=targets, env=env)


def pull(repo_root: str | os.PathLike, remote: str | None = None, *, targets: Sequence[str] = (),
         run_cache: bool = False, env: Mapping[str, str] | None = None,
         timeout: float | None = None) -> tuple[RemoteInfo, list[Path], list[WorkspaceProblem]]:
    """Check the remote, drop corrupted cache objects, `dvc pull` (downloads are re-hashed), then re-hash
    the workspace and restore every file that does not match dvc.lock (:func:`repair_workspace`).

    Returns the remote, the corrupted cache objects that were dropped (and so downloaded again), and the
    workspace files that were restored.
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
    return info, dropped, repair_workspace(root, env=env, timeout=timeout)


# --------------------------------------------------------------------------- what the workspace needs


def _cache_object(cache_dir: Path, md5: str) -> Path:
    return Path(cache_dir) / "files" / "md5" / md5[:2] / md5[2:]


def read_manifest(path: Path) -> list[tuple[str, str]]:
    """A `.dir` object's entries as (relpath, md5)."""
    try:
        entries = json.loads(Path(path).read_text(encoding="utf-8"))
        return [(str(e["relpath"]), str(e["md5"])) for e in entries]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise RemoteError(f"DVC directory manifest {str(path)!r} is unreadable: {err}") from err


@dataclass(frozen=True)
class TrackedOutput:
    """One cached output of dvc.lock or a .dvc file: its workspace path, hash and hash name."""

    path: Path  # absolute
    md5: str  # with ".dir" for a directory
    hash_name: str  # "md5" (DVC 3) or "md5-dos2unix" (DVC 2 era entries)
    defined_in: str  # "dvc.lock: <stage>" or "<file>.dvc"


def tracked_outputs(repo_root: str | os.PathLike, targets: Sequence[str] = ()) -> list[TrackedOutput]:
    """Every cached output the workspace's dvc.yaml/dvc.lock and .dvc files record a hash for.

    `targets` (as `dvc push` takes them: .dvc files, stage names, output paths) narrow the list.
    """
    import warnings

    from dvc.repo import Repo

    root = Path(os.path.abspath(repo_root))
    outs = []
    with warnings.catch_warnings(), Repo(str(root)) as repo:
        warnings.simplefilter("ignore", DeprecationWarning)
        if targets:
            selected = []
            for target in targets:
                for info in repo.stage.collect_granular(target):
                    for out in info.stage.outs:
                        if info.filter_info is None or str(out.fs_path).startswith(str(info.filter_info)) \
                                or str(info.filter_info).startswith(str(out.fs_path)):
                            selected.append(out)
        else:
            selected = list(repo.index.outs)
        for out in selected:
            if not out.use_cache or not out.hash_info or not out.hash_info.value:
                continue
            if out.hash_info.name not in ("md5", "md5-dos2unix"):
                continue
            stage = out.stage
            where = f"{os.path.relpath(stage.path, root)}" + (f": {stage.name}" if getattr(stage, "name", None) else "")
            outs.append(TrackedOutput(Path(out.fs_path), out.hash_info.value, out.hash_name or "md5", where))
    return outs


def needed_objects(outs: Iterable[TrackedOutput], cache_dir: Path) -> tuple[dict[str, str], list[str]]:
    """({md5: what needs it}, [.dir md5s whose manifest is not in the local cache]) for `outs`."""
    needed: dict[str, str] = {}
    unknown_dirs = []
    for out in outs:
        needed.setdefault(out.md5, str(out.path))
        if out.md5.endswith(".dir"):
            manifest = _cache_object(cache_dir, out.md5)
            if not manifest.is_file():
                unknown_dirs.append(out.md5)
                continue
            for rel, md5 in read_manifest(manifest):
                needed.setdefault(md5, str(out.path / rel))
    return needed, unknown_dirs


# --------------------------------------------------------------------------- remote completeness


class _LocalObjects:
    def __init__(self, info: RemoteInfo):
        parts = urlsplit(info.url)
        self.root = Path(parts.path if parts.scheme == "file" else info.url)

    def existing(self, md5s: Iterable[str]) -> set[str]:
        return {m for m in md5s if _cache_object(self.root, m).is_file()}

    def upload(self, src: Path, md5: str) -> None:
        from flintcloud.atomic import atomic_path

        dest = _cache_object(self.root, md5)
        with atomic_path(dest) as tmp:
            shutil.copyfile(src, tmp)
        dest.chmod(0o444)


class _AzureObjects:
    def __init__(self, info: RemoteInfo, env: Mapping[str, str]):
        self.info = info
        parts = urlsplit(info.url)
        self.container, prefix = parts.netloc, parts.path.strip("/")
        self.prefix = f"{prefix}/files/md5/" if prefix else "files/md5/"
        self.service = _azure_service(info, env, timeout=60.0)

    def _name(self, md5: str) -> str:
        return f"{self.prefix}{md5[:2]}/{md5[2:]}"

    def existing(self, md5s: Iterable[str]) -> set[str]:
        wanted = {self._name(m): m for m in md5s}
        client = self.service.get_container_client(self.container)
        return {wanted[b.name] for b in client.list_blobs(name_starts_with=self.prefix) if b.name in wanted}

    def upload(self, src: Path, md5: str) -> None:
        blob = self.service.get_blob_client(self.container, self._name(md5))
        with open(src, "rb") as fh:
            blob.upload_blob(fh, overwrite=True)


def _remote_objects(info: RemoteInfo, env: Mapping[str, str]):
    scheme = urlsplit(info.url).scheme
    if scheme == "azure":
        return _AzureObjects(info, env)
    if scheme in ("", "file"):
        return _LocalObjects(info)
    raise RemoteError(f"DVC remote {info.name!r} ({info.url}): completeness check supports local and azure:// remotes")


def missing_on_remote(repo_root: str | os.PathLike, name: str | None = None, *, targets: Sequence[str] = (),
                      env: Mapping[str, str] | None = None) -> tuple[RemoteInfo, dict[str, str], int]:
    """Objects the workspace's outputs need that the remote lacks: (remote, {md5: path needing it}, n checked).

    Checks every file listed in every `.dir` manifest, not just the manifest: DVC takes a remote `.dir`
    as proof that its files are there too, which an interrupted push makes false. Objects missing from the
    local cache as well (outputs never produced or fetched here) are not counted.
    """
    env = os.environ if env is None else env
    root = Path(os.path.abspath(repo_root))
    info = remote_info(root, name)
    needed, _ = needed_objects(tracked_outputs(root, targets), info.cache_dir)
    local = {m: w for m, w in needed.items() if _cache_object(info.cache_dir, m).is_file()}
    present = _remote_objects(info, env).existing(local)
    return info, {m: w for m, w in local.items() if m not in present}, len(local)


def complete_remote(repo_root: str | os.PathLike, info: RemoteInfo, *, targets: Sequence[str] = (),
                    env: Mapping[str, str] | None = None) -> PushResult:
    """Upload, from the (already verified) local cache, every needed object the remote lacks.

    Contents go before the `.dir` manifests that list them, so an interruption here cannot recreate the
    "manifest without contents" state. Re-checks afterwards and raises RemoteError if anything is still missing.
    """
    env = os.environ if env is None else env
    _, missing, checked = missing_on_remote(repo_root, info.name, targets=targets, env=env)
    store = _remote_objects(info, env)
    order = sorted(missing, key=lambda m: (m.endswith(".dir"), m))
    for md5 in order:
        try:
            store.upload(_cache_object(info.cache_dir, md5), md5)
        except Exception as err:  # noqa: BLE001 - any storage failure: name the object, keep going is unsafe
            raise RemoteError(
                f"DVC remote {info.name!r} ({info.url}) lacks {len(missing)} object(s) after `dvc push`; uploading "
                f"{md5} ({missing[md5]}) failed: {err}"
            ) from err
    if missing:
        _, still, _ = missing_on_remote(repo_root, info.name, targets=targets, env=env)
        if still:
            raise RemoteError(
                f"DVC remote {info.name!r} ({info.url}) still lacks {len(still)} object(s) after repair, e.g. "
                f"{next(iter(still.values()))}"
            )
    return PushResult(info, checked, order)


# --------------------------------------------------------------------------- workspace integrity


@dataclass(frozen=True)
class WorkspaceProblem:
    path: Path  # the workspace file
    expected: str  # md5 recorded in dvc.lock / the .dvc file (or its directory manifest)
    actual: str | None  # md5 of the workspace file; None if it is missing
    output: TrackedOutput

    def describe(self, root: Path) -> str:
        rel = os.path.relpath(self.path, root)
        state = "is missing" if self.actual is None else f"has md5 {self.actual}"
        return f"{rel} {state}, {self.output.defined_in} records {self.expected}"


def _file_md5(path: Path, hash_name: str) -> str:
    if hash_name == "md5":
        return _object_hash(path)
    from dvc_data.hashfile.hash import file_md5

    return file_md5(str(path), name=hash_name)


def verify_workspace(repo_root: str | os.PathLike, *, cache_dir: Path | None = None) -> list[WorkspaceProblem]:
    """Re-hash every file of every cached output against dvc.lock / .dvc files (never trusting mtimes).

    Directory outputs are checked file by file against their manifest (from the local cache); files the
    manifest does not list are ignored. An output that is entirely absent is not a problem (not pulled).
    """
    root = Path(os.path.abspath(repo_root))
    cache_dir = dvc_cache_dir(root) if cache_dir is None else Path(cache_dir)
    problems = []
    for out in tracked_outputs(root):
        if not out.path.exists():
            continue
        if out.md5.endswith(".dir"):
            manifest = _cache_object(cache_dir, out.md5)
            if not manifest.is_file() or not out.path.is_dir():
                continue
            for rel, md5 in read_manifest(manifest):
                f = out.path / rel
                actual = _file_md5(f, out.hash_name) if f.is_file() else None
                if actual != md5:
                    problems.append(WorkspaceProblem(f, md5, actual, out))
        elif out.path.is_file():
            actual = _file_md5(out.path, out.hash_name)
            if actual != out.md5:
                problems.append(WorkspaceProblem(out.path, out.md5, actual, out))
    return problems


def repair_workspace(repo_root: str | os.PathLike, *, env: Mapping[str, str] | None = None,
                     timeout: float | None = None) -> list[WorkspaceProblem]:
    """Restore the workspace files that do not match dvc.lock from the (verified) cache; return them.

    Each bad file is removed and its output checked out again with `dvc checkout --force`. Raises
    RemoteError naming the files if any still differs afterwards.
    """
    root = Path(os.path.abspath(repo_root))
    cache_dir = dvc_cache_dir(root)
    bad = [p for p in verify_workspace(root, cache_dir=cache_dir) if p.actual is not None]
    if not bad:
        return []
    for problem in bad:
        problem.path.chmod(0o644)
        problem.path.unlink()
    outs = sorted({os.path.relpath(p.output.path, root) for p in bad})
    _run_dvc(["checkout", "--force", *outs], root, env, timeout)
    still = [p for p in verify_workspace(root, cache_dir=cache_dir) if p.path in {b.path for b in bad}]
    if still:
        listed = "; ".join(p.describe(root) for p in still)
        raise RemoteError(f"{len(still)} workspace file(s) could not be restored from the cache: {listed}")
    return bad
