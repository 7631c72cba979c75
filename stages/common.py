"""What every stage script shares: reading params.yaml and failing with one clear line.

DVC runs each stage from the repository root, so params.yaml is read from the current
directory (inside `dvc exp run` too: DVC writes the -S overrides into that file).
params.yaml is read and checked by flintcloud.params (unknown keys name the closest one).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from flintcloud.errors import ConfigError, FlintcloudError
from flintcloud.params import PARAMS_FILE, Params, load_params_file, read_params


def _here(path: Path) -> Path:
    if not path.is_file():
        raise ConfigError(f"{str(path)!r} not found; run the stage from the repository root (dvc repro does)")
    return path


def load_params(path: Path = PARAMS_FILE) -> Params:
    """params.yaml, checked against flintcloud.params' registry."""
    return read_params(_here(path))


def load_params_unchecked(path: Path = PARAMS_FILE):
    """params.yaml as parsed YAML (the validate stage lists its problems with the project's)."""
    return load_params_file(_here(path))


def section(params, name: str) -> dict:
    """One section of params (a Params or a parsed mapping) as a dict; ConfigError naming it when absent."""
    value = params.get(name)
    if not isinstance(value, dict):
        raise ConfigError(f"params.yaml: section {name!r} is missing or not a mapping, got {value!r}")
    return value


def run_stage(name: str, main: Callable[[list[str]], None], argv: list[str] | None = None) -> None:
    """Run `main(argv)`; a FlintcloudError becomes one `stage <name>: error: ...` message and exit 1."""
    args = sys.argv[1:] if argv is None else argv
    try:
        main(args)
    except FlintcloudError as err:
        print(f"stage {name}: error: {err}", file=sys.stderr)
        sys.exit(1)


def params_option(args: list[str]) -> tuple[list[str], Path]:
    """Split `--params FILE` off the arguments: a scenario's stages read the params file
    stages/scenario_inputs.py wrote for it (default: params.yaml)."""
    if "--params" not in args:
        return args, PARAMS_FILE
    i = args.index("--params")
    if i + 1 >= len(args):
        raise SystemExit("--params needs a file")
    return args[:i] + args[i + 2:], Path(args[i + 1])


PARAMS_REF = "params:"


def path_arg(arg: str, params_file: Path = PARAMS_FILE) -> Path:
    """A path argument: the path itself, or `params:KEY`, the value of KEY in the params file.

    dvc.yaml passes `params:project.dir` instead of interpolating the user's folder into the command:
    DVC runs `cmd` through `sh -c`, and no quoting holds every name a folder can have (a `'` ends a
    single-quoted word), so the path never reaches the shell.
    """
    if not arg.startswith(PARAMS_REF):
        return Path(arg)
    key = arg[len(PARAMS_REF):]
    node = load_params_unchecked(params_file)
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ConfigError(f"{str(params_file)!r}: {key} is not set; the stage reads its path from it")
        node = node[part]
    if not isinstance(node, str) or not node:
        raise ConfigError(f"{str(params_file)!r}: {key} is {node!r}; expected a path")
    return Path(node)


def usage(name: str, args: list[str], expected: list[str]) -> None:
    if len(args) != len(expected):
        raise SystemExit(f"usage: python stages/{name}.py {' '.join(expected)} (got {len(args)} argument(s))")
