"""Optional Azure Blob Storage for a simulation's inputs and a run's results (adlfs, as dvc-azure uses).

With `FLINTCLOUD_BLOB_URL=azure://<container>/<prefix>` (e.g. the container the DVC remote uses) and
AZURE_STORAGE_CONNECTION_STRING, every stored input and every succeeded run's project is also written
under `<prefix>/simulations/<id>/...`; the data directory is then a cache: a worker that lacks a
simulation's inputs, or an API that lacks a run's results, fetches them from the container.
Relative keys below the prefix are the same as the paths under the data directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from flintcloud.atomic import atomic_dir
from flintcloud.errors import RemoteError

SCHEMES = ("azure://", "az://")


def parse_blob_url(url: str) -> tuple[str, str]:
    """(container, prefix) of azure://container/prefix. Pure."""
    for scheme in SCHEMES:
        if url.startswith(scheme):
            rest = url[len(scheme):].strip("/")
            container, _, prefix = rest.partition("/")
            if container:
                return container, prefix.strip("/")
    raise RemoteError(f"FLINTCLOUD_BLOB_URL={url!r}: expected azure://<container>/<prefix>")


class BlobMirror:
    def __init__(self, url: str, connection_string: str | None):
        if not connection_string:
            raise RemoteError("FLINTCLOUD_BLOB_URL is set but AZURE_STORAGE_CONNECTION_STRING is not")
        self.container, self.prefix = parse_blob_url(url)
        self._connection_string = connection_string
        self._fs = None

    @property
    def fs(self):
        if self._fs is None:
            from adlfs import AzureBlobFileSystem

            self._fs = AzureBlobFileSystem(connection_string=self._connection_string, skip_instance_cache=True)
        return self._fs

    def key(self, rel: str) -> str:
        return "/".join(p for p in (self.container, self.prefix, rel) if p)

    def put_file(self, local: Path, rel: str) -> None:
        try:
            self.fs.put_file(str(local), self.key(rel))
        except Exception as err:  # noqa: BLE001 - the SDK raises many kinds
            raise RemoteError(f"cannot write {rel!r} to Azure Blob container {self.container!r}: {err}") from err

    def put_dir(self, local: Path, rel: str) -> int:
        n = 0
        for path in sorted(Path(local).rglob("*")):
            if path.is_file():
                self.put_file(path, f"{rel}/{path.relative_to(local).as_posix()}")
                n += 1
        return n

    def exists(self, rel: str) -> bool:
        return bool(self.fs.exists(self.key(rel)))

    def get_dir(self, rel: str, local: Path) -> int:
        """Download everything under `rel` into `local` (atomically); 0 when there is nothing."""
        root = self.key(rel)
        try:
            keys = [k for k in self.fs.find(root) if not k.endswith("/")]
        except FileNotFoundError:
            return 0
        if not keys:
            return 0
        with atomic_dir(local) as tmp:
            for key in keys:
                sub = key[len(root):].lstrip("/")
                target = tmp / sub
                target.parent.mkdir(parents=True, exist_ok=True)
                self.fs.get_file(key, str(target))
        return len(keys)

    def remove(self, rel: str) -> None:
        try:
            self.fs.rm(self.key(rel), recursive=True)
        except FileNotFoundError:
            pass


def blob_mirror(settings) -> BlobMirror | None:
    if not settings.blob_url:
        return None
    return BlobMirror(settings.blob_url, settings.azure_connection_string)


def data_rel(data_dir: Path, path: Path) -> str:
    """The key of a path under the data directory."""
    return Path(os.path.relpath(path, data_dir)).as_posix()
