"""Engine `gcbm-container`: real GCBM (`moja.cli`) in moja global's image, pinned by digest.

    run_gcbm_container(config_dir, out_dir, image)

1. Check Docker answers (`docker info`, with a timeout); without Docker: EngineUnavailableError, one
   line, telling the user to set `simulation.engine: libcbm`. Then check the image reference is pinned
   by digest (`ghcr.io/moja-global/rest_api_gcbm@sha256:<64 hex>`) and is not the placeholder shipped in
   params.yaml.
2. Copy the configuration set into a run folder, rewriting its input paths (gcbm_input.db, layers) to
   absolute host paths and its output paths (gcbm_output.db, WriteVariableGeotiff's folder, the log file)
   into the run folder. Inputs are mounted read-only at the same absolute paths inside the container, the
   run folder read-write, so every path in the configs means the same thing inside and outside.
3. `docker run --rm --user UID:GID --network none ... --entrypoint /opt/gcbm/moja.cli IMAGE --config_file
   gcbm_config.cfg --config_provider provider_config.json` from the run folder's config directory
   (outputs owned by the calling user, no network, a time limit; the container is killed on timeout or
   interrupt).
4. Collect: `gcbm_output.db` compiled into `compiled_gcbm_output.db` and GCBM's per-block GeoTIFFs
   mosaicked into `spatial/<Indicator>_<year>.tif` on the input layers' grid, the grid the embedded
   engine's maps are on (docs/engine-outputs.md), by the same code the embedded engine's outputs go
   through; GCBM's console output and log file kept in `logs/`; `run_summary.json` with the pixel count
   (the landscape read by the one reading path, `prepare(config)` = flintcloud.run.prepare_run, so both
   engines report the same count and refuse the same inputs, memory check and preflight included).
Everything is written under a temp dir and moved to `out_dir` only when all of it succeeded.

Pure helpers (`check_image`, `rewrite_config_docs`, `docker_run_command`, `mount_roots`) are tested
without Docker; `docker_available` and `run_gcbm_container` do the I/O.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flintcloud.atomic import atomic_dir
from flintcloud.engine.step import RunSummary
from flintcloud.errors import ConfigError, EngineUnavailableError, SimulationError
from flintcloud.jsonfile import load_json
from flintcloud.gcbm.config import GcbmConfig, read_gcbm_config, resolve_path
from flintcloud.params import OUTPUT_LAYOUT

ENGINE_NAME = "gcbm-container"
MOJA_CLI = "/opt/gcbm/moja.cli"
CONFIG_FILE = "gcbm_config.cfg"
PROVIDER_FILE = "provider_config.json"
LOGGING_FILE = "logging.conf"
# params.yaml ships this until the user pins the image they pulled (no digest can be looked up for them).
PLACEHOLDER_IMAGE = "ghcr.io/moja-global/rest_api_gcbm@sha256:PLACEHOLDER-set-simulation.gcbm_container.image"
IMAGE_PARAM = "simulation.gcbm_container.image"
DIGEST_RE = re.compile(r"^(?P<name>[a-z0-9][a-z0-9._/:-]*[a-z0-9])@sha256:(?P<digest>[0-9a-f]{64})$")
SWITCH_HINT = "set `simulation.engine: libcbm` in params.yaml to use the embedded engine"
INFO_TIMEOUT = 20.0  # seconds for `docker info`
KILL_TIMEOUT = 30.0
DEFAULT_RUN_TIMEOUT = 6 * 3600.0
RUN_DIR = "gcbm_run"


@dataclass(frozen=True)
class Mount:
    host: Path
    read_only: bool

    def arg(self) -> str:
        return f"type=bind,source={self.host},target={self.host}" + (",readonly" if self.read_only else "")


# ----------------------------------------------------------------------------- pure helpers


def check_image(image: str) -> str:
    """The image reference if it is pinned by digest; ConfigError naming the param otherwise."""
    if not isinstance(image, str) or not image.strip():
        raise ConfigError(f"{IMAGE_PARAM} must name the GCBM image by digest, got {image!r}")
    image = image.strip()
    if "PLACEHOLDER" in image.upper():
        raise ConfigError(
            f"{IMAGE_PARAM} is still the placeholder {image!r}: pull the image and pin its digest, e.g. "
            "`docker pull ghcr.io/moja-global/rest_api_gcbm:master && docker inspect --format "
            "'{{index .RepoDigests 0}}' ghcr.io/moja-global/rest_api_gcbm:master`, then put that "
            f"`...@sha256:<digest>` in params.yaml ({SWITCH_HINT} instead if you have no Docker)"
        )
    if not DIGEST_RE.match(image):
        raise ConfigError(
            f"{IMAGE_PARAM} {image!r} is not pinned by digest: expected `<registry>/<name>@sha256:<64 hex digits>` "
            "so that a result is tied to one exact GCBM build (a tag such as :master moves)"
        )
    return image


def _abs(value: str, config_dir: Path) -> str:
    return str(resolve_path(value, config_dir))


def rewrite_config_docs(docs: Mapping[str, object], config_dir: Path, output_dir: Path) -> tuple[dict, list[Path]]:
    """Config JSON docs with inputs made absolute and outputs moved under `output_dir`.

    Returns (new docs, input paths). Inputs: `Providers.*.path` and `Providers.*.layers[].layer_path`.
    Outputs: `Modules.*.settings.output_path` -> output_dir, `Modules.*.settings.databasename` ->
    output_dir/<its file name>. Nothing else changes.
    """
    config_dir = Path(config_dir)
    new: dict = {}
    inputs: list[Path] = []
    for name, doc in docs.items():
        doc = copy.deepcopy(doc)
        if isinstance(doc, dict):
            for provider in (doc.get("Providers") or {}).values():
                if not isinstance(provider, dict):
                    continue
                if isinstance(provider.get("path"), str):
                    provider["path"] = _abs(provider["path"], config_dir)
                    inputs.append(Path(provider["path"]))
                for layer in provider.get("layers") or []:
                    if isinstance(layer, dict) and isinstance(layer.get("layer_path"), str):
                        layer["layer_path"] = _abs(layer["layer_path"], config_dir)
                        inputs.append(Path(layer["layer_path"]))
            for module in (doc.get("Modules") or {}).values():
                settings = module.get("settings") if isinstance(module, dict) else None
                if not isinstance(settings, dict):
                    continue
                if isinstance(settings.get("output_path"), str):
                    settings["output_path"] = str(output_dir)
                if isinstance(settings.get("databasename"), str):
                    db_name = resolve_path(settings["databasename"], config_dir).name
                    settings["databasename"] = str(output_dir / db_name)
        new[name] = doc
    return new, inputs


def rewrite_logging_conf(text: str, output_dir: Path) -> str:
    """Point boost.log's TextFile sinks (`FileName="..."`) into output_dir/logs/."""

    def repl(match: re.Match) -> str:
        name = Path(match.group(2).replace("\\", "/")).name
        return f'{match.group(1)}"{output_dir / "logs" / name}"'

    return re.sub(r'(FileName\s*=\s*)"([^"]*)"', repl, text)


