"""Which input, layer or params key a failed run's error names (issue 17: "on failure, the error with the
culprit named and a link to the input concerned").

    culprit_of(err, inputs, params) -> {"input": "layers/tiled/x.tiff", "layer": "x", "key": "...", "message": ...}

Validation problems carry their file and layer: a run that fails in its validate stage (its inputs changed
after it was queued, say) is validated again on the same inputs with the same params to read them. Other
errors name paths and layers in their message (flintcloud's errors name the file at fault): the message is
searched for the listed input paths, `layer '<name>'` and params keys. Nothing here builds a path from the
message: an input is only ever one of the simulation's listed inputs.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from flintcloud.errors import ValidationError
from flintcloud.service.overrides import OVERRIDABLE as SECTIONS  # the params sections a simulation sets
_KEY = re.compile(r"(?<![\w.])(?:params\.)?((?:" + "|".join(SECTIONS) + r")(?:\.[A-Za-z_]\w*)+)")
_PARAMS_YAML_KEY = re.compile(r"params\.yaml (" + "|".join(SECTIONS) + r"): ([A-Za-z_]\w*)")
_LAYER = re.compile(r"\blayer '([^'\n]+)'")
TIFF = (".tif", ".tiff")


def listed_inputs(inputs: Path) -> list[str]:
    """The simulation's input files, relative POSIX paths (the same listing the API shows)."""
    return sorted(p.relative_to(inputs).as_posix() for p in inputs.rglob("*") if p.is_file()) if inputs.is_dir() else []


def layer_input(layer: str, listed: list[str]) -> str | None:
    """The GeoTIFF of a layer: layers/tiled/<layer>.tif[f] (or GCBM's <layer>_moja.tif[f]). Pure."""
    for rel in listed:
        p = PurePosixPath(rel)
        if p.suffix.lower() in TIFF and p.stem in (layer, f"{layer}_moja"):
            return rel
    return None


def input_named(text: str, listed: list[str]) -> str | None:
    """The listed input the text names first (as a path ending in it: inputs/<rel>, data/project/<rel>,
    /abs/.../<rel>, or <rel> itself). Pure."""
    found = []
    for rel in listed:
        for m in re.finditer(re.escape(rel), text):
            before = text[m.start() - 1] if m.start() else ""
            after = text[m.end()] if m.end() < len(text) else ""
            if before in ("", "/", "'", '"', " ", "(") and not (after.isalnum() or after in "_-."):
                found.append((m.start(), -len(rel), rel))
                break
    return min(found)[2] if found else None


def params_key(dotted: str) -> str | None:
    """The longest params.yaml key (flintcloud.params' registry) that `dotted` starts with: 'report.md' is a
    file, not a key. Pure."""
    from flintcloud.params import registered_key

    parts = dotted.split(".")
    for n in range(len(parts), 1, -1):
        if registered_key(".".join(parts[:n])) is not None:
            return ".".join(parts[:n])
    return None


def key_named(text: str) -> str | None:
    """The params key (section.key...) the text names first. Pure."""
    hits = [(m.start(), m.group(1)) for m in _KEY.finditer(text)]
    hits += [(m.start(), f"{m.group(1)}.{m.group(2)}") for m in _PARAMS_YAML_KEY.finditer(text)]
    keys = sorted((pos, key) for pos, dotted in hits if (key := params_key(dotted)) is not None)
    return keys[0][1] if keys else None


def from_message(message: str, listed: list[str]) -> dict | None:
    """What one error message names: an input, a layer (and its GeoTIFF), a params key. Pure."""
    out: dict[str, str] = {}
    layer = _LAYER.search(message)
    if layer:
        out["layer"] = layer.group(1)
    rel = input_named(message, listed) or (layer_input(out["layer"], listed) if layer else None)
    if rel:
        out["input"] = rel
    if (key := key_named(message)) is not None:
        out["key"] = key
    if not out:
        return None
    return {**out, "message": message}


def from_problems(problems: list, inputs: Path, listed: list[str]) -> dict | None:
    """The first validation problem that names a file, layer or key (validate.Problem objects)."""
    root = inputs.resolve()
    for p in problems:
        out: dict[str, str] = {}
        if p.file:
            try:
                rel = Path(p.file).resolve().relative_to(root).as_posix()
            except ValueError:
                rel = None
            if rel in listed:
                out["input"] = rel
        if p.layer:
            out["layer"] = p.layer
            if "input" not in out and (rel := layer_input(p.layer, listed)):
                out["input"] = rel
        if (key := key_named(p.message)) is not None and p.check == "params":
            out["key"] = key
        if not out:
            named = from_message(_relative(p.message, inputs), listed)
            if named:
                return named
            continue
        return {**out, "message": _relative(p.message, inputs)}
    return None


def _relative(message: str, inputs: Path) -> str:
    """A message with the server's folders cut off ('inputs/...'), as the API's validation answers show it."""
    for parent in {str(inputs.parent), str(inputs.resolve().parent)}:
        message = message.replace(parent + "/", "")
    return message


def culprit_of(err: BaseException, inputs: Path, params: dict) -> dict | None:
    """What a failed run's error names, or None when it names nothing the simulation holds."""
    listed = listed_inputs(inputs)
    if isinstance(err, ValidationError):
        from flintcloud.validate import validate_project

        try:
            report = validate_project(inputs, params=params, root=inputs.parent)
        except Exception:  # noqa: BLE001 - the error itself is what the run reports; this only adds a pointer
            report = None
        if report is not None and (named := from_problems(report.errors, inputs, listed)):
            return named
        for problem in err.problems:
            if named := from_message(problem, listed):
                return named
    return from_message(str(err), listed)
