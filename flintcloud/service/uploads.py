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

A zip of a whole GCBM project folder (GCBM.Belize, FLINT.Cloud's demo: config folder, templates/,
input_database/ with recliner2gcbm's CSVs, layers/raw/ and layers/tiled/ with GDAL's .aux.xml files)
is read as the project it is (zip_layout): the config folder is the one holding gcbm_config.cfg, the
layers are those of the folder its provider_config.json reads (else layers/tiled), the database is
the one it names. What a run never reads is skipped and listed with the reason (`Skipped`): config
templates, GDAL side files, logs, files beside the database, rasters and vector data outside the
layers folder. Anything else of an unknown type refuses the zip, naming the entry.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class Skipped:
    """A file of the upload that a run never reads: not stored, listed in the answer with the reason."""

    name: str         # the client's file name or zip entry (checked)
    reason: str

    def as_json(self) -> dict:
        return {"name": self.name, "reason": self.reason}


@dataclass
class Stored:
    placed: list[Placed] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


# Files that come with GCBM layers and databases but that no run reads (suffix -> why), anywhere in an upload.
SIDE_FILES = {
    ".aux.xml": "GDAL's auxiliary statistics of a raster (the GeoTIFF itself is what a run reads)",
    ".ovr": "GDAL overviews of a raster (the GeoTIFF itself is what a run reads)",
    ".tfw": "a world file (the GeoTIFF carries its own georeferencing)",
    ".log": "a log file",
}
# Vector data a GCBM project's tiler starts from (layers/raw/inventory.shp ...); a run reads the tiled rasters.
VECTOR_SUFFIXES = (".shp", ".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx", ".qmd", ".gpkg", ".geojson",
                   ".kml")
# Files beside gcbm_input.db in a GCBM project: recliner2gcbm's inputs and config, parameter tables.
DB_SIDE_SUFFIXES = (".csv", ".xls", ".xlsx", ".json", ".txt")


def side_file_reason(name: str) -> str | None:
    """Why a file of this name is skipped wherever it is (None: it is not a known side file). Pure."""
    lower = name.lower()
    return next((why for suffix, why in SIDE_FILES.items() if lower.endswith(suffix)), None)


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


def store_uploads(inputs: Path, files: list[tuple[str, BinaryIO]], limits: Limits) -> Stored:
    """Check and store uploaded files (name, stream); all land or none. Zips are expanded. Known side files
    (GDAL's .aux.xml, ...) and the parts of a project zip a run never reads are skipped and listed."""
    staging = _staging(inputs)
    try:
        staged: list[tuple[Path, Placed]] = []
        skipped: list[Skipped] = []
        for i, (name, stream) in enumerate(files):
            check_name(name)
            if name.lower().endswith(".zip"):
                zpath = staging / f"{i}.zip"
                save_stream(stream, zpath, limits.max_upload_bytes, name)
                from_zip, skipped_in_zip = expand_zip(zpath, name, staging / f"z{i}", limits)
                staged += from_zip
                skipped += skipped_in_zip
                continue
            if (why := side_file_reason(name)) is not None:
                skipped.append(Skipped(name, why))
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
        if not staged:
            raise UploadError("nothing to store: " + "; ".join(f"{k.name!r} skipped: {k.reason}" for k in skipped[:5])
                              + (f" (and {len(skipped) - 5} more)" if len(skipped) > 5 else ""))
        check_totals(inputs, {p.relpath: tmp.stat().st_size for tmp, p in staged}, limits)
        return Stored(place_files(inputs, staged), skipped)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


@dataclass(frozen=True)
class ZipLayout:
    """Where a project zip keeps what a run reads (folders are zip entry paths)."""

    config_dir: PurePosixPath | None = None           # the folder holding gcbm_config.cfg
    layer_dirs: frozenset[PurePosixPath] | None = None  # None: no project layout recognised, every raster is a layer
    db_dir: PurePosixPath | None = None               # the folder of gcbm_input.db


def _in_zip(base: PurePosixPath, path: str) -> PurePosixPath | None:
    """A path a GCBM config gives (relative to its folder, Windows separators allowed) as a zip entry path,
    or None when it is absolute or leaves the zip. Only compared with entry names, never opened. Pure."""
    text = path.replace("\\", "/")
    if text.startswith("/") or re.match(r"^[A-Za-z]:", text):
        return None
    joined = posixpath.normpath(posixpath.join(base.as_posix(), text))
    if joined == ".." or joined.startswith("../"):
        return None
    return PurePosixPath(joined)


def _provider_paths(doc: object) -> tuple[list[str], str | None]:
    """(layer_path of every raster layer, the SQLite provider's path) of a parsed provider_config.json. Pure."""
    providers = doc.get("Providers") if isinstance(doc, dict) else None
    if not isinstance(providers, dict):
        return [], None
    layers = [x["layer_path"] for p in providers.values() if isinstance(p, dict) and isinstance(p.get("layers"), list)
              for x in p["layers"] if isinstance(x, dict) and isinstance(x.get("layer_path"), str)]
    sqlite_path = (providers.get("SQLite") or {}).get("path") if isinstance(providers.get("SQLite"), dict) else None
    return layers, sqlite_path if isinstance(sqlite_path, str) else None


def _templates(rel: PurePosixPath) -> bool:
    return any(p.lower() == "templates" for p in rel.parts[:-1])


