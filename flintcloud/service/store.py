"""The service's records in one SQLite database (WAL): users' tokens, simulations, runs.

Every statement is a constant with `?` parameters: no SQL is ever built from request values.
Every query that touches a simulation or run takes the owner, so another user's record is
simply not found (the API answers 404).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from flintcloud.errors import FlintcloudError

SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    created REAL NOT NULL,
    revoked REAL
);
CREATE TABLE IF NOT EXISTS simulations (
    id TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    title TEXT NOT NULL,
    params TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    UNIQUE (user, title)
);
CREATE INDEX IF NOT EXISTS simulations_user ON simulations (user, created);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    simulation_id TEXT NOT NULL REFERENCES simulations (id) ON DELETE CASCADE,
    user TEXT NOT NULL,
    status TEXT NOT NULL,
    stage TEXT,
    progress REAL NOT NULL DEFAULT 0,
    error TEXT,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    host TEXT,
    pid INTEGER,
    heartbeat REAL,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    record TEXT
);
CREATE INDEX IF NOT EXISTS runs_simulation ON runs (simulation_id, created);
CREATE INDEX IF NOT EXISTS runs_status ON runs (status);
"""

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
# The status of a simulation's latest run (NULL when it has none), as an SQL expression over `simulations`.
_LATEST_STATUS = ("(SELECT r.status FROM runs r WHERE r.simulation_id = simulations.id ORDER BY r.created DESC "
                  "LIMIT 1)")
# What the simulations list can be ordered by: fixed SQL expressions, chosen by name (never request text).
# `engine` is the simulation's override, else params.yaml's default (bound as a parameter).
SIMULATION_ORDER = {
    "created": "created",
    "title": "lower(title)",
    "status": f"COALESCE({_LATEST_STATUS}, '')",
    "engine": "COALESCE(json_extract(params, '$.simulation.engine'), ?)",
}
FINAL = ("succeeded", "failed", "cancelled")
TOKEN_PREFIX = "fct_"


class StoreError(FlintcloudError, RuntimeError):
    """The service database is unreachable or inconsistent."""


class ConflictError(FlintcloudError, ValueError):
    """The request conflicts with the current state (e.g. a title already used)."""


@dataclass(frozen=True)
class Simulation:
    id: str
    user: str
    title: str
    params: dict
    created: float
    updated: float

    def as_json(self) -> dict:
        return {"id": self.id, "title": self.title, "params": self.params, "created": self.created,
                "updated": self.updated}


@dataclass(frozen=True)
class Run:
    id: str
    simulation_id: str
    user: str
    status: str
    stage: str | None
    progress: float
    error: str | None
    created: float
    started: float | None
    finished: float | None
    host: str | None
    pid: int | None
    heartbeat: float | None
    cancel_requested: bool
    record: dict | None

    @property
    def culprit(self) -> dict | None:
        """What a failed run's error names: {input, layer, key, message} (flintcloud.service.culprit), or None."""
        return (self.record or {}).get("culprit") if self.status == "failed" else None

    def as_json(self) -> dict:
        return {"id": self.id, "simulation_id": self.simulation_id, "status": self.status, "stage": self.stage,
                "progress": self.progress, "error": self.error, "culprit": self.culprit, "created": self.created,
                "started": self.started, "finished": self.finished, "cancel_requested": self.cancel_requested,
                "record": self.record}


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def default_engine() -> str:
    """The engine of a simulation that does not choose one: the key registry's default (params.yaml's)."""
    from flintcloud.params import registered_key

    return str(registered_key("simulation.engine").default)


def _sim(row) -> Simulation:
    return Simulation(row["id"], row["user"], row["title"], json.loads(row["params"]), row["created"], row["updated"])


def _run(row) -> Run:
    return Run(row["id"], row["simulation_id"], row["user"], row["status"], row["stage"], row["progress"],
               row["error"], row["created"], row["started"], row["finished"], row["host"], row["pid"],
               row["heartbeat"], bool(row["cancel_requested"]), json.loads(row["record"]) if row["record"] else None)


