"""Upload checks and the one path function, attacked directly (the HTTP tests attack them through the API)."""

from __future__ import annotations

import io
import json
import sqlite3
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from flintcloud.service.paths import UnsafePathError, check_name, check_relative, check_title, data_path
from flintcloud.service.settings import Limits
from flintcloud.service.uploads import UploadError, UploadTooLarge, destination, store_uploads


@pytest.mark.parametrize("name", ["../x.tiff", "..", ".", "a/b.tiff", "a\\b.tiff", "/etc/passwd", "x\x00.tiff",
                                  ".hidden.json", "C:\\x.tiff", "", "a" * 201, "x..tiff", "sp ace.tiff"])
def test_check_name_refuses(name):
    with pytest.raises(UnsafePathError):
        check_name(name)


@pytest.mark.parametrize("name", ["Classifier1.tiff", "disturbances_2011.json", "gcbm_input.db", "a-b+c.cfg"])
def test_check_name_accepts_plain_names(name):
    assert check_name(name) == name


@pytest.mark.parametrize("entry", ["../../evil.json", "a/../../b.json", "/abs/x.json", "C:/x.json", "a\\b.json",
                                   "a/\x00/b.json", "./x.json"])
def test_zip_entries_that_escape_are_refused(entry):
    with pytest.raises(UnsafePathError, match="zip entry"):
        check_relative(entry)


@pytest.mark.parametrize("title", ["../etc", "a/b", "a\\b", "x\x00y", "tab\there", "", "   "])
def test_titles_never_carry_paths(title):
    with pytest.raises(UnsafePathError):
        check_title(title)


def test_data_path_stays_inside(tmp_path):
    assert data_path(tmp_path, "simulations", "0" * 32) == tmp_path.resolve() / "simulations" / ("0" * 32)
    for parts in (("..",), ("simulations", "../../x"), ("/etc",), ("a/b",), ("x\x00",)):
        with pytest.raises(UnsafePathError):
            data_path(tmp_path, *parts)
    (tmp_path / "link").symlink_to("/etc")
    with pytest.raises(UnsafePathError, match="outside the data directory"):
        data_path(tmp_path, "link", "passwd")


def test_destinations():
    assert destination("Classifier1.tiff").relpath == "layers/tiled/Classifier1.tiff"
    assert destination("Classifier1.json").relpath == "layers/tiled/Classifier1.json"
    assert destination("anything.db").relpath == "input_database/gcbm_input.db"
    assert destination("localdomain.json").relpath == "config/localdomain.json"
    assert destination("gcbm_config.cfg").relpath == "config/gcbm_config.cfg"
    with pytest.raises(UploadError, match=r"'x.exe': type not accepted"):
        destination("x.exe")


def tiff_bytes() -> bytes:
    buf = io.BytesIO()
    with rasterio.MemoryFile() as mem:
        with mem.open(driver="GTiff", width=4, height=3, count=1, dtype="int16", crs="EPSG:4326",
                      transform=from_origin(-106, 55, 0.00025, 0.00025)) as ds:
            ds.write(np.arange(12, dtype="int16").reshape(1, 3, 4))
        buf.write(mem.read())
    return buf.getvalue()


def zip_bytes(entries: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return buf.getvalue()


def upload(tmp_path, files, limits=Limits()):
    inputs = tmp_path / "sim" / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    return inputs, store_uploads(inputs, [(n, io.BytesIO(b)) for n, b in files], limits).placed


def nothing_stored(tmp_path) -> bool:
    files = [p for p in (tmp_path / "sim").rglob("*") if p.is_file()]
    return files == [] and not any((tmp_path).rglob("evil*"))


def test_a_geotiff_is_stored(tmp_path):
    inputs, placed = upload(tmp_path, [("layer.tiff", tiff_bytes()), ("layer.json", b'{"layer_type": "GridLayer"}')])
    assert [p.relpath for p in placed] == ["layers/tiled/layer.tiff", "layers/tiled/layer.json"]
    with rasterio.open(inputs / "layers/tiled/layer.tiff") as ds:
        assert ds.read(1)[2, 3] == 11


@pytest.mark.parametrize("name,data,message", [
    ("fake.tiff", b"not a tiff at all", r"'fake.tiff' is not a GeoTIFF"),
    ("fake.db", b"PK\x03\x04 not sqlite", r"'fake.db' is not a SQLite database"),
    ("bad.json", b'{"a": 1,,}', r"'bad.json' is not valid JSON \(line 1, column 9"),
    ("list.json", b"[1, 2]", r"'list.json': expected a JSON object"),
    ("x.sh", b"#!/bin/sh", r"'x.sh': type not accepted"),
])
def test_wrong_types_are_refused_and_nothing_is_kept(tmp_path, name, data, message):
    with pytest.raises(UploadError, match=message):
        upload(tmp_path, [("ok.tiff", tiff_bytes()), (name, data)])
    assert nothing_stored(tmp_path)


def test_sqlite_without_the_input_schema_is_refused_naming_tables(tmp_path):
    db = tmp_path / "empty.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE hello (x)")
    with pytest.raises(UploadError, match=r"'gcbm_input.db' is not a GCBM input database: .*missing table"):
        upload(tmp_path, [("gcbm_input.db", db.read_bytes())])


