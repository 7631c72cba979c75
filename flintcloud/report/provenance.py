"""Provenance of a report: which code, which input data and which engine made the numbers.

Written into metrics.json (flat string/bool keys, so `dvc exp show` lists them and
compare/history, which keep only numbers, ignore them) and shown at the top of report.md.

- `git_commit`, `git_dirty`: HEAD of the repository the summary was made in, and whether it
  had uncommitted changes to tracked files other than what the pipeline itself writes
  (dvc.lock and the stages' outputs, which `dvc repro` rewrites while it runs).
- `input_project` / `input_project_md5`: the project folder (params.yaml project.dir) and its
  DVC hash, from dvc.lock (the entry a stage recorded for that path: `dvc repro` writes each
  stage's lock entry as soon as it has run, so the simulate stage's is there before
  summarize runs) or from `<project>.dvc` for a `dvc add`-ed project; where neither records it
  (the service runs the stages without DVC), computed as DVC computes it (`dvc_md5`), so a
  report says the same whether `dvc repro` or the service made it.
- `flintcloud_version`, `libcbm_version`, `engine`, `engine_version` (the run's
  run_summary.json).

`collect_provenance(...)` does the I/O (git, files); `parse_lock_hash` and `dirty_paths` are pure.
"""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path, PurePosixPath

import yaml

from flintcloud.errors import ReportError
from flintcloud.jsonfile import load_json
from flintcloud.params import OUTPUT_LAYOUT

UNKNOWN = "unknown"
PROVENANCE_KEYS = ("git_commit", "git_dirty", "input_project", "input_project_md5", "flintcloud_version",
                   "libcbm_version", "engine", "engine_version")


def _norm(path: str) -> str:
    return PurePosixPath(str(path).replace("\\", "/")).as_posix().rstrip("/")


def parse_lock_hash(lock: dict, path: str) -> str | None:
    """The md5 DVC recorded for `path` in a parsed dvc.lock (outs first, then deps), or None."""
    want = _norm(path)
    stages = (lock or {}).get("stages") or {}
    for kind in ("outs", "deps"):
        for stage in stages.values():
            for entry in (stage or {}).get(kind) or []:
                if isinstance(entry, dict) and _norm(entry.get("path", "")) == want and entry.get("md5"):
                    return str(entry["md5"])
    return None


def lock_outputs(lock: dict) -> set[str]:
    """Every output path in a parsed dvc.lock."""
    out = set()
    for stage in ((lock or {}).get("stages") or {}).values():
        for entry in (stage or {}).get("outs") or []:
            if isinstance(entry, dict) and entry.get("path"):
                out.add(_norm(entry["path"]))
    return out


def dirty_paths(porcelain: str, pipeline_outputs: set[str]) -> list[str]:
    """Changed tracked files from `git status --porcelain` output, without dvc.lock and pipeline outputs."""
    changed = []
    for line in porcelain.splitlines():
        if len(line) < 4:
            continue
        name = line[3:].split(" -> ")[-1].strip('"')
        if name == "dvc.lock" or any(name == o or name.startswith(o + "/") for o in pipeline_outputs):
            continue
        changed.append(name)
    return changed


def _git(repo: Path, *args: str) -> str | None:
    try:
        p = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return p.stdout if p.returncode == 0 else None


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return UNKNOWN


def dvc_md5(path: str | Path) -> str:
    """The md5 DVC records for a file or folder (`<md5>.dir` for a folder), computed with DVC's own hashing."""
    import tempfile

    from dvc_data.hashfile.build import build
    from dvc_data.hashfile.db.local import LocalHashFileDB
    from dvc_objects.fs.local import LocalFileSystem

    fs = LocalFileSystem()
    with tempfile.TemporaryDirectory(prefix="flintcloud-md5-") as scratch:
        _, _, obj = build(LocalHashFileDB(fs, scratch), str(Path(path).resolve()), fs, "md5")
    return str(obj.hash_info.value)


def collect_provenance(repo: str | Path, project_dir: str | None, output_dir: str | Path) -> dict:
    """The PROVENANCE_KEYS for a run's summary (unknown where git, DVC or the run do not say)."""
    repo = Path(repo)
    lock = {}
    lock_path = repo / "dvc.lock"
    if lock_path.is_file():
        try:
            lock = yaml.safe_load(lock_path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as err:
            raise ReportError(f"{str(lock_path)!r} is not valid YAML: {err}") from err
    head = _git(repo, "rev-parse", "HEAD")
    status = _git(repo, "status", "--porcelain", "--untracked-files=no")
    md5 = None
    if project_dir:
        md5 = parse_lock_hash(lock, project_dir)
        dvc_file = repo / f"{_norm(project_dir)}.dvc"
        if md5 is None and dvc_file.is_file():
            md5 = parse_lock_hash({"stages": {"add": yaml.safe_load(dvc_file.read_text(encoding="utf-8"))}},
                                  project_dir)
        if md5 is None and (repo / project_dir).exists():
            md5 = dvc_md5(repo / project_dir)
    run_summary = Path(output_dir) / OUTPUT_LAYOUT.summary_file
    run = load_json(run_summary, ReportError, "run summary") if run_summary.is_file() else {}
    return {
        "git_commit": head.strip() if head else UNKNOWN,
        "git_dirty": bool(dirty_paths(status, lock_outputs(lock))) if status is not None else None,
        "input_project": str(project_dir) if project_dir else UNKNOWN,
        "input_project_md5": md5 or UNKNOWN,
        "flintcloud_version": _version("flintcloud"),
        "libcbm_version": _version("libcbm"),
        "engine": str(run.get("engine", UNKNOWN)),
        "engine_version": str(run.get("engine_version", UNKNOWN)),
    }
