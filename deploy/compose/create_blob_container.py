"""Create the Azure Blob container that FLINTCLOUD_BLOB_URL names, if it is missing (compose service
`blob-container`, run once before the API starts).

The service writes blobs but never creates their container (adlfs's put_file fails with "No such container"),
and a fresh Azurite has none. Waits up to a minute for the endpoint; idempotent; does nothing when
FLINTCLOUD_BLOB_URL is empty. Runs in the service image (azure-storage-blob is in requirements.lock).
"""

from __future__ import annotations

import os
import sys
import time

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient

from flintcloud.service.blob import parse_blob_url

ATTEMPTS = 30


def main() -> int:
    url = os.environ.get("FLINTCLOUD_BLOB_URL", "").strip()
    if not url:
        print("FLINTCLOUD_BLOB_URL is not set: no blob container to create")
        return 0
    container, _ = parse_blob_url(url)
    client = BlobServiceClient.from_connection_string(os.environ["AZURE_STORAGE_CONNECTION_STRING"])
    for attempt in range(1, ATTEMPTS + 1):
        try:
            client.create_container(container)
            print(f"created blob container {container!r}")
            return 0
        except ResourceExistsError:
            print(f"blob container {container!r} exists")
            return 0
        except Exception as err:  # noqa: BLE001 - Azurite not listening yet, DNS not ready, ...
            if attempt == ATTEMPTS:
                print(f"cannot create blob container {container!r}: {err}", file=sys.stderr)
                return 1
            time.sleep(2)
    return 1


if __name__ == "__main__":
    sys.exit(main())
