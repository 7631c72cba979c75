"""Remote configuration from the environment (flintcloud.remote), and the committed .dvc/config."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from flintcloud import remote
from flintcloud.errors import ConfigError, RemoteError

from .conftest import REPO_ROOT, build_project, dvc, git


def test_no_variables_means_no_overrides():
    s = remote.remote_settings("/src/flintcloud", {})
    assert s == remote.RemoteSettings(Path("/src/flintcloud-dvc-remote"), None, None, None)


def test_environment_overrides():
    env = {"FLINTCLOUD_REMOTE_DIR": "../shared/dvc", "FLINTCLOUD_AZURE_URL": "azure://team-data/gcbm",
           "FLINTCLOUD_DVC_REMOTE": "azure"}
    s = remote.remote_settings("/src/flintcloud", env)
    assert s.local_dir == Path("/src/shared/dvc")  # relative to the checkout
    assert s.azure_url == "azure://team-data/gcbm"
    assert s.default_remote == "azure"


def test_empty_variables_reset_the_overrides():
    env = {"FLINTCLOUD_REMOTE_DIR": "", "FLINTCLOUD_AZURE_URL": " ", "FLINTCLOUD_DVC_REMOTE": ""}
    s = remote.remote_settings("/src/flintcloud", env)
    assert (s.local_dir, s.azure_url, s.default_remote) == (remote.RESET,) * 3


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FLINTCLOUD_REMOTE_DIR": "data/remote"}, r"FLINTCLOUD_REMOTE_DIR='data/remote' points inside the repository"),
        ({"FLINTCLOUD_REMOTE_DIR": "/src/flintcloud"}, r"points inside the repository '/src/flintcloud'"),
        ({"FLINTCLOUD_AZURE_URL": "https://acct.blob.core.windows.net/c"}, r"FLINTCLOUD_AZURE_URL='https://acct.*expected azure://<container>"),
        ({"FLINTCLOUD_AZURE_URL": "azure://"}, r"not an Azure Blob DVC URL"),
        ({"FLINTCLOUD_DVC_REMOTE": "s3"}, r"FLINTCLOUD_DVC_REMOTE='s3' is not a flintcloud remote"),
    ],
)
def test_bad_environment_values_name_the_variable(env, message):
    with pytest.raises(ConfigError, match=message):
        remote.remote_settings("/src/flintcloud", env)


def test_repo_config_refuses_a_committed_secret():
    conf = {"remote": {"azure": {"url": "azure://c/p", "connection_string": "AccountKey=..."}}}
    with pytest.raises(RemoteError, match=r"holds connection_string for remote 'azure'"):
        remote.apply_repo_config(conf, "/src/flintcloud-dvc-remote")


def test_local_config_keeps_what_no_variable_mentions():
    conf = {"core": {"remote": "azure"}, "remote": {"local": {"url": "/old"}, "azure": {"url": "azure://old/x", "timeout": 30}}}
    before = {"core": dict(conf["core"]), "remote": {k: dict(v) for k, v in conf["remote"].items()}}
    remote.apply_local_config(conf, remote.remote_settings("/src/x", {}))
    assert conf == before  # e.g. a manual `dvc remote default --local azure` survives make setup-remote
    env = {"FLINTCLOUD_REMOTE_DIR": "", "FLINTCLOUD_AZURE_URL": "", "FLINTCLOUD_DVC_REMOTE": ""}
    remote.apply_local_config(conf, remote.remote_settings("/src/x", env))
    assert conf["core"] == {}
    assert conf["remote"] == {"azure": {"timeout": 30}}  # the user's own options stay


def test_configure_remotes_is_idempotent_and_writes_no_secret(local_env, tmp_path: Path):
    project = build_project(tmp_path, local_env, run=False)
    config = project.path / ".dvc" / "config"
    first = config.read_text()
    env = dict(local_env, AZURE_STORAGE_CONNECTION_STRING="DefaultEndpointsProtocol=https;AccountName=a;AccountKey=c2VjcmV0")
    remote.configure_remotes(project.path, env)
    remote.configure_remotes(project.path, env)
    assert config.read_text() == first
    assert "url = ../../flintcloud-dvc-remote" in first  # relative: the same text in every clone
    assert "c2VjcmV0" not in first and "c2VjcmV0" not in (project.path / ".dvc" / "config.local").read_text()
    assert project.git("status", "--porcelain", ".dvc").stdout == ""  # nothing to commit after setup
    assert project.dvc("config", "remote.local.url").stdout.strip() == str(tmp_path / "local-remote")
    assert project.dvc("config", "remote.azure.url").stdout.strip() == "azure://flintcloud/dvc"
    assert project.dvc("config", "core.remote").stdout.strip() == "local"
    assert (tmp_path / "local-remote").is_dir()

    # An unset variable leaves the override alone; an empty one returns to the committed default.
    env.pop("FLINTCLOUD_REMOTE_DIR")
    assert remote.configure_remotes(project.path, env)["local"] == str(tmp_path / "local-remote")
    env["FLINTCLOUD_REMOTE_DIR"] = ""
    effective = remote.configure_remotes(project.path, env)
    assert effective == {"local": str(tmp_path / "flintcloud-dvc-remote"), "azure": "azure://flintcloud/dvc",
                         "default": "local"}
    assert remote.remote_info(project.path).url == str(tmp_path / "flintcloud-dvc-remote")
    assert (tmp_path / "flintcloud-dvc-remote").is_dir()


def test_configure_remotes_needs_a_dvc_repository(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"\.dvc' not found: .* is not a DVC repository"):
        remote.configure_remotes(tmp_path / "not-a-repo", {})


def test_committed_dvc_config_has_both_remotes_verified_and_no_credentials():
    from dvc.config import Config

    conf = Config(dvc_dir=str(REPO_ROOT / ".dvc")).load_one("repo")
    assert conf["core"]["remote"] == "local"
    assert conf["remote"]["azure"]["url"] == "azure://flintcloud/dvc"
    assert Path(conf["remote"]["local"]["url"]) == REPO_ROOT.parent / "flintcloud-dvc-remote"
    for name, section in conf["remote"].items():
        assert str(section.get("verify")).lower() == "true", name
        assert not set(section) & set(remote.SECRET_OPTIONS), name


def _put(cache: Path, content: bytes, suffix: str = "") -> Path:
    md5 = hashlib.md5(content).hexdigest()
    path = cache / "files" / "md5" / md5[:2] / (md5[2:] + suffix)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def test_verify_cache_finds_and_removes_only_mismatched_objects(tmp_path: Path):
    cache = tmp_path / "cache"
    good = _put(cache, b"layer bytes")
    listing = _put(cache, b'[{"md5": "x", "relpath": "a"}]', ".dir")
    bad = _put(cache, b"original")
    bad.write_bytes(b"origina1")
    (cache / "runs" / "ab").mkdir(parents=True)
    (cache / "runs" / "ab" / "entry").write_text("not an object")
    (good.parent / "tmp.partial").write_text("not an object either")

    assert remote.verify_cache(cache) == [bad]
    assert remote.verify_cache(cache, remove=True) == [bad]
    assert not bad.exists() and good.exists() and listing.exists()
    assert remote.verify_cache(cache) == []
    assert remote.verify_cache(tmp_path / "no-cache-yet") == []


def test_overrides_keep_metrics_diff_working_on_commits_from_before_the_remotes(local_env, tmp_path: Path):
    """A config.local section for a remote an old commit does not define must still be valid there."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, local_env, "init", "--quiet")
    dvc(repo, local_env, "init", "--quiet")
    (repo / "dvc.yaml").write_text("stages:\n  s:\n    cmd: echo\n    metrics:\n    - m.json:\n        cache: false\n")
    (repo / "m.json").write_text('{"total_c": 1.5}')
    git(repo, local_env, "add", ".")
    git(repo, local_env, "commit", "--quiet", "-m", "before the remotes existed")
    remote.configure_remotes(repo, {})
    (repo / "m.json").write_text('{"total_c": 2.5}')
    git(repo, local_env, "add", ".")
    git(repo, local_env, "commit", "--quiet", "-m", "remotes")
    env = dict(local_env, FLINTCLOUD_DVC_REMOTE="azure", FLINTCLOUD_AZURE_URL="azure://team/dvc")
    remote.configure_remotes(repo, env)

    proc = dvc(repo, env, "metrics", "diff", "HEAD~1", "--json")
    assert json.loads(proc.stdout)["m.json"]["total_c"] == {"old": 1.5, "new": 2.5, "diff": 1.0}