def zip_layout(files: list[PurePosixPath], read_json: Callable[[PurePosixPath], object], name: str) -> ZipLayout:
    """Recognise a GCBM project in a zip's file entries. `read_json(entry)` parses one entry (None if it cannot)."""
    configs = sorted({f.parent for f in files if f.name.lower() == "gcbm_config.cfg" and not _templates(f)})
    if len(configs) > 1:
        raise UploadError(f"zip {name!r} holds {len(configs)} GCBM config folders ({', '.join(map(str, configs))}); "
                          f"upload one project per simulation")
    config_dir = configs[0] if configs else None
    dirs: set[PurePosixPath] = set()
    db_dir = None
    if config_dir is not None and (config_dir / "provider_config.json") in set(files):
        layer_paths, db_path = _provider_paths(read_json(config_dir / "provider_config.json"))
        holding = {f.parent for f in files}
        dirs = {p.parent for p in (_in_zip(config_dir, x) for x in layer_paths) if p is not None and p.parent in holding}
        db = _in_zip(config_dir, db_path) if db_path else None
        db_dir = db.parent if db is not None else None
    if not dirs:
        dirs = {f.parent for f in files if f.name.lower().endswith(TIFF_EXT)
                and tuple(p.lower() for p in f.parent.parts[-2:]) == ("layers", "tiled")}
    if db_dir is None:
        dbs = {f.parent for f in files if f.name.lower().endswith((".db", ".sqlite"))}
        db_dir = next(iter(dbs)) if len(dbs) == 1 else None
    return ZipLayout(config_dir, frozenset(dirs) if dirs else None, db_dir)


def place_zip_entry(rel: PurePosixPath, entry: str, layout: ZipLayout, name: str) -> Placed | Skipped:
    """Where one file entry of a zip goes in the project, or why it is skipped; UploadError for an unknown type."""
    lower = rel.name.lower()
    parents = [p.lower() for p in rel.parts[:-1]]
    in_layers = layout.layer_dirs is None or rel.parent in layout.layer_dirs
    where = ", ".join(sorted(map(str, layout.layer_dirs or ())))
    if _templates(rel):
        return Skipped(entry, "a GCBM config template (a run writes its own config from the params)")
    if (why := side_file_reason(rel.name)) is not None:
        return Skipped(entry, why)
    if "logs" in parents:
        return Skipped(entry, "a log file")
    if layout.config_dir is not None:
        in_config = rel.parent == layout.config_dir
    else:
        in_config = "config" in parents
    if in_config and lower.endswith((".json", ".cfg", ".conf")):
        return Placed(entry, f"{CONFIG_DIR}/{rel.name}", "config")
    if lower.endswith(TIFF_EXT) and not in_layers:
        return Skipped(entry, f"a raster outside the layers folder the project's config reads ({where}), "
                              f"e.g. the tiler's raw input")
    if lower.endswith((".db", ".sqlite")) or lower.endswith(TIFF_EXT):
        placed = destination(rel.name)
        return Placed(entry, placed.relpath, placed.kind)
    if layout.db_dir is not None and rel.parent.is_relative_to(layout.db_dir) and lower.endswith(DB_SIDE_SUFFIXES):
        return Skipped(entry, "beside the input database (recliner2gcbm's inputs and config, parameter tables); "
                              "a run reads gcbm_input.db")
    if lower.endswith(VECTOR_SUFFIXES):
        return Skipped(entry, "vector data a GCBM tiler starts from; a run reads the tiled rasters")
    if lower.endswith(".json") and not in_layers and not in_config:
        return Skipped(entry, f"JSON outside the layers folder ({where}) and the config folder"
                              f"{f' ({layout.config_dir})' if layout.config_dir is not None else ''}")
    try:
        placed = destination(rel.name, in_config_folder=in_config)
    except UploadError as err:
        raise UploadError(f"zip {name!r} entry {entry!r}: type not accepted; expected {ACCEPTED}; GCBM side files "
                          f"(.aux.xml, .ovr, logs, config templates, files beside the database, raw layers) are "
                          f"skipped") from err
    return Placed(entry, placed.relpath, placed.kind)


def _read_json_entry(zf: zipfile.ZipFile, rel: PurePosixPath, by_path: dict[PurePosixPath, zipfile.ZipInfo]) -> object:
    info = by_path.get(rel)
    if info is None or info.file_size > (1 << 20):
        return None
    try:
        with zf.open(info) as fh:
            return json.loads(fh.read((1 << 20) + 1).decode("utf-8-sig"))
    except (OSError, ValueError, zipfile.BadZipFile, RuntimeError):
        return None  # the config file's own check reports it


def expand_zip(zpath: Path, name: str, workdir: Path, limits: Limits) -> tuple[list[tuple[Path, Placed]], list[Skipped]]:
    """Check every entry of an uploaded zip and extract the files a run reads into workdir (not into the project);
    the others are listed as skipped, with the reason."""
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
        by_path = {check_relative(info.filename): info for info in infos if not info.is_dir()}
        layout = zip_layout(list(by_path), lambda rel: _read_json_entry(zf, rel, by_path), name)
        seen: dict[str, str] = {}
        skipped: list[Skipped] = []
        for i, info in enumerate(infos):
            if info.is_dir():
                continue
            placed = place_zip_entry(check_relative(info.filename), info.filename, layout, name)
            if isinstance(placed, Skipped):
                skipped.append(placed)
                continue
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
        raise UploadError(f"zip {name!r} holds no files" + (f" a run reads ({len(skipped)} skipped: "
                          f"{', '.join(k.name for k in skipped[:5])}{' ...' if len(skipped) > 5 else ''})"
                          if skipped else ""))
    return out, skipped


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
