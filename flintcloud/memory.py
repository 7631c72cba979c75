"""Refuse work that cannot fit in memory, up front, with the figure and the limit.

Bottom layer (imports only flintcloud.errors). A 50,000 x 50,000 grid needs an 18.6 GiB pixel-to-stand
index (int64 per cell); numpy would fail with ``Unable to allocate 18.6 GiB`` after the layers were
opened and checked. :func:`require_memory` compares the estimate with what the machine (or the
container's cgroup limit) can give before anything is allocated.
"""

from __future__ import annotations

import os
from pathlib import Path

from flintcloud.errors import SimulationError

#: Bytes per cell of `StandSet.pixel_stand` (int64).
PIXEL_INDEX_BYTES = 8


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


def parse_meminfo(text: str) -> int | None:
    """MemAvailable (bytes) from /proc/meminfo's text, or None."""
    for line in text.splitlines():
        if line.startswith("MemAvailable:"):
            parts = line.split()
            return int(parts[1]) * 1024
    return None


def available_memory() -> int | None:
    """Bytes this process can still allocate: MemAvailable, capped by a cgroup v2/v1 limit. None if unknown."""
    limits = []
    try:
        avail = parse_meminfo(Path("/proc/meminfo").read_text())
        if avail is not None:
            limits.append(avail)
    except OSError:
        try:
            limits.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            pass
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            raw = Path(limit_file).read_text().strip()
            if raw != "max" and int(raw) < 2**60:
                limits.append(int(raw) - int(Path(usage_file).read_text().strip()))
            break
        except (OSError, ValueError):
            continue
    return max(0, min(limits)) if limits else None


def pixel_index_bytes(n_cells: int) -> int:
    """Memory of the pixel-to-stand index for a grid of `n_cells` cells."""
    return int(n_cells) * PIXEL_INDEX_BYTES


def require_memory(needed: int, what: str, *, limit: int | None = None) -> None:
    """Raise SimulationError when `needed` bytes exceed `limit` (default: :func:`available_memory`)."""
    limit = available_memory() if limit is None else limit
    if limit is not None and needed > limit:
        raise SimulationError(
            f"{what} needs {_gib(needed)} of memory but only {_gib(limit)} is available; refusing to start "
            "(clip the study area, coarsen the resolution, or run on a machine with more memory)"
        )


def check_pixel_index(width: int, height: int, source: str, *, limit: int | None = None) -> None:
    """Refuse a grid whose pixel-to-stand index does not fit in memory, naming the grid and the figures."""
    require_memory(
        pixel_index_bytes(width * height),
        f"{source}: the {width:,} x {height:,} pixel grid's pixel-to-stand index",
        limit=limit,
    )
