"""Run a FLINT point simulation as moja.cli + LocalDomainControllerBase + CalendarSequencer do.

`build_simulation(config)` checks everything a run needs (libraries, modules and their settings,
pools, variables, time series, the sequencer) and raises a ConfigError naming the key and the file
before any step runs. `run_simulation(config)` then posts FLINT's notifications to the modules in
their `order`:

    SystemInit, LocalDomainInit, PreTimingSequence, LocalDomainProcessingUnitInit,
    [step 0] TimingInit, TimingPrePostInit, TimingPostInit, TimingPostInit2,
    [steps 1..n] TimingStep, TimingPreEndStep, TimingEndStep, OutputStep, TimingPostStep,
    TimingShutdown, LocalDomainProcessingUnitShutdown, LocalDomainShutdown, SystemShutdown
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

from flintcloud.errors import ConfigError
from flintcloud.flint import outputs as fmt
from flintcloud.flint.calendar import calendar_steps, format_datetime, init_step
from flintcloud.flint.config import FlintConfig
from flintcloud.flint.modules import (
    CalendarSequencer, Context, Module, OutputerStream, OutputerStreamFlux, build_module, build_variable,
    loaded_libraries,
)
from flintcloud.flint.operations import OperationManager

INIT_SIGNALS = ("TimingInit", "TimingPrePostInit", "TimingPostInit", "TimingPostInit2")
STEP_SIGNALS = ("TimingStep", "TimingPreEndStep", "TimingEndStep", "OutputStep", "TimingPostStep")


@dataclass(frozen=True)
class StepRecord:
    notification: str          # onTimingPostInit (step 0) or onOutputStep
    step: int
    step_date: str             # as OutputerStream prints it
    frac_of_step: float
    step_len_in_years: float
    pools: tuple[float, ...]


@dataclass(frozen=True)
class FluxRecord:
    step: int
    step_start_date: str
    module: str
    source: str
    sink: str
    value: float


@dataclass
class FlintResult:
    """What a FLINT run produced: pools per step, applied fluxes, and FLINT's output files' text."""

    pool_names: list[str]
    steps: list[StepRecord]
    fluxes: list[FluxRecord]
    files: dict[str, str]          # OutputerStream/OutputerStreamFlux output_filename -> text
    screen: str                    # what moja.cli prints (outputters with output_to_screen)
    start_date: str
    end_date: str
    sources: tuple[str, ...] = ()
    stock_file: str | None = None  # the first OutputerStream's output_filename
    flux_file: str | None = None

    def to_csv(self) -> str:
        """FLINT's OutputerStream CSV: the configured OutputerStream's text, else the same format built
        from the recorded steps (info header, columns, one row per step, footer)."""
        if self.stock_file is not None:
            return self.files[self.stock_file]
        lines = [*fmt.stock_info_header(), fmt.stock_column_line(self.pool_names, [])]
        lines += [fmt.stock_row(s.notification, s.step, s.step_date, s.frac_of_step, s.step_len_in_years,
                                list(s.pools), []) for s in self.steps]
        lines += fmt.stock_footer()
        return "\n".join(lines) + "\n"

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per row of the stock CSV: notification, step, stepDate, fracOfStep, stepLenInYears, pools."""
        return [{"notification": s.notification, "step": s.step, "stepDate": s.step_date,
                 "fracOfStep": s.frac_of_step, "stepLenInYears": s.step_len_in_years,
                 **dict(zip(self.pool_names, s.pools))} for s in self.steps]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: pools, steps (records), fluxes, dates and the names of the files FLINT would write."""
        return {
            "start_date": self.start_date, "end_date": self.end_date, "pools": list(self.pool_names),
            "steps": self.to_records(),
            "fluxes": [{"step": f.step, "stepStartDate": f.step_start_date, "module": f.module,
                        "source": f.source, "sink": f.sink, "value": f.value} for f in self.fluxes],
            "files": sorted(self.files),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def pool_series(self, name: str) -> list[float]:
        i = self.pool_names.index(name)
        return [s.pools[i] for s in self.steps]


@dataclass
class Simulation:
    config: FlintConfig
    modules: list[Module]
    context: Context
    now: Callable[[], float | None] = field(default=lambda: None)


def build_simulation(config: FlintConfig, now: Callable[[], float | None] | None = None) -> Simulation:
    """Everything checked and wired; nothing run yet."""
    loaded = loaded_libraries(config)
    modules = [build_module(m, loaded) for m in config.modules]
    by_key = {(m.library, m.name): m for m in modules}
    seq = by_key.get((config.sequencer_library, config.sequencer))
    where = config.where("LocalDomain", "sequencer")
    if seq is None:
        raise ConfigError(f"{where}: LocalDomain.sequencer {config.sequencer!r} (library "
                          f"{config.sequencer_library!r}) is not an enabled module of Modules")
    if not isinstance(seq, CalendarSequencer):
        raise ConfigError(f"{where}: LocalDomain.sequencer {config.sequencer!r} is not a sequencer "
                          "(flintcloud runs FLINT's CalendarSequencer)")
    variables = {name: build_variable(v, loaded) for name, v in config.variables.items()}
    for key, name in (("simulateLandUnit", config.simulate_land_unit),
                      ("landUnitBuildSuccess", config.land_unit_build_success)):
        if name not in variables:
            raise ConfigError(f"{config.where('LocalDomain', key)}: LocalDomain.{key} names variable {name!r}, "
                              "which is not in Variables")
    om = OperationManager(config.pool_names, [p.value for p in config.pools], config.operation_manager)
    ctx = Context(config, om, variables, init_step(config.start_date), now=now or (lambda: None))
    for m in modules:
        m.bind(ctx)
    names = [m.filename for m in modules if isinstance(m, OutputerStream)]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ConfigError(f"{config.where('Modules')}: two outputters write {sorted(dup)[0]!r} (output_filename)")
    return Simulation(config, modules, ctx, ctx.now)


def count_steps(config: FlintConfig) -> int:
    return len(calendar_steps(config.start_date, config.end_date))


def run_simulation(config: FlintConfig, now: Callable[[], float | None] | None = None,
                   max_steps: int | None = None) -> FlintResult:
    """Run `config`; `max_steps` (e.g. a service's limit) refuses longer runs before anything runs."""
    if max_steps is not None and count_steps(config) > max_steps:
        raise ConfigError(f"{config.where('LocalDomain', 'end_date')}: LocalDomain {config.start_date.year}/"
                          f"{config.start_date.month:02d} .. {config.end_date.year}/{config.end_date.month:02d} is "
                          f"{count_steps(config)} monthly steps, more than the {max_steps} allowed")
    sim = build_simulation(config, now)
    ctx, modules = sim.context, sim.modules
    steps: list[StepRecord] = []
    fluxes: list[FluxRecord] = []

    def post(signal: str) -> None:
        for m in modules:
            m.on(signal, ctx)

    def record(notification: str) -> None:
        t = ctx.timing
        steps.append(StepRecord(notification, t.step, format_datetime(t.end, True), t.frac_of_step,
                                t.step_len_in_years, tuple(ctx.om.values)))

    def record_fluxes() -> None:
        t, names = ctx.timing, ctx.om.pool_names
        for r in ctx.om.last_applied:
            for f in r.fluxes:
                if f.source != f.sink:
                    fluxes.append(FluxRecord(t.step, format_datetime(t.start, False), r.module,
                                             names[f.source], names[f.sink], f.value))

    for signal in ("SystemInit", "LocalDomainInit", "PreTimingSequence", "LocalDomainProcessingUnitInit"):
        post(signal)
    ctx.timing = init_step(config.start_date)
    for signal in INIT_SIGNALS:
        post(signal)
        if signal == "TimingPostInit":
            record("onTimingPostInit")
            record_fluxes()
    for step in calendar_steps(config.start_date, config.end_date):
        ctx.timing = step
        for signal in STEP_SIGNALS:
            post(signal)
            if signal == "TimingEndStep":
                record_fluxes()
            elif signal == "OutputStep":
                record("onOutputStep")
    for signal in ("TimingShutdown", "LocalDomainProcessingUnitShutdown", "LocalDomainShutdown", "SystemShutdown"):
        post(signal)

    stock = next((m.filename for m in modules if type(m) is OutputerStream), None)
    flux = next((m.filename for m in modules if isinstance(m, OutputerStreamFlux)), None)
    return FlintResult(
        pool_names=list(ctx.om.pool_names), steps=steps, fluxes=fluxes,
        files={name: "\n".join(lines) + "\n" for name, lines in ctx.files.items()},
        screen="".join(line + "\n" for line in ctx.screen),
        start_date=f"{config.start_date.year:04d}/{config.start_date.month:02d}/{config.start_date.day:02d}",
        end_date=f"{config.end_date.year:04d}/{config.end_date.month:02d}/{config.end_date.day:02d}",
        sources=config.sources, stock_file=stock, flux_file=flux,
    )
