"""Read a JSON file, or fail with the caller's error class naming the file and what is wrong.

Bottom layer (stdlib only), shared by every reader of JSON inputs: GCBM configs, layer
sidecars, study areas, Recliner2GCBM configs, indicator definitions, metrics files.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from flintcloud.errors import FlintcloudError


def load_json(path: str | os.PathLike, error: type[FlintcloudError], what: str) -> Any:
    """Parsed JSON of `path` (a UTF-8 BOM is accepted, as Windows tools write one).

    Raises `error` with "<what> '<path>' not found", "... is not valid JSON (line L, column C: why)"
    or "... is not UTF-8 text".
    """
    path = Path(path)
    if not path.is_file():
        raise error(f"{what} {str(path)!r} not found")
    try:
        with open(path, encoding="utf-8-sig") as fh:
            return json.load(fh)
    except json.JSONDecodeError as err:
        raise error(
            f"{what} {str(path)!r} is not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})"
        ) from err
    except UnicodeDecodeError as err:
        raise error(f"{what} {str(path)!r} is not UTF-8 text ({err.reason} at byte {err.start})") from err
    except OSError as err:
        raise error(f"{what} {str(path)!r} cannot be read: {err.strerror or err}") from err
