"""dvc.yaml: every module a stage runs is one of its deps, so changing it reruns the stage (issue 12 item 5).

For each stage, its script (`python stages/X.py` in its cmd) is walked statically (AST, no import):
every `import`/`from ... import` anywhere in the file (inside functions too: a lazy import still runs
on some path), resolved to a file of the flintcloud package or of the script's own folder (stages/common.py),
and then the same for those files, transitively. Importing `a.b.c` runs `a/__init__.py` and
`a/b/__init__.py` as well, so those count too. Every file found must lie under a dep of the stage (the
file itself or a folder holding it).

One exemption: a package `__init__.py` reached only as the parent of what is imported, and holding
nothing but a docstring, `from __future__` imports and `__version__` (flintcloud/__init__.py, the
subpackages' docstring-only ones), runs nothing a stage's output can depend on; imported by name (e.g.
`from flintcloud import __version__`) it is a dep like any module.

Package data the modules read (SQL, templates, JSON through importlib.resources) is found the same
static way: a string constant in a module that names an existing file or folder beside it (not a Python
package: `"sql"`, `"sql/compile/"`, `"templates"`, `"compile_indicators.json"`) is a file the stage reads.
Dynamic imports (importlib.import_module) are not seen.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "flintcloud"


def _module_file(dotted: str, local_dirs: list[Path]) -> Path | None:
    """The file that defines module `dotted` (flintcloud.* or a module beside the stage script), if ours."""
    parts = dotted.split(".")
    roots = [REPO] if parts[0] == PACKAGE else local_dirs
    for root in roots:
        base = root.joinpath(*parts)
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def _dotted(path: Path) -> tuple[str, bool]:
    """(dotted name, is a package __init__) of a file under the repository's flintcloud package."""
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    is_init = parts[-1] == "__init__"
    if is_init:
        parts = parts[:-1]
    return ".".join(parts), is_init


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(tree: ast.AST):
    """Every Import/ImportFrom node, skipping `if TYPE_CHECKING:` bodies (never run)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _imported_names(path: Path, local_dirs: list[Path]) -> set[str]:
    """Dotted names of what `path` imports (absolute; relative imports resolved against its package).

    `from pkg import a, b` names pkg itself only when a or b is not a submodule (an attribute of pkg's
    __init__); when both are submodules, pkg's __init__ only runs as their parent."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    if path.is_relative_to(REPO / PACKAGE):
        name, is_init = _dotted(path)
        package = name if is_init else name.rpartition(".")[0]
    else:
        package = ""
    names: set[str] = set()
    for node in _import_nodes(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
            continue
        if node.level:
            base_parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            base = ".".join(base_parts + ([node.module] if node.module else []))
        else:
            base = node.module or ""
        if base == "__future__":
            continue
        # `from pkg import name`: name may be a submodule (imported then) or an attribute of pkg
        subs = {f"{base}.{alias.name}" for alias in node.names if alias.name != "*"}
        submodules = {name for name in subs if _module_file(name, local_dirs) is not None}
        names.update(subs)
        if submodules != subs or not subs:
            names.add(base)
    return names


def _trivial_init(path: Path) -> bool:
    """Only a docstring, `from __future__` imports and `__version__ = "..."`: nothing to depend on."""
    for i, node in enumerate(ast.parse(path.read_text(encoding="utf-8")).body):
        if i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            continue
        if (isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["__version__"]
                and isinstance(node.value, ast.Constant)):
            continue
        return False
    return True


def modules_run_by(script: Path, local_dirs: list[Path]) -> dict[Path, str]:
    """Every file of ours that running `script` may execute -> why (the importer), transitively."""
    found: dict[Path, str] = {}
    todo = [script]
    seen = {script}
    while todo:
        current = todo.pop()
        for name in sorted(_imported_names(current, local_dirs)):
            parts = name.split(".")
            # the module itself (if it is one) and every parent package's __init__ (they run first)
            for k in range(1, len(parts) + 1):
                target = _module_file(".".join(parts[:k]), local_dirs)
                if target is None:
                    continue
                explicit = k == len(parts) or _module_file(name, local_dirs) is None and k == len(parts) - 1
                if target.name == "__init__.py" and not explicit and _trivial_init(target):
                    continue  # only ran as a parent package, and holds nothing a stage can depend on
                if target not in found:
                    found[target] = str(current.relative_to(REPO))
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
    found.pop(script, None)
    return found


def data_files_of(module: Path) -> set[Path]:
    """Files/folders beside `module` that one of its string constants names (package data it reads)."""
    found = set()
    for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
            continue
        value = node.value.strip("/")
        if not value or "\n" in value or len(value) > 200 or node.value.startswith("/") or ".." in value.split("/"):
            continue
        path = module.parent / value
        try:
            exists = path.exists()
        except OSError:
            continue
        if exists and path.suffix != ".py" and path != module.parent and not (path / "__init__.py").is_file():
            found.add(path)
    return found


def files_run_by(script: Path, local_dirs: list[Path]) -> dict[Path, str]:
    """modules_run_by, plus the package data those modules (and the script) read -> why."""
    found = modules_run_by(script, local_dirs)
    for module in [script, *found]:
        for data in sorted(data_files_of(module)):
            found.setdefault(data, f"named in {module.relative_to(REPO)}")
    return found


def _stages(dvc_yaml: Path) -> dict[str, dict]:
    stages = {}
    for name, stage in yaml.safe_load(dvc_yaml.read_text())["stages"].items():
        stages[name] = stage["do"] if "foreach" in stage else stage
    return stages


def _script(stage: dict) -> Path:
    words = " ".join(stage["cmd"].split()).split(" ")
    [script] = [w for w in words if w.startswith("stages/") and w.endswith(".py")]
    return REPO / script


STAGES = _stages(REPO / "dvc.yaml")


def _covered(path: Path, deps: list[str]) -> bool:
    rel = path.relative_to(REPO)
    for dep in deps:
        dep = str(dep)
        if "${" in dep:
            continue
        dep_path = Path(dep)
        if rel == dep_path or dep_path in rel.parents:
            return True
    return False


def test_the_walk_sees_lazy_relative_and_parent_package_imports():
    """The walker itself, on modules whose imports are known: lazy (inside a function), relative, parents."""
    run = modules_run_by(REPO / "stages" / "simulate.py", [REPO / "stages"])
    rel = {str(p.relative_to(REPO)) for p in run}
    assert "stages/common.py" in rel  # `from common import ...` beside the script
    assert "flintcloud/engine/container.py" in rel  # imported inside run_project
    assert "flintcloud/engine/__init__.py" in rel  # a parent package with code runs first
    assert "flintcloud/engine/step.py" in rel  # `from .step import ...` in engine/__init__.py
    assert "flintcloud/__init__.py" not in rel  # parent only, docstring + __version__
    assert "flintcloud/errors.py" in rel
    assert {"flintcloud/outputs/sql/compile", "flintcloud/outputs/sql/raw_schema.sql",
            "flintcloud/inputdb/sql"} <= {str(p.relative_to(REPO)) for p in files_run_by(
                REPO / "stages" / "simulate.py", [REPO / "stages"])}


@pytest.mark.parametrize("name", list(STAGES))
def test_every_module_a_stage_runs_is_a_dep(name):
    stage = STAGES[name]
    script = _script(stage)
    deps = [str(d) for d in stage["deps"]]
    assert _covered(script, deps), f"stage {name}: its script {script.relative_to(REPO)} is not a dep"
    missing = {str(p.relative_to(REPO)): why for p, why in files_run_by(script, [script.parent]).items()
               if not _covered(p, deps)}
    assert not missing, (
        f"dvc.yaml stage {name!r} runs or reads these files but does not list them (or a folder holding them) "
        "in deps, so changing them would not rerun it: "
        + "; ".join(f"{m} ({why if why.startswith('named') else 'imported by ' + why})"
                    for m, why in sorted(missing.items()))
    )


ROTHC = REPO / "examples" / "rothc"  # a DVC repository of its own; its stages import the root's stages/common.py


@pytest.mark.parametrize("name", list(_stages(ROTHC / "dvc.yaml")))
def test_every_module_a_rothc_example_stage_runs_is_a_dep(name):
    stage = _stages(ROTHC / "dvc.yaml")[name]
    words = " ".join(stage["cmd"].split()).split(" ")
    [script] = [ROTHC / w for w in words if w.startswith("stages/") and w.endswith(".py")]
    deps = [(ROTHC / str(d)).resolve() for d in stage["deps"] if "${" not in str(d)]

    def covered(path: Path) -> bool:
        return any(path == d or d in path.parents for d in deps)

    assert covered(script), f"examples/rothc stage {name}: its script is not a dep"
    missing = {str(p.relative_to(REPO)): why for p, why in files_run_by(script, [script.parent, REPO / "stages"]).items()
               if not covered(p)}
    assert not missing, f"examples/rothc/dvc.yaml stage {name!r} does not list: " + "; ".join(
        f"{m} ({why})" for m, why in sorted(missing.items()))