@pytest.mark.parametrize("entries,symlinks,error,message", [
    ({"../../evil.json": b"{}"}, None, UploadError, r"zip slip"),
    ({"/tmp/evil.json": b"{}"}, None, UploadError, r"absolute path"),
    ({"ok/x.json": b"{}"}, {"ok/evil.json": "/etc/passwd"}, UploadError, r"symbolic link"),
    ({"bomb.tiff": b"\0" * (20 * 1024**2)}, None, UploadTooLarge, r"zip bomb"),
    ({"a/x.json": b"{}", "b/x.json": b"{}"}, None, UploadError, r"both go to layers/tiled/x.json"),
])
def test_malicious_zips_are_refused(tmp_path, entries, symlinks, error, message):
    with pytest.raises(error, match=message):
        upload(tmp_path, [("project.zip", zip_bytes(entries, symlinks))])
    assert nothing_stored(tmp_path)
    assert not (tmp_path / "evil.json").exists() and not Path("/tmp/evil.json").exists()


def test_limits(tmp_path):
    with pytest.raises(UploadTooLarge, match="larger than the upload limit of 100 bytes"):
        upload(tmp_path, [("a.json", b'{"x": "' + b"y" * 200 + b'"}')], Limits(max_upload_bytes=100))
    with pytest.raises(UploadTooLarge, match="at most 2 input files"):
        upload(tmp_path, [(f"a{i}.json", b"{}") for i in range(3)], Limits(max_files=2))
    with pytest.raises(UploadTooLarge, match="may total at most 10 bytes"):
        upload(tmp_path, [("a.json", b'{"x": 12345}')], Limits(max_total_bytes=10))
    with pytest.raises(UploadTooLarge, match="has 3 entries; at most 2"):
        upload(tmp_path, [("p.zip", zip_bytes({"a.json": b"{}", "b.json": b"{}", "c.json": b"{}"}))],
               Limits(max_zip_entries=2))
    assert nothing_stored(tmp_path)


def store(tmp_path, files, limits=Limits()):
    inputs = tmp_path / "sim" / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    return store_uploads(inputs, [(n, io.BytesIO(b)) for n, b in files], limits)


PROVIDER = json.dumps({"Providers": {
    "SQLite": {"path": "..\\input_database\\gcbm_input.db", "type": "SQLite"},
    "RasterTiled": {"layers": [{"name": "age", "layer_path": "..\\layers\\tiled\\age_moja.tiff"}]}}}).encode()


def gcbm_project_entries() -> dict[str, bytes]:
    """A GCBM project folder as GCBM.Belize lays it out (without the db: the checks of a db have their tests)."""
    return {
        "p/gcbm_project/gcbm_config.cfg": b"config=localdomain.json\n",
        "p/gcbm_project/provider_config.json": PROVIDER,
        "p/gcbm_project/localdomain.json": b"{}",
        "p/gcbm_project/templates/localdomain.json": b"{}",
        "p/gcbm_project/templates/provider_config.json": b"{}",
        "p/layers/tiled/age_moja.tiff": tiff_bytes(),
        "p/layers/tiled/age_moja.json": b'{"layer_type": "GridLayer"}',
        "p/layers/tiled/age_moja.tiff.aux.xml": b"<PAMDataset/>",
        "p/layers/raw/age.tif": tiff_bytes(),
        "p/layers/raw/inventory.shp": b"\0\0\x27\x0a",
        "p/input_database/Growth_Curves.csv": b"a,b\n1,2\n",
        "p/input_database/recliner2gcbm_config.json": b"{}",
        "p/logs/run.log": b"done\n",
    }


