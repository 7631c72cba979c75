"""docs/architecture.md's data-flow order holds: no package imports one that comes after it."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "flintcloud"
ORDER = ["inputdb", "gcbm", "landscape", "engine", "outputs", "report"]
BOTTOM = {"errors", "atomic", "jsonfile", "mdtext", "sqlite_ro", "params"}
# Documented exception (docs/architecture.md): the container engine produces files, not StepOutputs,
# and compiles/mosaics them itself.
ALLOWED = {("engine/container.py", "outputs")}


def flintcloud_imports(path: Path) -> set[str]:
    """Top-level flintcloud modules/packages a file imports (anywhere in it, lazy imports included)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("flintcloud."):
            out.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            out.update(a.name.split(".")[1] for a in node.names if a.name.startswith("flintcloud."))
    return out


def test_no_package_imports_a_later_one():
    wrong = []
    for i, pkg in enumerate(ORDER):
        later = set(ORDER[i + 1:]) | {"validate", "run", "cli", "remote", "demo"}
        for path in sorted((PACKAGE / pkg).rglob("*.py")):
            rel = str(path.relative_to(PACKAGE))
            for target in flintcloud_imports(path) & later:
                if (rel, target) not in ALLOWED:
                    wrong.append(f"{rel} imports flintcloud.{target}")
    assert wrong == []


def test_the_bottom_layer_imports_only_itself():
    for name in BOTTOM:
        path = PACKAGE / f"{name}.py"
        assert flintcloud_imports(path) <= BOTTOM, (name, flintcloud_imports(path))


def test_the_checker_sees_a_violation(tmp_path):
    bad = tmp_path / "x.py"
    bad.write_text("def f():\n    from flintcloud.report.summarize import summarize_run\n", encoding="utf-8")
    assert flintcloud_imports(bad) == {"report"}


# Every module that opens a SQLite database, and which one. gcbm_input.db is opened by inputdb/reader.py
# alone (docs/architecture.md): the engine, validate and the service read it through reader's functions.
SQLITE_OPENERS = {
    "atomic.py": "none: recognises SQLite's 'database or disk is full'",
    "sqlite_ro.py": "any, read-only: the helper itself",
    "inputdb/reader.py": "gcbm_input.db",
    "inputdb/builder.py": "writes a new gcbm_input.db; reads libcbm's cbm_defaults",
    "engine/libcbm_params.py": "libcbm's cbm_defaults",
    "outputs/sqlite_io.py": "gcbm_output.db",
    "outputs/raw_db.py": "gcbm_output.db (writes)",
    "outputs/compile.py": "gcbm_output.db -> compiled_gcbm_output.db",
    "outputs/diff.py": "two runs' gcbm_output.db",
    "report/summarize.py": "the run's output dbs",
    "service/results.py": "a run's compiled_gcbm_output.db",
    "service/store.py": "the service's job store",
}


def test_only_inputdb_reader_opens_the_input_database():
    openers = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n == "sqlite3" or n.endswith("sqlite_ro") or n.endswith("sqlite_io") for n in names):
                openers.add(str(path.relative_to(PACKAGE)))
    assert openers == set(SQLITE_OPENERS), sorted(openers ^ set(SQLITE_OPENERS))


# The files of a run's output folder are named once, in flintcloud.params.OUTPUT_LAYOUT. Modules that still
# spell one out, and why.
OUTPUT_NAMES = {"gcbm_output.db", "compiled_gcbm_output.db", "run_summary.json", "spatial"}
OUTPUT_NAME_LITERALS = {
    "params.py": "OUTPUT_LAYOUT itself",
    "service/results.py": "the names inside FLINT.Cloud's and the report's download zips (an API's format)",
    "report/compare.py": "being changed on another branch (git revisions' `<out>/spatial`)",
}


def _string_literals(path: Path) -> list[str]:
    """String constants of a module, docstrings left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = {id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and ast.get_docstring(node, clean=False) is not None}
    return [n.value for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs]


def test_output_file_names_come_from_the_output_layout():
    spelt = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        for value in _string_literals(path):
            parts = value.strip("/").split("/")
            if any(p in OUTPUT_NAMES for p in parts):
                spelt.add(str(path.relative_to(PACKAGE)))
    assert spelt == set(OUTPUT_NAME_LITERALS), sorted(spelt ^ set(OUTPUT_NAME_LITERALS))
