"""Uploaded inputs: where each file goes in a simulation's project, and checks before it lands.

A simulation's inputs form a GCBM project folder (what `flintcloud validate` and the pipeline read):

    inputs/layers/tiled/<layer>.tif[f] + <layer>.json (sidecars), study_area.json
    inputs/input_database/gcbm_input.db
    inputs/config/<GCBM config files>            (optional)

A file's place follows from its (checked) name and type, never from a client path. Content is
checked before anything moves into place: GeoTIFFs are opened with rasterio, SQLite files by header
and input-db schema, JSON parsed, configs read as UTF-8 text. A zip is checked entry by entry
(zip slip, absolute paths, symlinks, compression ratio, declared vs actual size, count and total)
and lands all at once or not at all. Files are written to a temporary name and os.replace'd.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from flintcloud.errors import FlintcloudError
from flintcloud.service.paths import UnsafePathError, check_name, check_relative
from flintcloud.service.settings import Limits

LAYERS_DIR = "layers/tiled"
DB_PATH = "input_database/gcbm_input.db"
CONFIG_DIR = "config"
GCBM_CONFIG_FILES = {
    "gcbm_config.cfg", "provider_config.json", "localdomain.json", "modules_cbm.json", "modules_output.json",
    "pools_cbm.json", "spinup.json", "variables.json", "internal_variables.json", "logging.conf",
}
SQLITE_HEADER = b"SQLite format 3\x00"
TIFF_EXT = (".tif", ".tiff")
ACCEPTED = ".tif/.tiff (GeoTIFF layers), .json (layer sidecars, study_area.json, GCBM config), .db/.sqlite " \
           "(gcbm_input.db), .cfg/.conf (GCBM config), .zip (a whole project)"
CHUNK = 1 << 20


class UploadError(FlintcloudError, ValueError):
    """An uploaded file is refused (name, type, content or limits); the message names the file."""


class UploadTooLarge(UploadError):
    """An upload exceeds a size or count limit."""


@dataclass(frozen=True)
class Placed:
    name: str         # the client's file name (checked)
    relpath: str      # where it goes in the project
    kind: str         # layer | sidecar | database | config


def destination(name: str, in_config_folder: bool = False) -> Placed:
    """The project path of an uploaded file named `name` (already a checked plain name). Pure."""
    lower = name.lower()
    if lower.endswith(TIFF_EXT):
        return Placed(name, f"{LAYERS_DIR}/{name}", "layer")
    if lower.endswith((".db", ".sqlite")):
        return Placed(name, DB_PATH, "database")
    if lower.endswith((".cfg", ".conf")) or lower in GCBM_CONFIG_FILES or (in_config_folder and lower.endswith(".json")):
        return Placed(name, f"{CONFIG_DIR}/{name}", "config")
    if lower.endswith(".json"):
        return Placed(name, f"{LAYERS_DIR}/{name}", "sidecar")
    raise UploadError(f"file {name!r}: type not accepted; expected {ACCEPTED}")


# --------------------------------------------------------------------------- content checks
def check_geotiff(path: Path, name: str) -> None:
    import rasterio
    from rasterio.errors import RasterioError

    with open(path, "rb") as fh:
        head = fh.read(4)
    if head not in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        raise UploadError(f"file {name!r} is not a GeoTIFF (no TIFF header)")
    try:
        with rasterio.open(path) as ds:
            if ds.count < 1 or ds.width < 1 or ds.height < 1:
                raise UploadError(f"file {name!r}: GeoTIFF has no pixels ({ds.width}x{ds.height}, {ds.count} bands)")
            if ds.crs is None:
                raise UploadError(f"file {name!r}: GeoTIFF has no coordinate reference system")
    except RasterioError as err:
        raise UploadError(f"file {name!r} cannot be opened as a GeoTIFF: {err}") from err


def check_sqlite(path: Path, name: str) -> None:
    from flintcloud.errors import DatabaseError
    from flintcloud.inputdb.reader import check_uploaded_input_db

    with open(path, "rb") as fh:
        if fh.read(16) != SQLITE_HEADER:
            raise UploadError(f"file {name!r} is not a SQLite database (no 'SQLite format 3' header)")
    try:
        check_uploaded_input_db(path, name)  # inputdb.reader opens it (read-only, immutable)
    except DatabaseError as err:
        raise UploadError(f"file {name!r} is not a GCBM input database: {err}") from err


def check_json(path: Path, name: str) -> None:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise UploadError(f"file {name!r} is not UTF-8 text") from err
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise UploadError(f"file {name!r} is not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})") from err
    if not isinstance(doc, dict):
        raise UploadError(f"file {name!r}: expected a JSON object, got {type(doc).__name__}")


def check_text(path: Path, name: str) -> None:
    try:
        path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise UploadError(f"file {name!r} is not UTF-8 text") from err


def check_content(path: Path, placed: Placed) -> None:
    if placed.kind == "layer":
        check_geotiff(path, placed.name)
    elif placed.kind == "database":
        check_sqlite(path, placed.name)
    elif placed.name.lower().endswith(".json"):
        check_json(path, placed.name)
    else:
        check_text(path, placed.name)


# --------------------------------------------------------------------------- limits
def inputs_usage(inputs: Path) -> tuple[int, int]:
    files = [p for p in inputs.rglob("*") if p.is_file()] if inputs.is_dir() else []
    return len(files), sum(p.stat().st_size for p in files)


def check_totals(inputs: Path, incoming: dict[str, int], limits: Limits) -> None:
    """Files and bytes after replacing/adding `incoming` (relpath -> size) stay within the limits."""
    existing = {p.relative_to(inputs).as_posix(): p.stat().st_size
                for p in inputs.rglob("*") if p.is_file()} if inputs.is_dir() else {}
    existing.update(incoming)
    if len(existing) > limits.max_files:
        raise UploadTooLarge(f"a simulation may hold at most {limits.max_files} input files; "
                             f"this upload would make {len(existing)}")
    total = sum(existing.values())
    if total > limits.max_total_bytes:
        raise UploadTooLarge(f"a simulation's inputs may total at most {limits.max_total_bytes} bytes; "
                             f"this upload would make {total}")


def save_stream(src: BinaryIO, dst: Path, max_bytes: int, name: str) -> int:
    """Copy `src` to `dst`, refusing more than max_bytes. Returns the size."""
    n = 0
    with open(dst, "wb") as out:
        while chunk := src.read(CHUNK):
            n += len(chunk)
            if n > max_bytes:
                raise UploadTooLarge(f"file {name!r} is larger than the upload limit of {max_bytes} bytes")
            out.write(chunk)
    return n


# --------------------------------------------------------------------------- placing files
def _staging(inputs: Path) -> Path:
    inputs.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=".upload-", dir=inputs.parent))


def place_files(inputs: Path, staged: Iterable[tuple[Path, Placed]]) -> list[Placed]:
    """Move checked staged files into the project (each os.replace'd: atomic per file)."""
    out = []
    for tmp, placed in staged:
        target = inputs / placed.relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, target)
        out.append(placed)
    return out


