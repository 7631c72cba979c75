"""Writing user-supplied text into Markdown safely. Bottom layer: no flintcloud imports.

Titles, params values, layer and classifier names and error messages come from users. Copied into
report.md or compare.md unescaped, ``![x](../.dvc/config.local)`` becomes an image that
``cml comment --publish`` uploads to a public host. Every user-supplied string written into Markdown
goes through :func:`escape_markdown`; every link or image a report writes goes through
:func:`relative_link`, which refuses targets outside the report's own folder tree.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

# CommonMark's ASCII punctuation that can start or end inline syntax; escaping all of them is always
# valid (a backslash before any ASCII punctuation renders that character literally).
_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~&\"'=:$])")


def escape_markdown(text: object) -> str:
    """``text`` as inline Markdown that renders literally: no links, images, HTML, tables or emphasis.

    Newlines become spaces, so a value cannot start a heading, list or table row of its own.
    """
    flat = " ".join(str(text).splitlines())
    return _SPECIAL.sub(r"\\\1", flat)


def relative_link(target: Path, report_dir: Path, root: Path | None = None) -> str:
    """A POSIX link from ``report_dir`` to ``target`` that stays inside ``root`` (default: report_dir).

    Raises ValueError when the resolved target lies outside ``root``: a report never links a file
    outside its own tree (``../.dvc/config.local`` and the like).
    """
    base = Path(root if root is not None else report_dir).resolve()
    resolved = Path(report_dir, target).resolve()
    if resolved != base and base not in resolved.parents:
        raise ValueError(f"link target {str(target)!r} resolves outside {str(base)!r}")
    rel = os.path.relpath(resolved, Path(report_dir).resolve())
    return Path(rel).as_posix().replace(" ", "%20").replace("(", "%28").replace(")", "%29")
