"""Issue 19 items 9 and 15: each failure is one line naming the path or key and the cause (no traceback),
and leaves the previous output as it was."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import rasterio

from flintcloud.errors import OutputError
from flintcloud.memory import check_pixel_index
from flintcloud.errors import SimulationError

from .conftest import flintcloud, one_line_error, read_only_dir, tmpfs, tree_hashes

# ------------------------------------------------------------------ disk full, read-only output


def test_disk_full_while_writing_outputs_is_one_line_and_keeps_the_previous_output(demo_project, tmp_path):
    with tmpfs(tmp_path / "small", "size=1m") as disk:
        out = disk / "out"
        out.mkdir()
        (out / "run_summary.json").write_text('{"pixels": 1}\n')
        before = tree_hashes(disk)
        line = one_line_error(flintcloud("run", str(demo_project / "config"), "--out", str(out), "--overwrite",
                                         "--no-progress", cwd=tmp_path))
        assert f"no space left on the device while writing {str(out)!r}" in line and "MiB free there" in line
        assert tree_hashes(disk) == before  # previous output intact, no temporaries left filling the disk


def test_read_only_output_folder_is_refused_before_any_pixel_is_grouped(demo_project, tmp_path, monkeypatch):
    with read_only_dir(tmp_path / "ro") as (ro, cause):
        out = ro / "out"
        line = one_line_error(flintcloud("run", str(demo_project / "config"), "--out", str(out), "--no-progress",
                                         cwd=tmp_path))
        assert f"cannot write the run output folder {str(out)!r}: {str(ro)!r} is not writable ({cause}); " \
               "nothing was computed" in line

        import flintcloud.landscape.stands as stands
        from flintcloud.run import run_project

        def never(*args, **kwargs):
            raise AssertionError("pixels were grouped before the output folder was checked")

        monkeypatch.setattr(stands, "group_stands", never)
        with pytest.raises(OutputError, match=re.escape(f"is not writable ({cause})")):
            run_project(demo_project / "config", out)


# ------------------------------------------------------------------ memory


def test_pixel_index_estimate_names_the_figure_and_the_limit():
    with pytest.raises(SimulationError) as err:
        check_pixel_index(50_000, 50_000, "data/projects/big/config", limit=16 * 2**30)
    assert str(err.value).startswith(
        "data/projects/big/config: the 50,000 x 50,000 pixel grid's pixel-to-stand index needs 18.6 GiB of memory "
        "but only 16.0 GiB is available; refusing to start"
    )
    check_pixel_index(4000, 4000, "demo", limit=16 * 2**30)  # 0.1 GiB: fine


def test_grid_too_large_for_memory_is_refused_up_front(demo_project, tmp_path):
    """Every layer of the demo replaced by a 100,000 x 100,000 sparse GeoTIFF (75 GiB of index)."""
    for tif in (demo_project / "layers" / "tiled").glob("*.tif*"):
        with rasterio.open(tif) as src:
            profile = dict(driver="GTiff", width=100_000, height=100_000, count=1, dtype=src.dtypes[0],
                           nodata=src.nodata, crs=src.crs, transform=src.transform, tiled=True, blockxsize=512,
                           blockysize=512, compress="deflate", sparse_ok=True)
        tif.unlink()
        with rasterio.open(tif, "w", **profile):
            pass
    out = tmp_path / "out"
    line = one_line_error(flintcloud("run", str(demo_project / "config"), "--out", str(out), "--no-progress",
                                     cwd=tmp_path))
    assert "the 100,000 x 100,000 pixel grid's pixel-to-stand index needs 74.5 GiB of memory but only" in line
    assert not out.exists() and not list(tmp_path.glob(".out.*"))


# ------------------------------------------------------------------ Azure connection strings


@pytest.fixture
def dvc_repo(tmp_path) -> tuple[Path, dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "FLINTCLOUD_"))}
    env.update(DVC_NO_ANALYTICS="1", ITERATIVE_DO_NOT_TRACK="1", HOME=str(tmp_path / "home"),
               AZURE_CONFIG_DIR=str(tmp_path / "az"), FLINTCLOUD_REMOTE_DIR=str(tmp_path / "remote"))
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True, env=env)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=repo, check=True, env=env)
    return repo, env


def _garbage_server() -> tuple[int, threading.Event]:
    """A loopback TCP server answering every connection with bytes that are not HTTP."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    stop = threading.Event()

    def serve():
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            with conn:
                conn.sendall(b"\x00\x01 this is not http\r\n\r\n")
        sock.close()

    threading.Thread(target=serve, daemon=True).start()
    return sock.getsockname()[1], stop


