"""The Azure Blob option on Azurite: inputs and results are written to the container, and a data
directory that lost them (another host, a new disk) gets them back from it."""

from __future__ import annotations

import shutil
import uuid

import pytest

from remote import azurite as azurite_harness  # tests/remote/azurite.py: Azurite from the npm lock

from .helpers import Server, wait_for

pytestmark = [pytest.mark.azurite, pytest.mark.e2e]


@pytest.fixture(scope="module")
def azurite(tmp_path_factory):
    if shutil.which("npm") is None:
        pytest.skip("npm not found: Azurite (the local Azure Blob endpoint) is installed with npm ci")
    binary = azurite_harness.install_azurite()
    with azurite_harness.run_azurite(binary, tmp_path_factory.mktemp("azurite")) as server:
        yield server


def test_inputs_and_results_in_azure_blob(azurite, tmp_path, demo_zip):
    container = f"svc{uuid.uuid4().hex[:12]}"
    azurite.create_container(container)
    env = {"FLINTCLOUD_BLOB_URL": f"azure://{container}/service", "AZURE_STORAGE_CONNECTION_STRING":
           azurite.connection_string}
    data = tmp_path / "data"
    srv = Server(data, workers=1, env=env).start()
    try:
        c = srv.client()
        sim = c.post("/api/v1/simulations", json={"title": "blob"}).json()
        base = f"/api/v1/simulations/{sim['id']}"
        assert c.post(base + "/inputs", files={"files": ("demo.zip", demo_zip)}).status_code == 201
        run = c.post(base + "/runs").json()
        url = f"{base}/runs/{run['id']}"
        assert wait_for(c, url)["status"] == "succeeded"
        metrics = c.get(url + "/results/metrics").json()

        from adlfs import AzureBlobFileSystem

        fs = AzureBlobFileSystem(connection_string=azurite.connection_string, skip_instance_cache=True)
        root = f"{container}/service/simulations/{sim['id']}"
        local = data / "simulations" / sim["id"]
        for rel in ("inputs/input_database/gcbm_input.db", "inputs/layers/tiled/initial_age.tiff",
                    f"runs/{run['id']}/project/build/output/gcbm_output.db",
                    f"runs/{run['id']}/project/reports/metrics.json"):
            assert fs.cat_file(f"{root}/{rel}") == (local / rel).read_bytes(), rel

        # the data directory loses the run's results and the inputs: both come back from the container
        shutil.rmtree(local / "runs" / run["id"] / "project")
        shutil.rmtree(local / "inputs")
        assert c.get(url + "/results/metrics").json() == metrics
        assert (local / "runs" / run["id"] / "project" / "build" / "output" / "gcbm_output.db").is_file()
        again = c.post(base + "/runs").json()
        done = wait_for(c, f"{base}/runs/{again['id']}")
        assert done["status"] == "succeeded", done
        assert done["record"]["inputs"] == run_record_inputs(c, url)
        assert c.get(f"{base}/runs/{again['id']}/results/metrics").json() == metrics

        assert c.delete(base).status_code == 204
        assert not fs.exists(root)
    finally:
        srv.stop()


def run_record_inputs(c, url) -> dict:
    return c.get(url).json()["record"]["inputs"]