def mount_roots(inputs: Sequence[Path], run_dir: Path) -> list[Mount]:
    """Read-only mounts covering every input (their common folder, or each folder), plus the run folder."""
    folders = sorted({Path(p).parent for p in inputs})
    mounts: list[Mount] = []
    if folders:
        common = Path(os.path.commonpath([str(f) for f in folders]))
        if common != Path(common.anchor):
            folders = [common]
        mounts = [Mount(f, read_only=True) for f in folders]
    mounts.append(Mount(Path(run_dir), read_only=False))
    return mounts


def docker_run_command(image: str, run_config_dir: Path, mounts: Sequence[Mount], *, uid: int, gid: int,
                       name: str, docker: str = "docker") -> list[str]:
    """The `docker run` command line for moja.cli in `run_config_dir`."""
    cmd = [docker, "run", "--rm", "--name", name, "--user", f"{uid}:{gid}", "--network", "none",
           "--env", "HOME=/tmp"]
    for mount in mounts:
        cmd += ["--mount", mount.arg()]
    cmd += ["--workdir", str(run_config_dir), "--entrypoint", MOJA_CLI, image,
            "--config_file", CONFIG_FILE, "--config_provider", PROVIDER_FILE]
    return cmd


# ----------------------------------------------------------------------------- I/O


