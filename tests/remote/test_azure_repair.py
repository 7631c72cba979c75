"""Issue 19 item 3 on Azure Blob (Azurite): a remote whose `.dir` manifest lists blobs it lacks is
completed by `flintcloud.remote.push`, although `dvc push` reports it in sync."""

from __future__ import annotations

from pathlib import Path

import pytest

from flintcloud import remote

from .conftest import STEP_TIMEOUT, build_project, container_blobs


@pytest.mark.azurite
def test_push_completes_an_azure_remote_missing_files_behind_its_manifest(azurite, azure_env, tmp_path: Path):
    from azure.storage.blob import BlobServiceClient

    project = build_project(tmp_path, azure_env, n_files=12)
    first = remote.push(project.path, "azure", env=azure_env, timeout=STEP_TIMEOUT)
    assert first.repaired == [] and first.checked == 12 + 1 + 1 + 2 + 1
    container = azure_env["FLINTCLOUD_AZURE_URL"].split("/")[2]
    objects = sorted(n for n in container_blobs(azurite, azure_env) if n.startswith("dvc/files/md5/"))
    lost = [n for n in objects if not n.endswith(".dir")][:4]
    with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
        for name in lost:
            service.get_blob_client(container, name).delete_blob()
    assert "Everything is up to date" in project.dvc("push", "-r", "azure").stdout  # DVC cannot see it

    again = remote.push(project.path, "azure", env=azure_env, timeout=STEP_TIMEOUT)
    assert sorted("dvc/files/md5/" + m[:2] + "/" + m[2:] for m in again.repaired) == lost
    assert set(lost) <= set(container_blobs(azurite, azure_env))
    _, missing, _ = remote.missing_on_remote(project.path, "azure", env=azure_env)
    assert missing == {}
