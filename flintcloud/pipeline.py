"""The DVC pipeline as one library call, for the service's workers (and anyone without DVC).

    run_pipeline(project_dir, params, out_dir, progress=callback)

`out_dir` becomes a self-contained DVC project that reproduces the run with `dvc repro` and no
edits: params.yaml (the full params used), the inputs under data/project, dvc.yaml (the
repository's pipeline without the demo_inputs stage and without the flintcloud/ code deps, which
are not part of the project), stages/*.py and .dvc/. The stages then run in the order and with
exactly the calls of stages/*.py (validate -> configure -> simulate [+ compile] -> summarize ->
report), with the project folder as working directory, as `dvc repro` runs them: the outputs are
byte-identical to `dvc repro` on the same project and params (tests/test_pipeline.py).

Everything is written in a temporary sibling of `out_dir` and moved into place only when every
stage succeeded (flintcloud.atomic.atomic_dir): a failed or cancelled run leaves `out_dir` as it was.
The stages run with the project folder as the process's working directory (restored afterwards),
so call this from a process of its own when other threads depend on the working directory.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path

import yaml

from flintcloud import __version__
from flintcloud.atomic import atomic_dir
from flintcloud.errors import ConfigError

# Where the run's inputs live inside the DVC project (params.yaml project.dir).
PROJECT_SUBDIR = "data/project"
# The pipeline's stages in dvc.yaml order, and the share of the run's time each takes (for progress).
STAGES = ("validate", "configure", "simulate", "summarize", "report")
STAGE_WEIGHTS = {"validate": 0.05, "configure": 0.03, "simulate": 0.80, "summarize": 0.10, "report": 0.02}
# The stage outputs, relative to the project (dvc.yaml outs).
OUTPUTS = ("reports/validation.json", "build/config", "build/output", "reports/metrics.json", "reports/plots",
           "reports/figures", "reports/report.md")

ProgressCallback = Callable[[str, float, str], None]


def code_root() -> Path:
    """The checkout holding dvc.yaml and stages/ beside the flintcloud package."""
    root = Path(__file__).resolve().parents[1]
    if not (root / "dvc.yaml").is_file() or not (root / "stages").is_dir():
        raise ConfigError(
            f"the pipeline definition (dvc.yaml and stages/) is not beside the flintcloud package in {str(root)!r}; "
            f"install flintcloud from its repository checkout (pip install -e .)"
        )
    return root


def run_params(params: dict, project_subdir: str = PROJECT_SUBDIR) -> dict:
    """The params a run uses: `params` with project.dir pointing at the run's inputs and no `scenarios`
    section (a run has no scenario stages; the validate stage would check the checkout's scenarios
    against the run's inputs). Pure."""
    out = copy.deepcopy(params)
    out.pop("scenarios", None)
    project = out.get("project")
    if not isinstance(project, dict):
        raise ConfigError(f"params: section 'project' is missing or not a mapping, got {project!r}")
    project["dir"] = project_subdir
    return out


def parse_pipeline_yaml(doc: dict) -> dict:
    """dvc.yaml for a run's project: only the run's stages (no demo_inputs, no scenario stages), no deps on
    the flintcloud/ code, no params of the scenarios section. Pure."""
    out = copy.deepcopy(doc)
    stages = {name: stage for name, stage in (out.get("stages") or {}).items() if name in STAGES}
    out["stages"] = stages
    for stage in stages.values():
        stage["deps"] = [d for d in stage.get("deps", []) if not str(d).startswith("flintcloud/")]
        if "params" in stage:  # run_params has no scenarios section
            stage["params"] = [k for k in stage["params"] if str(k).split(".")[0] != "scenarios"]
    return out


def project_files(params: dict, root: Path | None = None) -> dict[str, bytes]:
    """The text files of a run's DVC project (relative path -> bytes), inputs excluded."""
    root = code_root() if root is None else root
    with open(root / "dvc.yaml", encoding="utf-8") as fh:
        dvc_yaml = parse_pipeline_yaml(yaml.safe_load(fh))
    header = (
        "# flintcloud run: the repository's pipeline on this run's inputs (data/project).\n"
        "# Reproduce with `dvc repro` in this folder, with flintcloud installed.\n"
    )
    files = {
        "params.yaml": yaml.safe_dump(params, sort_keys=False, allow_unicode=True).encode("utf-8"),
        "dvc.yaml": (header + yaml.safe_dump(dvc_yaml, sort_keys=False)).encode("utf-8"),
        ".dvc/config": b"[core]\n    no_scm = True\n",
        ".dvc/.gitignore": b"/config.local\n/tmp\n/cache\n",
        ".dvcignore": b"",
    }
    for script in sorted((root / "stages").glob("*.py")):
        files[f"stages/{script.name}"] = script.read_bytes()
    return files


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def write_project(project_dir: Path, params: dict, out_dir: Path) -> dict:
    """Lay out the run's DVC project in `out_dir`; returns the params written. Inputs are hard-linked."""
    project_dir = Path(project_dir)
    if not project_dir.is_dir():
        raise ConfigError(f"project folder {str(project_dir)!r} does not exist")
    params = run_params(params)
    for rel, data in project_files(params).items():
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    shutil.copytree(project_dir, out_dir / PROJECT_SUBDIR, copy_function=_link_or_copy)
    with open(out_dir / "params.yaml", encoding="utf-8") as fh:  # exactly what the stages will read
        return yaml.safe_load(fh)


@contextlib.contextmanager
def working_directory(path: Path) -> Iterator[None]:
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][\w.]*)\}")


