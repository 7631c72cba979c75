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


def code_span(text: object) -> str:
    """``text`` as an inline code span that renders literally whatever it holds (backticks included).

    Code spans take no escapes, so the fence is one backtick longer than the longest run inside
    (CommonMark), padded with a space when the text starts or ends with a backtick.
    """
    flat = " ".join(str(text).splitlines())
    longest = max((len(run) for run in re.findall(r"`+", flat)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") or not flat.strip() else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def code_fence(text: str) -> str:
    """A fence (``` or longer) that the block `text` cannot close early."""
    longest = max((len(run) for run in re.findall(r"`{3,}", text)), default=0)
    return "`" * max(3, longest + 1)


_PLAIN = re.compile(r"(?:[^\W_]|[ ,.:;%+\-/()°='\"!?@>])*")


def plain_or_escaped(text: object) -> str:
    """``text`` unchanged when it holds only letters, digits, spaces and ``, . : ; % + - / ( ) ° = ' " ! ? @ >``
    (nothing Markdown acts on: no brackets, ``<``, ``&``, backslashes, backticks, ``*``, ``_``, ``|``, ``#`` or newlines),
    else :func:`escape_markdown` of it. Keeps ordinary labels and numbers byte-identical in reports."""
    s = str(text)
    return s if _PLAIN.fullmatch(s) else escape_markdown(s)