def docker_available(docker: str = "docker", timeout: float = INFO_TIMEOUT) -> str:
    """The Docker server version; EngineUnavailableError (one line, how to switch) if Docker cannot run."""
    exe = shutil.which(docker)
    if exe is None:
        raise EngineUnavailableError(f"engine gcbm-container needs Docker, but no `{docker}` client is on PATH; "
                                     f"{SWITCH_HINT}")
    try:
        proc = subprocess.run([exe, "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as err:
        raise EngineUnavailableError(f"engine gcbm-container needs Docker, but `docker info` did not answer within "
                                     f"{timeout:g} s; {SWITCH_HINT}") from err
    except OSError as err:
        raise EngineUnavailableError(f"engine gcbm-container needs Docker, but `{exe}` could not start ({err}); "
                                     f"{SWITCH_HINT}") from err
    version = proc.stdout.strip()
    if proc.returncode != 0 or not version:
        lines = [ln.strip() for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        reason = next((ln for ln in lines if "daemon" in ln.lower()), lines[-1] if lines else f"exit {proc.returncode}")
        raise EngineUnavailableError(f"engine gcbm-container needs Docker, but the Docker daemon is not available "
                                     f"({reason}); {SWITCH_HINT}")
    return version


def prepare_run_dir(config_dir: Path, run_dir: Path) -> tuple[Path, Path, list[Mount]]:
    """Write the rewritten config set to run_dir/config; return (config dir, output dir, mounts)."""
    config_dir = Path(config_dir).resolve()
    if not (config_dir / CONFIG_FILE).is_file():
        raise ConfigError(f"no {CONFIG_FILE} in {str(config_dir)!r}: run the `configure` stage first")
    if not (config_dir / PROVIDER_FILE).is_file():
        raise ConfigError(f"no {PROVIDER_FILE} in {str(config_dir)!r}: the configuration set is incomplete")
    run_config, output_dir = run_dir / "config", run_dir / "output"
    run_config.mkdir(parents=True)
    (output_dir / "logs").mkdir(parents=True)
    docs = {p.name: load_json(p, ConfigError, "config file") for p in sorted(config_dir.glob("*.json"))}
    new_docs, inputs = rewrite_config_docs(docs, config_dir, output_dir)
    missing = [str(p) for p in inputs if not p.exists()]
    if missing:
        raise ConfigError(f"inputs named in {str(config_dir)!r} do not exist: {missing}")
    for name, doc in new_docs.items():
        (run_config / name).write_text(json.dumps(doc, indent=2), encoding="utf-8")
    for path in config_dir.iterdir():
        if path.is_file() and path.suffix != ".json":
            text = path.read_text(encoding="utf-8-sig")
            if path.name == LOGGING_FILE:
                text = rewrite_logging_conf(text, output_dir)
            (run_config / path.name).write_text(text, encoding="utf-8")
    return run_config, output_dir, mount_roots(inputs, run_dir)


def _kill(docker: str, name: str) -> None:
    try:
        subprocess.run([docker, "kill", name], capture_output=True, timeout=KILL_TIMEOUT, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        pass


def _tail(path: Path, n: int = 15) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-n:])


def run_gcbm_container(config_dir: str | os.PathLike, out_dir: str | os.PathLike, image: str, *,
                       prepare: Callable[[GcbmConfig], Any],
                       docker: str = "docker", timeout: float | None = DEFAULT_RUN_TIMEOUT,
                       uid: int | None = None, gid: int | None = None, overwrite: bool = True) -> RunSummary:
    """Run GCBM on the config set in `config_dir`; write the embedded engine's output layout to `out_dir`.

    `prepare(config)` is the one reading path, flintcloud.run.prepare_run (run_project passes it in: the
    engine layer may not import run): the landscape, the memory check, the stands and the preflight
    checks, after Docker and the image were checked and before GCBM starts; its `.stands` give the input
    grid and the pixel count.
    """
    exe = shutil.which(docker) or docker
    docker_available(exe)  # first: without Docker, the image does not matter and libcbm is the way out
    image = check_image(image)
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise SimulationError(f"output folder {str(out_dir)!r} is not empty (pass overwrite to replace it)")
    uid = os.getuid() if uid is None else uid
    gid = os.getgid() if gid is None else gid
    started = time.monotonic()
    with atomic_dir(out_dir) as tmp:
        run_dir = (tmp / RUN_DIR).resolve()
        run_config, gcbm_out, mounts = prepare_run_dir(Path(config_dir), run_dir)
        config = read_gcbm_config(run_config)  # the years, and a readable config before Docker starts
        stands = prepare(config).stands  # the input grid and pixel count; bad inputs fail before GCBM starts
        name = f"flintcloud-gcbm-{uuid.uuid4().hex[:12]}"
        cmd = docker_run_command(image, run_config, mounts, uid=uid, gid=gid, name=name, docker=exe)
        logs = tmp / OUTPUT_LAYOUT.logs_dir
        logs.mkdir()
        console_log = logs / "moja.cli.log"
        with open(console_log, "w", encoding="utf-8") as log:
            log.write("$ " + " ".join(cmd) + "\n")
            log.flush()
            try:
                proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, timeout=timeout,
                                      stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired as err:
                _kill(exe, name)
                raise SimulationError(f"GCBM ({image}) did not finish within {timeout:g} s; container {name} "
                                      "was killed") from err
            except BaseException:
                _kill(exe, name)
                raise
        for found in sorted((gcbm_out / "logs").glob("*")):
            shutil.copy2(found, logs / found.name)
        if proc.returncode != 0:
            kept = _keep_failed_log(console_log, out_dir)
            raise SimulationError(f"GCBM ({image}) exited with code {proc.returncode}; its log is {str(kept)!r}. "
                                  f"Last lines:\n{_tail(console_log)}")
        raw_db = config.output_db_path or gcbm_out / OUTPUT_LAYOUT.raw_db  # where the config tells GCBM to write
        if not raw_db.is_file():
            kept = _keep_failed_log(console_log, out_dir)
            raise SimulationError(f"GCBM ({image}) finished but wrote no {raw_db.name} (log: {str(kept)!r})")
        _collect_outputs(gcbm_out, raw_db, tmp, config.start_year, stands.grid)
        shutil.copytree(run_config, logs / "gcbm_config")
        shutil.rmtree(run_dir)
        seconds = time.monotonic() - started
        summary = RunSummary(n_pixels=int(stands.n_pixels), n_stands=int(stands.n_stands), n_spinup_groups=0,
                             years=config.n_years, seconds=seconds, engine=ENGINE_NAME)
        (tmp / OUTPUT_LAYOUT.summary_file).write_text(json.dumps(
            {"engine": ENGINE_NAME, "image": image, "command": cmd, "seconds": round(seconds, 3),
             "years": summary.years, "start_year": int(config.start_year), "end_year": int(config.end_year),
             # counted from the inputs by the embedded engine's landscape code (CBMBuildLandUnitModule's rules)
             "pixels": summary.n_pixels, "unique_stands": summary.n_stands, "area_ha": float(stands.area_ha),
             "excluded_pixels": {k: int(v) for k, v in stands.excluded.items()}}, indent=2))
    return summary


def _keep_failed_log(console_log: Path, out_dir: Path) -> Path:
    """A failed run leaves out_dir untouched; its log goes beside it so the user can read it."""
    kept = out_dir.parent / f"{out_dir.name}.gcbm-failed.log"
    shutil.copy2(console_log, kept)
    return kept


def _collect_outputs(gcbm_out: Path, raw_db: Path, dest: Path, start_year: int, grid=None) -> None:
    """GCBM's raw db -> compiled tables, per-block tiles -> spatial/<Indicator>_<year>.tif on the input `grid`
    (helper code shared with the embedded engine), in `dest` (names: flintcloud.params.OUTPUT_LAYOUT)."""
    from flintcloud.outputs.compile import compile_results
    from flintcloud.outputs.spatial import mosaic_gcbm_blocks

    shutil.move(str(raw_db), dest / OUTPUT_LAYOUT.raw_db)
    compile_results(dest / OUTPUT_LAYOUT.raw_db, dest / OUTPUT_LAYOUT.compiled_db)
    mosaic_gcbm_blocks(gcbm_out, dest / OUTPUT_LAYOUT.spatial_dir, start_year=start_year, grid=grid)