def stage_commands(dvc_yaml: dict, params: dict, stages: tuple[str, ...] = STAGES) -> list[tuple[str, str, list[str]]]:
    """(stage, script, argv) for each stage, from dvc.yaml's own `cmd` lines with ${...} filled from params.

    dvc.yaml is the one place that says how a stage is called: `dvc repro` reads it, and so does the
    service's run, so the two cannot drift apart. Pure."""
    out = []
    for name in stages:
        try:
            cmd = " ".join(str(dvc_yaml["stages"][name]["cmd"]).split())
        except (KeyError, TypeError) as err:
            raise ConfigError(f"dvc.yaml: stage {name!r} has no cmd") from err

        def value(match: re.Match) -> str:
            node: object = params
            for part in match.group(1).split("."):
                if not isinstance(node, dict) or part not in node:
                    raise ConfigError(f"dvc.yaml: stage {name!r} interpolates ${{{match.group(1)}}}, "
                                      f"which params.yaml does not set")
                node = node[part]
            return str(node)

        argv = shlex.split(_INTERPOLATION.sub(value, cmd))
        if len(argv) < 2 or argv[0] != "python" or not argv[1].startswith("stages/"):
            raise ConfigError(f"dvc.yaml: stage {name!r} cmd {cmd!r} is not `python stages/<script>.py ...`")
        out.append((name, argv[1], argv[2:]))
    return out


def _stage_main(script: Path) -> Callable[[list[str]], None]:
    """The `main(args)` of a stage script (stages/ on sys.path for its `common` helper)."""
    import importlib.util

    folder = str(script.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(f"flintcloud_stage_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


class _LineWriter:
    """A text stream that hands each complete line to `log` (the stages print their one-line results).

    While `log` runs, stdout/stderr are the streams from before the redirection, so a `log` that prints
    (the service's runner does) writes to the real stream instead of back into this one."""

    def __init__(self, log: Callable[[str], None]):
        self.log, self.pending = log, ""
        self.streams = (sys.stdout, sys.stderr)

    def _emit(self, line: str) -> None:
        redirected = (sys.stdout, sys.stderr)
        sys.stdout, sys.stderr = self.streams
        try:
            self.log(line)
        finally:
            sys.stdout, sys.stderr = redirected

    def write(self, text: str) -> int:
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            self._emit(line)
        return len(text)

    def flush(self) -> None:
        if self.pending:
            self._emit(self.pending)
            self.pending = ""


def run_stages(params: dict, progress: ProgressCallback | None = None, log: Callable[[str], None] = print) -> dict:
    """Run the stages in the current directory (a run project) exactly as `dvc repro` would: each stage
    script's own `main` with the arguments of its dvc.yaml `cmd`, in dvc.yaml order. Returns metrics."""
    with open("dvc.yaml", encoding="utf-8") as fh:
        commands = stage_commands(yaml.safe_load(fh), params)
    done = 0.0
    for name, script, args in commands:
        if progress is not None:
            progress(name, done, f"stage {name}")
        log(f"stage {name}: started")
        writer = _LineWriter(log)
        with contextlib.redirect_stdout(writer), contextlib.redirect_stderr(writer):
            _stage_main(Path(script).resolve())(args)
        writer.flush()
        done += STAGE_WEIGHTS[name]
    if progress is not None:
        progress("done", 1.0, "finished")
    with open("reports/metrics.json", encoding="utf-8") as fh:
        return json.load(fh)


def run_pipeline(project_dir: str | os.PathLike, params: dict, out_dir: str | os.PathLike, *,
                 progress: ProgressCallback | None = None, log: Callable[[str], None] = print) -> dict:
    """Build the run's DVC project from `project_dir` + `params` and run every stage; atomic on `out_dir`."""
    project_dir = Path(project_dir).resolve()
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        used = write_project(project_dir, params, tmp)
        with working_directory(tmp):
            metrics = run_stages(used, progress=progress, log=log)
    return metrics


# --- what made a run ---------------------------------------------------------------------
def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def input_hashes(project_dir: Path) -> dict[str, str]:
    """sha256 of every file under the project folder, by relative POSIX path, sorted."""
    project_dir = Path(project_dir)
    return {p.relative_to(project_dir).as_posix(): file_sha256(p)
            for p in sorted(project_dir.rglob("*")) if p.is_file()}


def software_versions() -> dict[str, str]:
    out = {"flintcloud": __version__, "python": platform.python_version()}
    for dist in ("libcbm", "numpy", "pandas", "rasterio", "dvc"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def code_commit(root: Path | None = None) -> dict | None:
    """The git commit of the flintcloud code (and whether the work tree differs), or None outside git."""
    root = Path(__file__).resolve().parents[1] if root is None else root
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=20)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "flintcloud", "stages",
                                "dvc.yaml"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": head.stdout.strip(), "dirty": bool(dirty.stdout.strip())}


def run_record(project_dir: Path, params: dict) -> dict:
    """What makes a run: input hashes, the full params, software versions, the code's commit."""
    return {
        "inputs": input_hashes(project_dir),
        "params": run_params(params),
        "versions": software_versions(),
        "code": code_commit(),
        "python_executable": sys.executable,
    }
