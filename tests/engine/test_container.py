"""Engine gcbm-container: the docker command it builds, the config it mounts, and Docker being absent.

There is no Docker daemon here: the real `docker` client is used for the no-daemon path. The full-run
test uses a stand-in `docker` executable (written in tmp_path) whose `run` does what moja.cli does to
the file system — it writes GCBM's own reference output for the FLINT.Cloud demo where the mounted
config tells it to — so that collecting, compiling, mosaicking and keeping the log are tested for real.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from flintcloud.engine.container import (
    MOJA_CLI,
    PLACEHOLDER_IMAGE,
    Mount,
    check_image,
    docker_available,
    docker_run_command,
    mount_roots,
    prepare_run_dir,
    rewrite_config_docs,
    rewrite_logging_conf,
    run_gcbm_container,
)
from flintcloud.errors import ConfigError, EngineUnavailableError, LayerError, SimulationError
from flintcloud.run import prepare_run

IMAGE = "ghcr.io/moja-global/rest_api_gcbm@sha256:" + "ab" * 32


def _daemon_answers() -> bool:
    exe = shutil.which("docker")
    if exe is None:
        return False
    try:
        return subprocess.run([exe, "info"], capture_output=True, timeout=20).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(folder)).encode() + p.read_bytes())
    return h.hexdigest()


@pytest.fixture
def previous_output(tmp_path):
    out = tmp_path / "build" / "output"
    out.mkdir(parents=True)
    (out / "gcbm_output.db").write_bytes(b"previous run")
    return out


# ----------------------------------------------------------------------------- image reference


def test_placeholder_and_tags_are_refused():
    with pytest.raises(ConfigError, match=r"simulation.gcbm_container.image is still the placeholder"):
        check_image(PLACEHOLDER_IMAGE)
    with pytest.raises(ConfigError, match=r"not pinned by digest.*:master"):
        check_image("ghcr.io/moja-global/rest_api_gcbm:master")
    with pytest.raises(ConfigError, match="not pinned by digest"):
        check_image("ghcr.io/moja-global/rest_api_gcbm@sha256:1234")
    assert check_image(f" {IMAGE} ") == IMAGE


def test_placeholder_fails_before_touching_outputs(tmp_path, previous_output):
    docker = _fake_docker(tmp_path, 'print("28.2.2") if args[0] == "info" else sys.exit(9)')
    before = _digest(previous_output)
    with pytest.raises(ConfigError, match="placeholder"):
        run_gcbm_container(tmp_path / "config", previous_output, PLACEHOLDER_IMAGE, prepare=prepare_run,
                           docker=str(docker))
    assert _digest(previous_output) == before


def test_the_simulate_stage_without_docker_says_so_in_one_line(flint_demo, tmp_path):
    """As DVC runs it: `python stages/simulate.py` with the container engine and the shipped params, on a
    configuration set (run_project reads it first, to refuse an output holding the db or a layer)."""
    import yaml

    repo = Path(__file__).resolve().parents[2]
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["simulation"]["engine"] = "gcbm-container"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    env = {**os.environ, "PATH": str(tmp_path / "bin")}  # no docker client
    proc = subprocess.run([sys.executable, str(repo / "stages" / "simulate.py"), str(flint_demo / "config"),
                           "build/output"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("stage simulate: error: engine gcbm-container needs Docker")
    assert "set `simulation.engine: libcbm` in params.yaml" in lines[0]
    assert not (tmp_path / "build" / "output").exists()


# ----------------------------------------------------------------------------- Docker unavailable


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker client on PATH")
def test_real_docker_client_without_daemon_says_so_in_one_line(tmp_path, previous_output):
    if _daemon_answers():
        pytest.skip("a Docker daemon answers here; this test is for machines without one")
    before = _digest(previous_output)
    with pytest.raises(EngineUnavailableError) as info:
        run_gcbm_container(tmp_path / "config", previous_output, IMAGE, prepare=prepare_run)
    message = str(info.value)
    assert "\n" not in message
    # the client's own answer, not our `docker info` timeout (that message says "did not answer within")
    assert "Docker daemon is not available" in message and "did not answer" not in message
    assert "`simulation.engine: libcbm`" in message
    assert _digest(previous_output) == before
    assert not list(previous_output.parent.glob(".output.tmp-*"))


def test_cli_reports_no_docker_in_one_line(flint_demo, tmp_path):
    """`flintcloud run --engine gcbm-container` on a machine with no docker client: one line, exit 1."""
    env = {**os.environ, "PATH": str(tmp_path / "bin")}  # no docker client on PATH at all
    proc = subprocess.run([sys.executable, "-m", "flintcloud", "run", str(flint_demo / "config"), "--out",
                           str(tmp_path / "out"), "--engine", "gcbm-container", "--image", IMAGE],
                          env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0] == ("flintcloud: error: engine gcbm-container needs Docker, but no `docker` client is on PATH; "
                        "set `simulation.engine: libcbm` in params.yaml to use the embedded engine")
    assert not (tmp_path / "out").exists()


def _fake_docker(folder: Path, body: str) -> Path:
    exe = folder / "docker"
    exe.write_text(f"#!{sys.executable}\nimport sys, os, json, shutil, time\nargs = sys.argv[1:]\n{body}\n")
    exe.chmod(0o755)
    return exe


class _RecordingPopen(subprocess.Popen):
    """subprocess.Popen that keeps every process it starts (subprocess.run creates its process through it)."""

    started: list[subprocess.Popen] = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _RecordingPopen.started.append(self)


@pytest.fixture
def recorded_processes(monkeypatch) -> list[subprocess.Popen]:
    _RecordingPopen.started = []
    monkeypatch.setattr(subprocess, "Popen", _RecordingPopen)
    return _RecordingPopen.started


def test_hanging_docker_times_out(tmp_path, recorded_processes):
    exe = _fake_docker(tmp_path, "time.sleep(60)")
    with pytest.raises(EngineUnavailableError, match=r"did not answer within 1 s; set `simulation.engine: libcbm`"):
        docker_available(str(exe), timeout=1)
    # the timeout path was taken and the hanging `docker info` was killed and reaped, not waited for
    [info] = recorded_processes
    assert info.args[1] == "info" and info.returncode == -signal.SIGKILL


# ----------------------------------------------------------------------------- command line and mounts


def test_docker_run_command_line(tmp_path):
    run_dir = tmp_path / "run"
    mounts = [Mount(Path("/data/project"), read_only=True), Mount(run_dir, read_only=False)]
    cmd = docker_run_command(IMAGE, run_dir / "config", mounts, uid=1234, gid=567, name="flintcloud-gcbm-x")
    assert cmd == [
        "docker", "run", "--rm", "--name", "flintcloud-gcbm-x", "--user", "1234:567", "--network", "none",
        "--env", "HOME=/tmp",
        "--mount", "type=bind,source=/data/project,target=/data/project,readonly",
        "--mount", f"type=bind,source={run_dir},target={run_dir}",
        "--workdir", str(run_dir / "config"), "--entrypoint", MOJA_CLI, IMAGE,
        "--config_file", "gcbm_config.cfg", "--config_provider", "provider_config.json",
    ]


def test_rewrite_moves_inputs_to_absolute_and_outputs_into_the_run(tmp_path):
    config = tmp_path / "proj" / "config"
    out = tmp_path / "run" / "output"
    docs = {
        "provider_config.json": {"Providers": {
            "SQLite": {"type": "SQLite", "path": "..\\input_database\\gcbm_input.db"},
            "RasterTiled": {"layers": [{"name": "age", "layer_path": "../layers/age.tiff", "layer_prefix": "age"}]}}},
        "modules_output.json": {"Modules": {
            "WriteVariableGeotiff": {"settings": {"output_path": "../output", "items": [{"data_name": "NBP"}]}},
            "CBMAggregatorSQLiteWriter": {"settings": {"databasename": "output\\gcbm_output.db"}}}},
        "localdomain.json": {"LocalDomain": {"start_date": "2010/01/01"}},
    }
    new, inputs = rewrite_config_docs(docs, config, out)
    proj = tmp_path / "proj"
    assert new["provider_config.json"]["Providers"]["SQLite"]["path"] == str(proj / "input_database" / "gcbm_input.db")
    assert new["provider_config.json"]["Providers"]["RasterTiled"]["layers"][0]["layer_path"] == str(proj / "layers" / "age.tiff")
    assert new["modules_output.json"]["Modules"]["WriteVariableGeotiff"]["settings"] == {
        "output_path": str(out), "items": [{"data_name": "NBP"}]}
    assert new["modules_output.json"]["Modules"]["CBMAggregatorSQLiteWriter"]["settings"]["databasename"] == str(out / "gcbm_output.db")
    assert new["localdomain.json"] == docs["localdomain.json"]
    assert docs["provider_config.json"]["Providers"]["SQLite"]["path"].startswith("..\\")  # input not mutated
    assert inputs == [proj / "input_database" / "gcbm_input.db", proj / "layers" / "age.tiff"]
    conf = rewrite_logging_conf('[Sinks.file]\nDestination=TextFile\nFileName="../output/logs/Moja_Debug.log"\n', out)
    assert f'FileName="{out}/logs/Moja_Debug.log"' in conf
    assert mount_roots(inputs, tmp_path / "run") == [Mount(proj, True), Mount(tmp_path / "run", False)]


def test_prepare_run_dir_on_the_flint_cloud_demo(flint_demo, tmp_path):
    run_dir = tmp_path / "run"
    config, output, mounts = prepare_run_dir(flint_demo / "config", run_dir)
    provider = json.loads((config / "provider_config.json").read_text())
    layers = provider["Providers"]["RasterTiled"]["layers"]
    original = json.loads((flint_demo / "config" / "provider_config.json").read_text())
    assert [la["name"] for la in layers] == [la["name"] for la in original["Providers"]["RasterTiled"]["layers"]]
    assert len(layers) == 11 and all(Path(layer["layer_path"]).is_file() for layer in layers)
    assert Path(provider["Providers"]["SQLite"]["path"]) == (flint_demo / "input_database" / "gcbm_input.db").resolve()
    modules = json.loads((config / "modules_output.json").read_text())["Modules"]
    assert modules["WriteVariableGeotiff"]["settings"]["output_path"] == str(output)
    assert len(modules["WriteVariableGeotiff"]["settings"]["items"]) == 21
    assert (config / "gcbm_config.cfg").read_text() == (flint_demo / "config" / "gcbm_config.cfg").read_text()
    assert f'FileName="{output}/logs/Moja_Debug.log"' in (config / "logging.conf").read_text()
    assert mounts == [Mount(flint_demo.resolve(), True), Mount(run_dir, False)]


# ----------------------------------------------------------------------------- a whole run


FAKE_MOJA = r'''
if args[0] == "info":
    print("28.2.2"); sys.exit(0)
if args[0] == "kill":
    sys.exit(0)
assert args[0] == "run", args
workdir = args[args.index("--workdir") + 1]
user = args[args.index("--user") + 1]
assert args[args.index("--entrypoint") + 1] == "/opt/gcbm/moja.cli"
assert args[-4:] == ["--config_file", "gcbm_config.cfg", "--config_provider", "provider_config.json"]
os.chdir(workdir)
modules = json.load(open("modules_output.json"))["Modules"]
out = modules["WriteVariableGeotiff"]["settings"]["output_path"]
db = modules["CBMAggregatorSQLiteWriter"]["settings"]["databasename"]
ref = os.environ["FAKE_GCBM_REFERENCE"]
print(f"<moja.cli> running as {user} in {workdir}")
if os.environ.get("FAKE_GCBM_FAIL"):
    print("(error) - something went wrong in GCBM"); sys.exit(3)
shutil.copy(os.path.join(ref, "gcbm_output.db"), db)
for name in os.listdir(ref):
    if os.path.isdir(os.path.join(ref, name)):
        shutil.copytree(os.path.join(ref, name), os.path.join(out, name))
open(os.path.join(out, "logs", "Moja_Debug.log"), "w").write("debug log\n")
print("(info) - Simulation complete")
'''


@pytest.fixture
def fake_docker(tmp_path, gcbm_reference_output, monkeypatch):
    monkeypatch.setenv("FAKE_GCBM_REFERENCE", str(gcbm_reference_output))
    folder = tmp_path / "bin"
    folder.mkdir()
    return str(_fake_docker(folder, FAKE_MOJA))


def test_failed_gcbm_keeps_previous_output_and_the_log(flint_demo, fake_docker, previous_output, monkeypatch):
    monkeypatch.setenv("FAKE_GCBM_FAIL", "1")
    before = _digest(previous_output)
    with pytest.raises(SimulationError, match=r"exited with code 3(.|\n)*something went wrong in GCBM"):
        run_gcbm_container(flint_demo / "config", previous_output, IMAGE, prepare=prepare_run, docker=fake_docker)
    assert _digest(previous_output) == before
    kept = previous_output.parent / "output.gcbm-failed.log"
    assert "something went wrong in GCBM" in kept.read_text()


def test_full_run_gives_the_embedded_engines_layout(flint_demo, fake_docker, previous_output):
    import sqlite3

    summary = run_gcbm_container(flint_demo / "config", previous_output, IMAGE, prepare=prepare_run, docker=fake_docker)
    assert summary.engine == "gcbm-container" and summary.years == 11
    out = previous_output
    assert sorted(p.name for p in out.iterdir()) == [
        "compiled_gcbm_output.db", "gcbm_output.db", "logs", "run_summary.json", "spatial"]
    with sqlite3.connect(out / "compiled_gcbm_output.db") as con:
        years = [r[0] for r in con.execute("SELECT DISTINCT year FROM v_pool_indicators ORDER BY year")]
    assert years[-1] == 2020
    maps = sorted(p.name for p in (out / "spatial").iterdir())
    assert len(maps) == 21 * 11  # every WriteVariableGeotiff indicator x 2010..2020, as the embedded engine
    assert "NBP_2010.tif" in maps and "Total_Ecosystem_C_2020.tif" in maps
    log = (out / "logs" / "moja.cli.log").read_text()
    assert f"--user {os.getuid()}:{os.getgid()}" in log and "Simulation complete" in log
    assert (out / "logs" / "Moja_Debug.log").read_text() == "debug log\n"
    record = json.loads((out / "run_summary.json").read_text())
    assert record["image"] == IMAGE
    # the pixel count is recorded and printed as for the embedded engine (was "0 pixels, 0 unique stands")
    assert record["pixels"] == summary.n_pixels == 11347 and record["unique_stands"] == summary.n_stands > 0
    assert (record["start_year"], record["end_year"]) == (2010, 2020)
    # maps on the input layers' grid (the whole 4000 x 4000 tile), not the one 400 x 400 block with data
    import rasterio

    with rasterio.open(flint_demo / "layers" / "tiled" / "initial_age.tiff") as layer:
        grid = (layer.width, layer.height, layer.transform)
    with rasterio.open(out / "spatial" / "NBP_2015.tif") as ds:
        assert (ds.width, ds.height, ds.transform) == grid == (4000, 4000, ds.transform)


def test_the_container_refuses_what_the_run_refuses_before_gcbm_starts(flint_demo, fake_docker, tmp_path,
                                                                     previous_output):
    """The container path reads the project through run.prepare_run too (preflight, memory check): a
    negative age is refused with the embedded engine's sentence, GCBM never starts, the output is intact."""
    import numpy as np
    import rasterio

    project = tmp_path / "demo"
    shutil.copytree(flint_demo, project)
    for p in project.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    age = project / "layers" / "tiled" / "initial_age.tiff"
    with rasterio.open(age) as ds:
        data, profile = ds.read(1), ds.profile
    data[2049, 665] = -20  # a simulated pixel
    with rasterio.open(age, "w", **profile) as out:
        out.write(data, 1)
    before = _digest(previous_output)
    with pytest.raises(LayerError, match=r"1 pixel\(s\) have negative ages \(minimum -20\)"):
        run_gcbm_container(project / "config", previous_output, IMAGE, prepare=prepare_run, docker=fake_docker)
    assert _digest(previous_output) == before
    assert not (previous_output.parent / "output.gcbm-failed.log").exists()  # GCBM did not run


