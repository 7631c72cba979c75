"""Where the libcbm engine runs: in this process (``local``) or on a Dask cluster (``dask``).

    simulate_with_executor(config, stands, inputs, reporters, executor="local" | {...})

Stands are independent in CBM, so the ``dask`` executor splits the StandSet into chunks of stands
(whole spinup groups: stands with the same classifiers, spatial unit, temperature and age go to the
same chunk, so no spinup is run twice) and simulates each chunk on a worker with the same engine code
(``simulate_libcbm(..., scope=<the whole run's RunScope>)``, so every chunk builds the whole run's
libcbm parameters and flux keys). Each chunk runs in a Dask actor that hands its StepOutputs over
one step at a time; the driver concatenates the chunks' pieces and puts the stands back in their
order into one StepOutput per step and calls the reporters with it. Reporters therefore see exactly what one local run gives
them: outputs are identical, and the driver never holds more than one step of results.

What goes to the workers: the GcbmConfig, the config folder's small JSON files (the engine reads
pools_cbm.json), the InputDb tables, the chunk's rows of ``stands``/``events`` and the RunScope.
Never the rasters nor ``pixel_stand``: maps and databases are written by the driver.

Settings (params.yaml ``executor``; ``flintcloud run --executor/--scheduler``), a string or a mapping:
``local`` (default) | ``dask`` | ``{kind: dask, address: tcp://host:8786, chunks: 8}`` |
``{kind: dask, n_workers: 2, threads_per_worker: 1, processes: true}`` (a LocalCluster when no
address is given).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import queue
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from flintcloud.errors import ConfigError, EngineUnavailableError, SimulationError

from .step import RunSummary, StepOutput

EXECUTORS = ("local", "dask")
log = logging.getLogger(__name__)
_KEYS = {"kind", "address", "n_workers", "threads_per_worker", "processes", "chunks", "memory_limit", "timeout"}


@dataclass(frozen=True)
class ExecutorSettings:
    """How to run the engine. ``address`` None with ``kind="dask"``: start a LocalCluster."""

    kind: str = "local"
    address: str | None = None
    n_workers: int = 2  # LocalCluster only
    threads_per_worker: int = 1  # LocalCluster only
    processes: bool = True  # LocalCluster only: worker processes (False: threads of this process)
    chunks: int | None = None  # chunks of stands; None = one per worker thread
    memory_limit: str | None = None  # LocalCluster only, per worker (dask's default: a share of RAM)
    timeout: float = 20.0  # seconds to reach the scheduler at ``address``


def parse_executor(value) -> ExecutorSettings:
    """ExecutorSettings from params.yaml's ``executor`` (None, a string or a mapping). Pure."""
    if value is None:
        return ExecutorSettings()
    if isinstance(value, ExecutorSettings):
        return value
    if isinstance(value, str):
        value = {"kind": value}
    if not isinstance(value, dict):
        raise ConfigError(f"executor {value!r}: expected 'local', 'dask' or a mapping with a 'kind'")
    unknown = sorted(set(value) - _KEYS)
    if unknown:
        raise ConfigError(f"executor: unknown key(s) {unknown}; expected some of {sorted(_KEYS)}")
    kind = str(value.get("kind") or "local").strip().lower()
    if kind not in EXECUTORS:
        raise ConfigError(f"executor.kind {value.get('kind')!r}: expected one of {', '.join(EXECUTORS)}")
    address = value.get("address") or None
    out = {"kind": kind, "address": None if address is None else str(address)}
    for key in ("n_workers", "threads_per_worker", "chunks"):
        v = value.get(key)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ConfigError(f"executor.{key} {v!r}: expected a positive integer")
        out[key] = v
    if "processes" in value and value["processes"] is not None:
        if not isinstance(value["processes"], bool):
            raise ConfigError(f"executor.processes {value['processes']!r}: expected true or false")
        out["processes"] = value["processes"]
    if value.get("timeout") is not None:
        t = value["timeout"]
        if isinstance(t, bool) or not isinstance(t, (int, float)) or t <= 0:
            raise ConfigError(f"executor.timeout {t!r}: expected a positive number of seconds")
        out["timeout"] = float(t)
    if value.get("memory_limit") is not None:
        out["memory_limit"] = str(value["memory_limit"])
    return ExecutorSettings(**out)


# --------------------------------------------------------------------------- chunks (pure)


