"""flintcloud.jsonfile.load_json: one reader, the caller's error class, the file named."""

from __future__ import annotations

import pytest

from flintcloud.errors import ConfigError, LayerError
from flintcloud.jsonfile import load_json


def test_reads_json_with_a_windows_bom(tmp_path):
    path = tmp_path / "variables.json"
    path.write_bytes(b'\xef\xbb\xbf{"Variables": {"age_class_range": 20}}')
    assert load_json(path, ConfigError, "config file") == {"Variables": {"age_class_range": 20}}


def test_missing_file_names_it(tmp_path):
    with pytest.raises(ConfigError, match=r"config file '.*nope\.json' not found"):
        load_json(tmp_path / "nope.json", ConfigError, "config file")


def test_invalid_json_gives_line_and_column(tmp_path):
    path = tmp_path / "age.json"
    path.write_text('{\n  "nodata": 32767,\n  "attributes": {1: "x"}\n}')
    with pytest.raises(LayerError, match=r"sidecar '.*age\.json' is not valid JSON \(line 3, column 18: Expecting property name"):
        load_json(path, LayerError, "sidecar")


def test_binary_file_is_not_utf8(tmp_path):
    path = tmp_path / "layer.json"
    path.write_bytes(b"II*\x00\x08\x00\xff\xfe")  # a TIFF header where a sidecar should be
    with pytest.raises(LayerError, match=r"sidecar '.*layer\.json' is not UTF-8 text"):
        load_json(path, LayerError, "sidecar")