def test_malformed_azure_connection_strings_are_one_line_without_the_secret(dvc_repo):
    repo, env = dvc_repo
    assert flintcloud("remote", "setup", cwd=repo, env=env).returncode == 0
    port, stop = _garbage_server()
    key = "c2VjcmV0LWtleS1ub3Qtc2hvd24="
    cases = {
        "AccountKey=" + key + " (no semicolons, no name)": "AZURE_STORAGE_CONNECTION_STRING is malformed",
        "AccountName=a;AccountKey=!!!not-base64;BlobEndpoint=http://127.0.0.1:9/a": "Invalid base64",
        f"DefaultEndpointsProtocol=http;AccountName=a;AccountKey={key};BlobEndpoint=http://127.0.0.1:{port}/a":
            "did not answer like Azure Blob storage",
    }
    try:
        for conn, expected in cases.items():
            proc = flintcloud("remote", "check", "-r", "azure", cwd=repo,
                              env={**env, "AZURE_STORAGE_CONNECTION_STRING": conn}, timeout=120)
            line = one_line_error(proc)
            assert "DVC remote 'azure'" in line and expected in line, line
            assert key not in proc.stderr + proc.stdout and "!!!not-base64" not in proc.stderr
    finally:
        stop.set()


# ------------------------------------------------------------------ config files


def test_non_ascii_remote_dir_is_written_as_utf8_and_used_by_dvc(dvc_repo, tmp_path):
    repo, env = dvc_repo
    target = tmp_path / "données-rémote"
    proc = flintcloud("remote", "setup", cwd=repo, env={**env, "FLINTCLOUD_REMOTE_DIR": str(target)})
    assert proc.returncode == 0, proc.stderr
    assert f"remote 'local': {target}" in proc.stdout
    assert str(target) in (repo / ".dvc" / "config.local").read_text(encoding="utf-8")
    url = subprocess.run([sys.executable, "-m", "dvc", "config", "--local", "remote.local.url"], cwd=repo, env=env,
                         capture_output=True, text=True, check=True).stdout.strip()
    assert url == str(target)  # DVC reads back the UTF-8 file
    assert target.is_dir()


def test_a_failed_config_write_keeps_the_previous_files(dvc_repo, tmp_path, monkeypatch):
    import configobj

    from flintcloud import remote
    from flintcloud.errors import RemoteError

    repo, env = dvc_repo
    remote.configure_remotes(repo, {"FLINTCLOUD_REMOTE_DIR": str(tmp_path / "first")})
    before = {p.name: p.read_bytes() for p in (repo / ".dvc").glob("config*")}
    assert b"first" in before["config.local"]

    def full_disk(self, outfile=None, section=None):
        outfile.write(b"['rem")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(configobj.ConfigObj, "write", full_disk)
    with pytest.raises(RemoteError, match=r"could not write the DVC remotes into .*\(left unchanged\): .*No space"):
        remote.configure_remotes(repo, {"FLINTCLOUD_REMOTE_DIR": str(tmp_path / "second")})
    assert {p.name: p.read_bytes() for p in (repo / ".dvc").glob("config*")} == before


# ------------------------------------------------------------------ item 15: messages that tell the truth


def test_remote_setup_says_where_the_azure_credentials_come_from(dvc_repo):
    repo, env = dvc_repo
    none = flintcloud("remote", "setup", cwd=repo, env=env)
    assert "(no credentials set: export AZURE_STORAGE_CONNECTION_STRING before using it)" in none.stdout
    from_env = flintcloud("remote", "setup", cwd=repo, env={**env, "AZURE_STORAGE_CONNECTION_STRING": "x"})
    assert "(credentials from the environment: AZURE_STORAGE_CONNECTION_STRING)" in from_env.stdout
    subprocess.run([sys.executable, "-m", "dvc", "remote", "modify", "--local", "azure", "connection_string", "y"],
                   cwd=repo, env=env, check=True)
    local = flintcloud("remote", "setup", cwd=repo, env=env)
    assert "(credentials from .dvc/config.local: connection_string)" in local.stdout


def test_unknown_revision_hint_about_fetch_depth_only_in_ci(dvc_repo):
    repo, env = dvc_repo
    local_env = {k: v for k, v in env.items() if k not in ("CI", "GITHUB_ACTIONS")}
    local = one_line_error(flintcloud("compare", "nosuchrev", cwd=repo, env=local_env))
    assert "unknown git revision 'nosuchrev'" in local and "fetch-depth" not in local
    ci = one_line_error(flintcloud("compare", "nosuchrev", cwd=repo, env={**local_env, "CI": "true"}))
    assert "(in CI, check out with fetch-depth: 0)" in ci


def test_a_filesystem_refusal_outside_our_checks_is_one_line(tmp_path, monkeypatch, capsys):
    """The CLI's last net: an OSError carrying a path (here raised where the report is written) becomes
    `flintcloud: error: '<path>': <cause>` and exit 1; OSErrors without a path keep their traceback."""
    import flintcloud.cli as cli
    import flintcloud.cli.report as report_cli

    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied", "reports/report.md")

    monkeypatch.setattr(report_cli, "write_report", refused)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("report: {}\n")
    monkeypatch.setattr(sys, "argv", ["flintcloud", "report", "-o", "out/report.md"])
    with pytest.raises(SystemExit) as exit_info:
        cli.run()
    assert exit_info.value.code == 1
    assert capsys.readouterr().err == "flintcloud: error: 'reports/report.md': Permission denied\n"

    monkeypatch.setattr(report_cli, "write_report", lambda *a, **k: (_ for _ in ()).throw(OSError("no path")))
    with pytest.raises(OSError, match="no path"):
        cli.run()