def test_params_ship_the_placeholder_and_simulate_depends_on_it():
    """params.yaml names the image by a placeholder the user must replace; the digest is a simulate param."""
    import yaml

    repo = Path(__file__).resolve().parents[2]
    params = yaml.safe_load((repo / "params.yaml").read_text())
    assert params["simulation"]["gcbm_container"]["image"] == PLACEHOLDER_IMAGE
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    assert "simulation.gcbm_container" in stages["simulate"]["params"]


def test_gcbm_that_runs_too_long_is_killed(flint_demo, tmp_path, previous_output, recorded_processes):
    marker = tmp_path / "killed"
    exe = _fake_docker(tmp_path, f'''
if args[0] == "info":
    print("28.2.2")
elif args[0] == "kill":
    open({str(marker)!r}, "w").write(args[1])
else:
    time.sleep(60)
''')
    before = _digest(previous_output)
    with pytest.raises(SimulationError, match=r"did not finish within 2 s; container flintcloud-gcbm-\w+ was killed"):
        run_gcbm_container(flint_demo / "config", previous_output, IMAGE, prepare=prepare_run, docker=str(exe),
                           timeout=2)
    # the timeout path: the `docker run` client was killed (not waited for), then `docker kill` stopped the container
    [run] = [p for p in recorded_processes if p.args[1] == "run"]
    assert run.returncode == -signal.SIGKILL
    assert marker.read_text() == run.args[run.args.index("--name") + 1]
    assert _digest(previous_output) == before


