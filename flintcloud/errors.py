"""Exceptions raised by flintcloud. No third-party imports here.

Every message names the file, layer, table or value at fault and what was
expected, so that a modeller can fix the input without reading a traceback.
"""

from __future__ import annotations


class FlintcloudError(Exception):
    """Root of every error flintcloud raises on purpose."""


class ProjectError(FlintcloudError, ValueError):
    """A GCBM project (config set, paths) is malformed or incomplete."""


class ConfigError(ProjectError):
    """A GCBM JSON config or params.yaml value is missing or invalid."""


class LayerError(FlintcloudError, ValueError):
    """A raster layer or its sidecar is unreadable or inconsistent."""


class DatabaseError(FlintcloudError, ValueError):
    """gcbm_input.db (or an output db) is missing, not SQLite, or lacks a table/column."""


class SimulationError(FlintcloudError, RuntimeError):
    """The simulation could not run or produced inconsistent results."""


class EngineUnavailableError(SimulationError):
    """The requested engine cannot run on this machine (e.g. no Docker daemon)."""


class OutputError(FlintcloudError, RuntimeError):
    """Writing or reading simulation outputs failed."""


class ReportError(FlintcloudError, RuntimeError):
    """Summaries, reports or comparisons could not be produced."""


class RemoteError(FlintcloudError, RuntimeError):
    """A DVC remote is misconfigured, unreachable, or a cache object fails its hash check."""


class ValidationError(FlintcloudError, ValueError):
    """Input validation found one or more problems; all are listed at once."""

    def __init__(self, problems: list[str], *, source: str | None = None):
        self.problems = list(problems)
        self.source = source
        head = f"{len(self.problems)} problem(s) found" + (f" in {source}" if source else "")
        super().__init__(head + ":\n" + "\n".join(f"  - {p}" for p in self.problems))