def test_a_gcbm_project_zip_keeps_what_a_run_reads_and_lists_the_rest(tmp_path):
    stored = store(tmp_path, [("p.zip", zip_bytes(gcbm_project_entries()))])
    assert {p.name: p.relpath for p in stored.placed} == {
        "p/gcbm_project/gcbm_config.cfg": "config/gcbm_config.cfg",
        "p/gcbm_project/provider_config.json": "config/provider_config.json",
        "p/gcbm_project/localdomain.json": "config/localdomain.json",
        "p/layers/tiled/age_moja.tiff": "layers/tiled/age_moja.tiff",
        "p/layers/tiled/age_moja.json": "layers/tiled/age_moja.json",
    }
    reasons = {k.name: k.reason for k in stored.skipped}
    assert sorted(reasons) == ["p/gcbm_project/templates/localdomain.json", "p/gcbm_project/templates/provider_config.json",
                               "p/input_database/Growth_Curves.csv", "p/input_database/recliner2gcbm_config.json",
                               "p/layers/raw/age.tif", "p/layers/raw/inventory.shp",
                               "p/layers/tiled/age_moja.tiff.aux.xml", "p/logs/run.log"]
    assert "config template" in reasons["p/gcbm_project/templates/localdomain.json"]
    assert "outside the layers folder the project's config reads (p/layers/tiled)" in reasons["p/layers/raw/age.tif"]
    assert "GDAL's auxiliary statistics" in reasons["p/layers/tiled/age_moja.tiff.aux.xml"]
    assert "beside the input database" in reasons["p/input_database/Growth_Curves.csv"]
    assert "vector data" in reasons["p/layers/raw/inventory.shp"] and reasons["p/logs/run.log"] == "a log file"
    files = sorted(p.relative_to(tmp_path / "sim" / "inputs").as_posix()
                   for p in (tmp_path / "sim" / "inputs").rglob("*") if p.is_file())
    assert files == sorted(p.relpath for p in stored.placed)


def test_the_layers_folder_is_the_one_the_config_reads(tmp_path):
    """provider_config.json reads rasters/ (not layers/tiled): those are the layers; layers/tiled is skipped."""
    entries = gcbm_project_entries()
    entries["p/gcbm_project/provider_config.json"] = PROVIDER.replace(b"layers\\\\tiled", b"rasters")
    entries["p/rasters/age_moja.tiff"] = tiff_bytes()
    stored = store(tmp_path, [("p.zip", zip_bytes(entries))])
    layers = {p.name: p.relpath for p in stored.placed if p.kind == "layer"}
    assert layers == {"p/rasters/age_moja.tiff": "layers/tiled/age_moja.tiff"}
    assert "p/layers/tiled/age_moja.tiff" in {k.name for k in stored.skipped}


@pytest.mark.parametrize("entry,data,message", [
    ("p/tools/run_gcbm.bat", b"@echo off", r"entry 'p/tools/run_gcbm.bat': type not accepted"),
    ("p/gcbm_project/notes.docx", b"PK", r"entry 'p/gcbm_project/notes.docx': type not accepted"),
])
def test_unknown_entries_of_a_project_zip_refuse_it(tmp_path, entry, data, message):
    entries = {**gcbm_project_entries(), entry: data}
    with pytest.raises(UploadError, match=message):
        store(tmp_path, [("p.zip", zip_bytes(entries))])
    assert nothing_stored(tmp_path)


def test_a_zip_of_two_projects_is_refused(tmp_path):
    entries = {**gcbm_project_entries(), "q/gcbm_project/gcbm_config.cfg": b"config=localdomain.json\n"}
    with pytest.raises(UploadError, match=r"holds 2 GCBM config folders \(p/gcbm_project, q/gcbm_project\)"):
        store(tmp_path, [("p.zip", zip_bytes(entries))])


def test_side_files_uploaded_one_by_one_are_skipped(tmp_path):
    stored = store(tmp_path, [("age.tiff", tiff_bytes()), ("age.tiff.aux.xml", b"<PAMDataset/>"),
                              ("age.json", b'{"layer_type": "GridLayer"}')])
    assert [p.relpath for p in stored.placed] == ["layers/tiled/age.tiff", "layers/tiled/age.json"]
    assert [k.name for k in stored.skipped] == ["age.tiff.aux.xml"]
    with pytest.raises(UploadError, match=r"nothing to store: 'age.tiff.aux.xml' skipped: GDAL"):
        store(tmp_path, [("age.tiff.aux.xml", b"<PAMDataset/>")])


def test_a_zip_of_side_files_only_is_refused(tmp_path):
    with pytest.raises(UploadError, match=r"holds no files a run reads \(1 skipped: p/x.tiff.aux.xml\)"):
        store(tmp_path, [("p.zip", zip_bytes({"p/x.tiff.aux.xml": b"<PAMDataset/>"}))])
