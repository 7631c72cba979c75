"""Remote configuration from the environment (flintcloud.remote), and the committed .dvc/config."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from flintcloud import remote
from flintcloud.errors import ConfigError, RemoteError

from .conftest import REPO_ROOT, build_project


def test_defaults_put_the_local_remote_beside_the_checkout():
    s = remote.remote_settings("/src/flintcloud", {})
    assert s.local_dir == Path("/src/flintcloud-dvc-remote")
    assert s.azure_url == "azure://flintcloud/dvc"
    assert s.default_remote == "local"
    assert not s.local_dir_overridden and not s.azure_url_overridden


def test_environment_overrides():
    env = {"FLINTCLOUD_REMOTE_DIR": "../shared/dvc", "FLINTCLOUD_AZURE_URL": "azure://team-data/gcbm",
           "FLINTCLOUD_DVC_REMOTE": "azure"}
    s = remote.remote_settings("/src/flintcloud", env)
    assert s.local_dir == Path("/src/shared/dvc")  # relative to the checkout
    assert s.azure_url == "azure://team-data/gcbm"
    assert s.default_remote == "azure"
    assert s.local_dir_overridden and s.azure_url_overridden


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
        remote.apply_repo_config(conf, remote.remote_settings("/src/x", {}), "/src/flintcloud-dvc-remote")


def test_local_config_drops_stale_overrides():
    conf = {"core": {"remote": "azure"}, "remote": {"local": {"url": "/old"}, "azure": {"url": "azure://old/x", "timeout": 30}}}
    remote.apply_local_config(conf, remote.remote_settings("/src/x", {}))
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

    # Unsetting the override returns to the committed default.
    env.pop("FLINTCLOUD_REMOTE_DIR")
    remote.configure_remotes(project.path, env)
    assert remote.remote_info(project.path).url == str(tmp_path / "flintcloud-dvc-remote")


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