def chunk_bounds(n_stands: int, n_chunks: int) -> list[tuple[int, int]]:
    """Contiguous [start, stop) ranges of stand rows, as equal as possible, none empty. Pure."""
    n_chunks = max(1, min(int(n_chunks), int(n_stands)))
    edges = np.linspace(0, n_stands, n_chunks + 1).round().astype(np.int64)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def spinup_order(stands) -> tuple[np.ndarray, np.ndarray]:
    """Stand rows ordered so that stands sharing a spinup (same classifiers, spatial unit, temperature,
    inventory age) are adjacent, and the positions where each such group starts. Pure.

    Chunks cut at group starts never spin up the same group twice.
    """
    st = stands.stands
    cols = [*stands.classifier_names, "spatial_unit_id", "mean_annual_temperature"]
    key = st[cols].copy()
    key["_age"] = np.maximum(st["age"].to_numpy(dtype=np.int64), 0)
    codes = key.groupby([*cols, "_age"], sort=False, dropna=False).ngroup().to_numpy()
    order = np.argsort(codes, kind="stable")
    ordered = codes[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]) if len(ordered) else np.zeros(0, dtype=np.int64)
    return order, starts


def snap_bounds(bounds: list[tuple[int, int]], starts: np.ndarray, n: int) -> list[tuple[int, int]]:
    """Move each inner chunk edge forward to the next group start; drop chunks left empty. Pure."""
    edges = [0]
    for _, stop in bounds[:-1]:
        i = int(np.searchsorted(starts, stop))
        edges.append(int(starts[i]) if i < len(starts) else n)
    edges.append(n)
    return [(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def split_stands(stands, bounds: list[tuple[int, int]], order: np.ndarray | None = None) -> list:
    """The StandSet rows ``order[start:stop]`` (``order`` None: rows start..stop-1) of each range as a
    StandSet of their own (stand ids from 0, events renumbered; no ``pixel_stand``: workers never
    need the grid). Pure."""
    from flintcloud.landscape.stands import StandSet

    n = stands.n_stands
    order = np.arange(n) if order is None else np.asarray(order, dtype=np.int64)
    events = stands.events
    ids = events["stand_id"].to_numpy(dtype=np.int64)
    chunk_of = np.full(n, -1, dtype=np.int64)
    new_id = np.zeros(n, dtype=np.int64)
    for c, (start, stop) in enumerate(bounds):
        chunk_of[order[start:stop]] = c
        new_id[order[start:stop]] = np.arange(stop - start)
    out = []
    for c, (start, stop) in enumerate(bounds):
        rows = stands.stands.iloc[order[start:stop]].reset_index(drop=True)
        ev = events[chunk_of[ids] == c].copy()
        ev["stand_id"] = new_id[ev["stand_id"].to_numpy(dtype=np.int64)]
        out.append(StandSet(
            stands=rows, events=ev.sort_values("stand_id", kind="stable").reset_index(drop=True),
            pixel_stand=np.empty((0, 0), dtype=np.int64), grid=stands.grid,
            classifier_names=list(stands.classifier_names),
        ))
    return out


def take_stands(step: StepOutput, rows: np.ndarray) -> StepOutput:
    """The StepOutput with its stands in the order ``rows`` (positions into ``step``). Pure."""

    def frame(df: pd.DataFrame) -> pd.DataFrame:
        return df.iloc[rows].reset_index(drop=True)

    return dataclasses.replace(
        step, pools=step.pools[rows], age=np.asarray(step.age)[rows], fluxes=step.fluxes[rows],
        disturbance_type_id=np.asarray(step.disturbance_type_id)[rows], classifiers=frame(step.classifiers),
        previous_classifiers=frame(step.previous_classifiers), previous_age=np.asarray(step.previous_age)[rows],
        land_class=np.asarray(step.land_class)[rows], area_ha=np.asarray(step.area_ha)[rows],
    )


def concat_steps(pieces: list[StepOutput]) -> StepOutput:
    """One StepOutput from the same step of consecutive chunks, stands in chunk order. Pure.

    Raises SimulationError when the pieces disagree on the step, pools or flux keys.
    """
    first = pieces[0]
    for p in pieces[1:]:
        if p.step != first.step or p.year != first.year:
            raise SimulationError(f"chunks out of step: step {p.step} (year {p.year}) beside step {first.step}")
        if list(p.pool_names) != list(first.pool_names) or list(p.flux_keys) != list(first.flux_keys):
            raise SimulationError(
                f"step {first.step}: chunks report different pools or flux keys ({len(p.flux_keys)} vs "
                f"{len(first.flux_keys)} keys); every chunk must be built for the whole run's RunScope"
            )
    if len(pieces) == 1:
        return first

    def cat(name):
        return np.concatenate([np.asarray(getattr(p, name)) for p in pieces])

    def frame(name):
        return pd.concat([getattr(p, name) for p in pieces], ignore_index=True)

    names, codes = {}, {}
    for p in pieces:
        names.update(p.disturbance_type_name)
        codes.update(p.disturbance_type_code)
    return StepOutput(
        step=first.step, year=first.year, pool_names=first.pool_names, pools=cat("pools"), age=cat("age"),
        flux_keys=first.flux_keys, fluxes=cat("fluxes"), disturbance_type_id=cat("disturbance_type_id"),
        disturbance_type_name=names, disturbance_type_code=codes, classifiers=frame("classifiers"),
        previous_classifiers=frame("previous_classifiers"), previous_age=cat("previous_age"),
        land_class=cat("land_class"), area_ha=cat("area_ha"),
    )


def config_files(config) -> dict[str, bytes]:
    """The JSON files of the config folder (small): a worker on another machine rebuilds the folder."""
    folder = Path(getattr(config, "config_dir", ""))
    if not folder.is_dir():
        return {}
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.json")) if p.is_file()}


# --------------------------------------------------------------------------- the worker side


class _Cancelled(Exception):
    pass


class ChunkSimulation:
    """A Dask actor: simulates one chunk of stands in a thread and hands over one StepOutput at a time.

    The thread blocks after each step until the driver has taken it (a queue of one), so a worker
    holds at most two steps of its chunk whatever the number of years.
    """

    def __init__(self, config, files: dict[str, bytes], stands, inputs, scope):
        self._queue: queue.Queue = queue.Queue(maxsize=1)
        self._cancel = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(config, files, stands, inputs, scope), name="flintcloud-chunk", daemon=True
        )
        self._thread.start()

    def _put(self, item) -> None:
        while True:
            if self._cancel.is_set():
                raise _Cancelled()
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def _run(self, config, files, stands, inputs, scope) -> None:
        from .libcbm_engine import simulate_libcbm

        try:
            with tempfile.TemporaryDirectory(prefix="flintcloud-chunk-") as tmp:
                if files and not Path(config.config_dir).is_dir():
                    for name, data in files.items():
                        (Path(tmp) / name).write_bytes(data)
                    config = dataclasses.replace(config, config_dir=Path(tmp))
                summary = simulate_libcbm(
                    config, stands, inputs, [lambda step: self._put(("step", step))],
                    progress=False, work_dir=Path(tmp), scope=scope,
                )
            self._put(("done", summary))
        except _Cancelled:
            return
        except BaseException as err:  # handed to the driver, which raises it
            with contextlib.suppress(_Cancelled):
                self._put(("error", err))

    def _get(self):
        # never blocks for good: a cancelled or vanished chunk thread ends the wait
        while True:
            if self._cancel.is_set():
                return ("cancelled", None)
            try:
                return self._queue.get(timeout=0.2)
            except queue.Empty:
                if self._thread.is_alive():
                    continue
                with contextlib.suppress(queue.Empty):
                    return self._queue.get_nowait()
                return ("error", SimulationError("a chunk's simulation thread ended without a result"))

    async def next_step(self):
        """("step", StepOutput) | ("done", RunSummary) | ("error", exception); waits off the event loop."""
        import asyncio  # (only dask's actors need it; a local run does not pay its import)

        return await asyncio.get_running_loop().run_in_executor(None, self._get)

    def cancel(self) -> bool:
        self._cancel.set()
        with contextlib.suppress(queue.Empty):
            self._queue.get_nowait()
        return True


# --------------------------------------------------------------------------- the driver side


@contextlib.contextmanager
def dask_client(settings: ExecutorSettings):
    """A dask.distributed Client on ``settings.address``, or on a LocalCluster it starts and stops."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as err:  # pragma: no cover - dask[distributed] is a dependency
        raise EngineUnavailableError("the dask executor needs dask[distributed] (pip install 'dask[distributed]')") from err
    if settings.address:
        try:
            client = Client(settings.address, timeout=f"{settings.timeout}s")
        except (OSError, TimeoutError) as err:
            raise EngineUnavailableError(
                f"cannot reach the Dask scheduler at {settings.address!r} (executor.address): {err}"
            ) from err
        with client:
            try:  # a cluster being started (e.g. Kubernetes pods) may have no worker yet
                client.wait_for_workers(1, timeout=settings.timeout)
            except TimeoutError as err:
                raise EngineUnavailableError(
                    f"the Dask scheduler at {settings.address!r} has no worker after {settings.timeout:g} s"
                ) from err
            yield client
        return
    kwargs = dict(n_workers=settings.n_workers, threads_per_worker=settings.threads_per_worker,
                  processes=settings.processes, dashboard_address=None)
    if settings.memory_limit:
        kwargs["memory_limit"] = settings.memory_limit
    with LocalCluster(**kwargs) as cluster, Client(cluster) as client:
        yield client


def simulate_dask(config, stands, inputs, reporters, client, *, chunks: int | None = None,
                  progress: bool = False) -> RunSummary:
    """Simulate ``stands`` in chunks on the workers of ``client``; reporters get whole-landscape steps."""
    from .libcbm_engine import run_scope

    t0 = time.perf_counter()
    workers = sorted(client.scheduler_info().get("workers", {}))
    if not workers:
        raise EngineUnavailableError(f"the Dask cluster at {client.scheduler.address!r} has no workers")
    threads = sum(int(w.get("nthreads", 1)) for w in client.scheduler_info()["workers"].values())
    # chunks of whole spinup groups (no spinup twice); the driver puts the stands back in order
    order, starts = spinup_order(stands)
    bounds = snap_bounds(chunk_bounds(stands.n_stands, chunks or max(threads, 1)), starts, stands.n_stands)
    back = np.empty_like(order)
    back[order] = np.arange(len(order))
    in_order = bool((order == np.arange(len(order))).all())
    scope = run_scope(stands, inputs)
    files = config_files(config)
    futures = [
        client.submit(ChunkSimulation, config, files, chunk, inputs, scope, actor=True,
                      workers=[workers[i % len(workers)]], pure=False)
        for i, chunk in enumerate(split_stands(stands, bounds, order))
    ]
    actors = [f.result() for f in futures]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=int(config.n_years) + 1, desc=f"libcbm on dask ({len(actors)} chunks)", unit="step", leave=False)
    summaries: list[RunSummary | None] = [None] * len(actors)
    waited = reporting = 0.0
    started = time.perf_counter()
    try:
        while True:
            t = time.perf_counter()
            replies = [a.next_step() for a in actors]  # all chunks work on their next step at once
            results = [r.result() for r in replies]
            waited += time.perf_counter() - t
            for kind, value in results:
                if kind == "error":
                    raise value
            kinds = {kind for kind, _ in results}
            if "cancelled" in kinds:
                raise SimulationError("a chunk was cancelled before the run finished")
            if kinds == {"done"}:
                summaries = [value for _, value in results]
                break
            if kinds != {"step"}:
                raise SimulationError(f"chunks finished at different steps: {sorted(kinds)}")
            t = time.perf_counter()
            step = concat_steps([value for _, value in results])
            if not in_order:
                step = take_stands(step, back)
            for reporter in reporters:
                reporter(step)
            reporting += time.perf_counter() - t
            if bar:
                bar.update(1)
    except BaseException:
        for a in actors:
            with contextlib.suppress(Exception):
                a.cancel().result(timeout=10)
        raise
    finally:
        if bar:
            bar.close()
        del actors
        client.cancel(futures)
    log.info("dask: %d chunks on %d workers; %.1f s starting them, %.1f s waiting for steps, %.1f s reducing",
             len(futures), len(workers), started - t0, waited, reporting)
    years = summaries[0].years if summaries else 0
    return RunSummary(
        n_pixels=sum(s.n_pixels for s in summaries), n_stands=int(stands.n_stands),
        n_spinup_groups=sum(s.n_spinup_groups for s in summaries), years=years,
        seconds=time.perf_counter() - t0, engine="libcbm",
    )


def simulate_with_executor(config, stands, inputs, reporters, executor=None, *, progress: bool = False,
                           work_dir: Path | None = None) -> RunSummary:
    """``flintcloud.engine.simulate`` (local) or ``simulate_dask`` on the cluster ``executor`` names."""
    settings = parse_executor(executor)
    if settings.kind == "local":
        from . import simulate

        return simulate(config, stands, inputs, reporters, progress=progress, work_dir=work_dir)
    with dask_client(settings) as client:
        return simulate_dask(config, stands, inputs, reporters, client, chunks=settings.chunks, progress=progress)
