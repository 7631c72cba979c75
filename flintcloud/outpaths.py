"""Output paths a command may write: the checks every CLI command with --out/--overwrite makes first.

Bottom layer (imports only flintcloud.errors). Three promises:

- An output never equals or contains one of the command's inputs, whatever ``--overwrite`` says
  (``flintcloud run demo2/config --out demo2 --overwrite`` would otherwise delete the project), and
  never is the current directory or one of its parents (``--out .``), the filesystem root, the home
  folder or a git/DVC repository.
- A read-only or missing-permission output location is reported before any work is done (not after
  an hour of pixel grouping).
- A Markdown report (``compare``/``history --out X.md``) must end in ``.md``; its charts folder (the
  name without ``.md``) is replaced only when it is absent, empty, or holds nothing but ``.png`` files
  (what compare/history write); an existing ``.md`` is replaced only when compare/history wrote it.
  Anything else needs ``--overwrite``.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from flintcloud.errors import OutputError

#: How the Markdown files `compare` and `history` write begin.
GENERATED_HEADINGS = ("## Simulation results: ", "## History of ")


def _real(path: str | os.PathLike) -> Path:
    return Path(os.path.realpath(os.path.abspath(path)))


def _inside(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def _relation(out: Path, inp: Path) -> str | None:
    """How replacing `out` would hit `inp`: "is" / "contains", or None."""
    if out == inp:
        return "is"
    if out in inp.parents:
        return "contains"
    return None


def check_output(out: str | os.PathLike, *, inputs: Iterable[str | os.PathLike | None] = (),
                 what: str = "output") -> Path:
    """Refuse an output that would destroy an input or a folder nobody means to replace; check it is writable.

    Raises OutputError (one line, naming the path and the reason). Returns the absolute path.
    """
    out_abs = Path(os.path.abspath(out))
    real = _real(out)
    shown = str(out)
    cwd = _real(os.getcwd())
    if real == Path(real.anchor):
        raise OutputError(f"{what} {shown!r} is the filesystem root; refusing to write there")
    if real == _real(os.path.expanduser("~")):
        raise OutputError(f"{what} {shown!r} is the home folder; refusing to replace it (choose a new folder)")
    if _inside(cwd, real):
        raise OutputError(
            f"{what} {shown!r} is the current directory or one of its parents; refusing to replace it "
            "(choose a new folder, e.g. build/run1)"
        )
    for marker in (".git", ".dvc"):
        if (real / marker).exists():
            raise OutputError(
                f"{what} {shown!r} holds a repository ({marker}); refusing to replace it (choose a new folder)"
            )
    for inp in inputs:
        if inp is None:
            continue
        relation = _relation(real, _real(inp))
        if relation:
            raise OutputError(
                f"{what} {shown!r} {relation} the input {str(inp)!r}; writing there would delete it, "
                "so it is refused even with --overwrite (choose another output)"
            )
    check_writable(out_abs, what=what)
    return out_abs


# Characters a POSIX shell acts on even near quotes. dvc.yaml's stage commands run through `sh -c`, but the
# project folder no longer goes into them (they pass `params:project.dir` and the stage reads the path,
# stages/common.path_arg); validate refuses a project path holding these anyway, as defence in depth.
SHELL_METACHARACTERS = set("'\"`$\\;&|<>\n\r\t\0")


def shell_unsafe_characters(path: str | os.PathLike) -> str | None:
    """The shell metacharacters in `path`, described for a message (None when there are none)."""
    found = sorted({c for c in str(path) if c in SHELL_METACHARACTERS or ord(c) < 32})
    if not found:
        return None
    return ", ".join(repr(c) for c in found)


def check_writable(out: str | os.PathLike, *, what: str = "output") -> None:
    """Create and remove a probe in the folder where `out`'s temporary sibling will be written.

    A real write, not os.access: root passes access() on a read-only filesystem (EROFS).
    """
    out = Path(os.path.abspath(out))
    folder = out.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        probe = tempfile.mkdtemp(prefix=f".{out.name}.probe-", dir=folder)
        os.rmdir(probe)
    except OSError as err:
        cause = "a read-only filesystem" if err.errno == errno.EROFS else (err.strerror or str(err))
        raise OutputError(
            f"cannot write the {what} {str(out)!r}: {str(folder)!r} is not writable ({cause}); nothing was computed"
        ) from err


def is_charts_folder(folder: Path) -> bool:
    """True when `folder` is absent, empty, or holds only .png files (what a report writer puts there)."""
    if not folder.exists() and not folder.is_symlink():
        return True
    if not folder.is_dir() or folder.is_symlink():
        return False
    entries = list(folder.iterdir())
    return all(p.is_file() and not p.is_symlink() and p.suffix.lower() == ".png" for p in entries)


def report_output(out: str | os.PathLike, *, overwrite: bool = False, inputs: Iterable[str | os.PathLike | None] = (),
                  what: str = "report") -> tuple[Path, Path]:
    """Check a Markdown report path and its charts folder; return (markdown path, charts folder), absolute."""
    out = Path(out)
    if out.suffix.lower() != ".md":
        raise OutputError(
            f"{what} --out {str(out)!r} must name a Markdown file ending in .md (its charts go to the folder of "
            f"the same name without .md), e.g. {str(out.with_name(out.name + '.md'))!r}"
        )
    if out.is_dir():
        raise OutputError(f"{what} --out {str(out)!r} is a folder; give a file name ending in .md")
    charts = out.with_suffix("")
    md_abs = check_output(out, inputs=inputs, what=what)
    charts_abs = check_output(charts, inputs=inputs, what=f"{what} charts folder")
    if not overwrite:
        if not is_charts_folder(charts):
            raise OutputError(
                f"{what} charts folder {str(charts)!r} exists and was not written by flintcloud; pass --overwrite "
                "to replace it, or choose another --out"
            )
        if out.exists() and out.stat().st_size and not _looks_generated(out):
            raise OutputError(f"{what} {str(out)!r} exists; pass --overwrite to replace it, or choose another --out")
    return md_abs, charts_abs


def _looks_generated(md: Path) -> bool:
    """A Markdown file written by compare/history starts with one of their headings."""
    try:
        with open(md, encoding="utf-8", errors="replace") as fh:
            head = fh.read(200)
    except OSError:
        return False
    return head.startswith(GENERATED_HEADINGS)