def test_run_project_dispatches_to_the_container(flint_demo, fake_docker, tmp_path, monkeypatch):
    """flintcloud.run.run_project(engine="gcbm-container", image=...) uses the `docker` on PATH."""
    from flintcloud.run import run_project

    monkeypatch.setenv("PATH", f"{Path(fake_docker).parent}{os.pathsep}{os.environ['PATH']}")
    out = tmp_path / "run_out"
    summary = run_project(flint_demo / "config", out, engine="gcbm-container", image=IMAGE)
    assert summary.engine == "gcbm-container"
    assert (out / "compiled_gcbm_output.db").is_file() and (out / "logs" / "moja.cli.log").is_file()


@pytest.mark.parametrize("target", ["layers", "layers/tiled", "input_database"])
def test_container_run_refuses_an_output_holding_the_projects_layers_or_db(flint_demo, fake_docker, tmp_path,
                                                                          monkeypatch, target):
    """run_project(engine="gcbm-container", overwrite=True) with --out the project's layers or db folder: refused
    before Docker is called, the project intact (the db/layers check ran only for libcbm; the stand-in would
    have replaced the folder with GCBM's outputs)."""
    from flintcloud.errors import OutputError
    from flintcloud.run import run_project

    project = tmp_path / "demo2"
    shutil.copytree(flint_demo, project)
    monkeypatch.setenv("PATH", f"{Path(fake_docker).parent}{os.pathsep}{os.environ['PATH']}")
    before = _digest(project)
    with pytest.raises(OutputError, match=rf"run output folder '.*{target}' contains the input '.*{target}/"):
        run_project(project / "config", project / target, engine="gcbm-container", image=IMAGE, overwrite=True)
    assert _digest(project) == before
    assert not list(project.rglob("*.tmp-*"))


def test_container_cli_refuses_the_layers_folder_as_out(flint_demo, fake_docker, tmp_path):
    """`flintcloud run CONFIG --engine gcbm-container --out <layers> --overwrite`: one line, exit 1, layers kept."""
    project = tmp_path / "demo2"
    shutil.copytree(flint_demo, project)
    env = {**os.environ, "PATH": f"{Path(fake_docker).parent}{os.pathsep}{os.environ['PATH']}"}
    before = _digest(project)
    proc = subprocess.run([sys.executable, "-m", "flintcloud", "run", str(project / "config"), "--out",
                           str(project / "layers"), "--engine", "gcbm-container", "--image", IMAGE, "--overwrite",
                           "--no-progress"], env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("flintcloud: error: run output folder "), proc.stderr
    assert "refused even with --overwrite" in lines[0]
    assert _digest(project) == before