def store_uploads(inputs: Path, files: list[tuple[str, BinaryIO]], limits: Limits) -> list[Placed]:
    """Check and store uploaded files (name, stream); all land or none. Zips are expanded."""
    staging = _staging(inputs)
    try:
        staged: list[tuple[Path, Placed]] = []
        for i, (name, stream) in enumerate(files):
            check_name(name)
            if name.lower().endswith(".zip"):
                zpath = staging / f"{i}.zip"
                save_stream(stream, zpath, limits.max_upload_bytes, name)
                staged += expand_zip(zpath, name, staging / f"z{i}", limits)
                continue
            placed = destination(name)
            tmp = staging / f"{i}.part"
            save_stream(stream, tmp, limits.max_upload_bytes, name)
            check_content(tmp, placed)
            staged.append((tmp, placed))
        targets = [p.relpath for _, p in staged]
        dupes = sorted({t for t in targets if targets.count(t) > 1})
        if dupes:
            raise UploadError(f"several uploaded files go to the same place: {', '.join(dupes)} "
                              f"(one gcbm_input.db per project; file names must be unique)")
        check_totals(inputs, {p.relpath: tmp.stat().st_size for tmp, p in staged}, limits)
        return place_files(inputs, staged)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def expand_zip(zpath: Path, name: str, workdir: Path, limits: Limits) -> list[tuple[Path, Placed]]:
    """Check every entry of an uploaded zip and extract the files into workdir (not into the project)."""
    try:
        zf = zipfile.ZipFile(zpath)
    except zipfile.BadZipFile as err:
        raise UploadError(f"file {name!r} is not a zip archive: {err}") from err
    workdir.mkdir(parents=True, exist_ok=True)
    out: list[tuple[Path, Placed]] = []
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_zip_entries:
            raise UploadTooLarge(f"zip {name!r} has {len(infos)} entries; at most {limits.max_zip_entries} allowed")
        declared = 0
        for info in infos:
            try:
                rel = check_relative(info.filename, f"zip {name!r} entry")
            except UnsafePathError as err:
                raise UploadError(str(err)) from err
            if _is_symlink(info):
                raise UploadError(f"zip {name!r} entry {info.filename!r} is a symbolic link; links are not accepted")
            if info.is_dir():
                continue
            if info.flag_bits & 0x1:
                raise UploadError(f"zip {name!r} entry {info.filename!r} is encrypted")
            declared += info.file_size
            if info.file_size > limits.max_upload_bytes or declared > limits.max_total_bytes:
                raise UploadTooLarge(f"zip {name!r} entry {info.filename!r}: uncompressed size exceeds the limit "
                                     f"({limits.max_upload_bytes} bytes per file, {limits.max_total_bytes} in all)")
            if info.compress_size and info.file_size / info.compress_size > limits.max_zip_ratio:
                raise UploadTooLarge(f"zip {name!r} entry {info.filename!r} expands {info.file_size // info.compress_size}"
                                     f"x (more than {limits.max_zip_ratio}x): refused as a zip bomb")
        seen: dict[str, str] = {}
        for i, info in enumerate(infos):
            if info.is_dir():
                continue
            rel = PurePosixPath(info.filename)
            placed = destination(rel.name, in_config_folder=any(p.lower() == "config" for p in rel.parts[:-1]))
            placed = Placed(info.filename, placed.relpath, placed.kind)
            if placed.relpath in seen:
                raise UploadError(f"zip {name!r}: entries {seen[placed.relpath]!r} and {info.filename!r} "
                                  f"both go to {placed.relpath}")
            seen[placed.relpath] = info.filename
            tmp = workdir / f"{i}.part"
            with zf.open(info) as src, open(tmp, "wb") as dst:
                n = 0
                # Never trust the declared size: stop at it (+1 byte to notice a lie).
                while chunk := src.read(min(CHUNK, info.file_size + 1 - n) or 1):
                    n += len(chunk)
                    if n > info.file_size:
                        raise UploadTooLarge(f"zip {name!r} entry {info.filename!r} is larger than it declares")
                    dst.write(chunk)
            check_content(tmp, placed)
            out.append((tmp, placed))
    if not out:
        raise UploadError(f"zip {name!r} holds no files")
    return out


def list_inputs(inputs: Path) -> list[dict]:
    if not inputs.is_dir():
        return []
    return [{"path": p.relative_to(inputs).as_posix(), "size": p.stat().st_size}
            for p in sorted(inputs.rglob("*")) if p.is_file()]


def remove_input(inputs: Path, relpath: str) -> bool:
    """Delete one input given its listed path (only a listed path is accepted)."""
    listed = {f["path"] for f in list_inputs(inputs)}
    if relpath not in listed:
        return False
    (inputs / relpath).unlink()
    return True