class Store:
    """Open per call (cheap with SQLite); safe from threads and processes thanks to WAL + busy timeout."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def init(self) -> Store:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(SCHEMA)
        return self

    @contextlib.contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except sqlite3.Error as err:
            raise StoreError(f"service database {str(self.path)!r} cannot be opened: {err}") from err
        conn.row_factory = sqlite3.Row
        try:
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=30000")
            yield conn
        finally:
            conn.close()

    def ping(self) -> None:
        if not self.path.is_file():
            raise StoreError(f"service database {str(self.path)!r} does not exist")
        with self.connect() as conn:
            conn.execute("SELECT COUNT(*) FROM simulations").fetchone()

    # --- tokens ---------------------------------------------------------------------------
    def create_token(self, user: str) -> str:
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.connect() as conn:
            conn.execute("INSERT INTO tokens (user, token_hash, prefix, created) VALUES (?, ?, ?, ?)",
                         (user, hash_token(token), token[:10], time.time()))
        return token

    def revoke_tokens(self, user: str | None = None, token: str | None = None) -> int:
        with self.connect() as conn:
            if token is not None:
                cur = conn.execute("UPDATE tokens SET revoked = ? WHERE token_hash = ? AND revoked IS NULL",
                                   (time.time(), hash_token(token)))
            else:
                cur = conn.execute("UPDATE tokens SET revoked = ? WHERE user = ? AND revoked IS NULL",
                                   (time.time(), user))
            return cur.rowcount

    def token_user(self, token: str) -> str | None:
        with self.connect() as conn:
            row = conn.execute("SELECT user FROM tokens WHERE token_hash = ? AND revoked IS NULL",
                               (hash_token(token),)).fetchone()
        return row["user"] if row else None

    def has_tokens(self) -> bool:
        with self.connect() as conn:
            return conn.execute("SELECT 1 FROM tokens WHERE revoked IS NULL LIMIT 1").fetchone() is not None

    # --- simulations ----------------------------------------------------------------------
    def create_simulation(self, sim_id: str, user: str, title: str, params: dict) -> Simulation:
        now = time.time()
        try:
            with self.connect() as conn:
                conn.execute("INSERT INTO simulations (id, user, title, params, created, updated) VALUES (?,?,?,?,?,?)",
                             (sim_id, user, title, json.dumps(params, sort_keys=True), now, now))
        except sqlite3.IntegrityError as err:
            raise ConflictError(f"title {title!r}: you already have a simulation with this title") from err
        return Simulation(sim_id, user, title, params, now, now)

    def get_simulation(self, user: str, sim_id: str) -> Simulation | None:
        with self.connect() as conn:
            row = conn.execute("SELECT * FROM simulations WHERE id = ? AND user = ?", (sim_id, user)).fetchone()
        return _sim(row) if row else None

    def simulation_by_title(self, user: str, title: str) -> Simulation | None:
        with self.connect() as conn:
            row = conn.execute("SELECT * FROM simulations WHERE title = ? AND user = ?", (title, user)).fetchone()
        return _sim(row) if row else None

    def list_simulations(self, user: str, *, limit: int, offset: int, title_contains: str | None = None,
                         status: str | None = None, sort: str = "created",
                         descending: bool = True) -> tuple[list[Simulation], int]:
        """A page of the user's simulations, filtered and ordered over all of them (not within the page)."""
        if sort not in SIMULATION_ORDER:
            raise ValueError(f"sort {sort!r} is not one of {', '.join(SIMULATION_ORDER)}")
        # Filters are parameters; the statement text never contains request values (the ORDER BY expression
        # and direction come from constants chosen by `sort` and `descending`).
        where = f"user = ? AND (? IS NULL OR instr(lower(title), lower(?)) > 0) AND (? IS NULL OR {_LATEST_STATUS} = ?)"
        args = (user, title_contains, title_contains, status, status)
        direction = "DESC" if descending else "ASC"
        order = f"{SIMULATION_ORDER[sort]} {direction}, created {direction}, id"
        order_args = (default_engine(),) if sort == "engine" else ()
        with self.connect() as conn:
            total = conn.execute(f"SELECT COUNT(*) FROM simulations WHERE {where}", args).fetchone()[0]
            rows = conn.execute(f"SELECT * FROM simulations WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
                                (*args, *order_args, limit, offset)).fetchall()
        return [_sim(r) for r in rows], total

    def update_simulation_params(self, user: str, sim_id: str, params: dict) -> None:
        with self.connect() as conn:
            conn.execute("UPDATE simulations SET params = ?, updated = ? WHERE id = ? AND user = ?",
                         (json.dumps(params, sort_keys=True), time.time(), sim_id, user))

    def touch_simulation(self, sim_id: str) -> None:
        with self.connect() as conn:
            conn.execute("UPDATE simulations SET updated = ? WHERE id = ?", (time.time(), sim_id))

    def delete_simulation(self, user: str, sim_id: str) -> bool:
        with self.connect() as conn:
            conn.execute("DELETE FROM runs WHERE simulation_id = ? AND user = ?", (sim_id, user))
            return conn.execute("DELETE FROM simulations WHERE id = ? AND user = ?", (sim_id, user)).rowcount > 0

    # --- runs -----------------------------------------------------------------------------
    def create_run(self, run_id: str, sim: Simulation, record: dict) -> Run:
        now = time.time()
        with self.connect() as conn:
            conn.execute("INSERT INTO runs (id, simulation_id, user, status, progress, created, record) "
                         "VALUES (?, ?, ?, 'queued', 0, ?, ?)", (run_id, sim.id, sim.user, now, json.dumps(record)))
        return self.get_run_any(run_id)

    def get_run(self, user: str, sim_id: str, run_id: str) -> Run | None:
        with self.connect() as conn:
            row = conn.execute("SELECT * FROM runs WHERE id = ? AND simulation_id = ? AND user = ?",
                               (run_id, sim_id, user)).fetchone()
        return _run(row) if row else None

    def get_run_any(self, run_id: str) -> Run | None:
        """For the worker, which acts for whoever queued the run."""
        with self.connect() as conn:
            row = conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return _run(row) if row else None

    def list_runs(self, user: str, sim_id: str) -> list[Run]:
        with self.connect() as conn:
            rows = conn.execute("SELECT * FROM runs WHERE simulation_id = ? AND user = ? ORDER BY created DESC",
                                (sim_id, user)).fetchall()
        return [_run(r) for r in rows]

    def latest_run(self, user: str, sim_id: str) -> Run | None:
        runs = self.list_runs(user, sim_id)
        return runs[0] if runs else None

    def active_runs(self, sim_id: str) -> list[Run]:
        with self.connect() as conn:
            rows = conn.execute("SELECT * FROM runs WHERE simulation_id = ? AND status IN ('queued', 'running')",
                                (sim_id,)).fetchall()
        return [_run(r) for r in rows]

    def claim_run(self, run_id: str, host: str, pid: int) -> bool:
        """queued -> running, only once (a run is never executed twice)."""
        now = time.time()
        with self.connect() as conn:
            cur = conn.execute("UPDATE runs SET status = 'running', started = ?, host = ?, pid = ?, heartbeat = ?, "
                               "stage = 'starting', progress = 0 WHERE id = ? AND status = 'queued' "
                               "AND cancel_requested = 0", (now, host, pid, now, run_id))
            return cur.rowcount == 1

    def set_progress(self, run_id: str, stage: str, progress: float) -> None:
        with self.connect() as conn:
            conn.execute("UPDATE runs SET stage = ?, progress = ?, heartbeat = ? WHERE id = ? AND status = 'running'",
                         (stage, float(progress), time.time(), run_id))

    def heartbeat(self, run_id: str) -> None:
        with self.connect() as conn:
            conn.execute("UPDATE runs SET heartbeat = ? WHERE id = ? AND status = 'running'", (time.time(), run_id))

    def finish_run(self, run_id: str, status: str, error: str | None = None, record: dict | None = None) -> None:
        if status not in FINAL:
            raise ValueError(f"not a final status: {status!r}")
        with self.connect() as conn:
            if record is None:
                conn.execute("UPDATE runs SET status = ?, error = ?, finished = ?, "
                             "progress = CASE WHEN ? = 'succeeded' THEN 1 ELSE progress END WHERE id = ?",
                             (status, error, time.time(), status, run_id))
            else:
                conn.execute("UPDATE runs SET status = ?, error = ?, finished = ?, record = ?, "
                             "progress = CASE WHEN ? = 'succeeded' THEN 1 ELSE progress END WHERE id = ?",
                             (status, error, time.time(), json.dumps(record), status, run_id))

    def request_cancel(self, run_id: str) -> Run:
        """A queued run is cancelled at once; a running one is flagged and its worker stops it."""
        with self.connect() as conn:
            conn.execute("UPDATE runs SET status = 'cancelled', finished = ?, cancel_requested = 1, "
                         "error = 'cancelled before it started' WHERE id = ? AND status = 'queued'",
                         (time.time(), run_id))
            conn.execute("UPDATE runs SET cancel_requested = 1 WHERE id = ? AND status = 'running'", (run_id,))
        return self.get_run_any(run_id)

    def requeue(self, run_id: str) -> None:
        """Queued again: its earlier failure (error, culprit) is forgotten."""
        with self.connect() as conn:
            row = conn.execute("SELECT record FROM runs WHERE id = ?", (run_id,)).fetchone()
            record = json.loads(row["record"]) if row is not None and row["record"] else None
            if isinstance(record, dict):
                record.pop("culprit", None)
            conn.execute("UPDATE runs SET status = 'queued', stage = NULL, progress = 0, error = NULL, started = NULL, "
                         "finished = NULL, host = NULL, pid = NULL, heartbeat = NULL, cancel_requested = 0, "
                         "record = ? WHERE id = ?", (json.dumps(record) if record is not None else None, run_id))

    def running_runs(self) -> list[Run]:
        with self.connect() as conn:
            rows = conn.execute("SELECT * FROM runs WHERE status = 'running'").fetchall()
        return [_run(r) for r in rows]

    def queued_runs(self) -> list[Run]:
        with self.connect() as conn:
            rows = conn.execute("SELECT * FROM runs WHERE status = 'queued' ORDER BY created").fetchall()
        return [_run(r) for r in rows]
