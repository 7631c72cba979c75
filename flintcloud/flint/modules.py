"""The FLINT modules flintcloud runs, the libraries they come from, and the run-time state they share.

Each module class is thin plumbing around the pure functions in `rothc.py` / `testmodule.py`: it
checks its settings and looks up its pools and variables when the simulation is built (so a missing
pool, variable or setting is a ConfigError naming the module, the key and the file before any step
runs), then reacts to FLINT's notifications by submitting operations, as its C++ class does.

Registry (what moja.cli would load): library "internal.flint" is always loaded; any other library must
be listed in `Libraries` (as "external") and be one flintcloud knows: "moja.flint.example.base"
(ErrorScreenWriter, TimeSeriesTransform) and "moja.flint.example.rothc" (PlantResidueModule,
SoilCoverModule, RothCModule). FLINT modules flintcloud does not implement are named as such.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from flintcloud.errors import ConfigError, SimulationError
from flintcloud.flint import outputs as fmt
from flintcloud.flint import rothc
from flintcloud.flint.calendar import Step, format_datetime
from flintcloud.flint.config import FlintConfig, ModuleDef, VariableDef
from flintcloud.flint.operations import OperationManager
from flintcloud.flint.testmodule import DEFAULT_POOLS, DEFAULT_VARIABLES, test_module_ratios, test_module_transfers

INTERNAL = "internal.flint"
EXAMPLE_BASE = "moja.flint.example.base"
EXAMPLE_ROTHC = "moja.flint.example.rothc"

# FLINT's internal modules that flintcloud does not implement (moja.flint/src/libraryfactory.cpp)
INTERNAL_NOT_IMPLEMENTED = (
    "AggregatorLandUnit", "AggregatorFileWriter", "AggregatorFluxStep", "AggregatorStockStep",
    "CalendarAndEventSequencer", "CalendarAndEventFlintDataSequencer", "DebugNotificationModule", "ProxyModule",
    "SequencerModuleBase", "TransactionManagerAfterSubmitModule", "WriteVariableGrid", "WriteSystemConfig",
)
INTERNAL_TRANSFORMS_NOT_IMPLEMENTED = (
    "SQLQueryTransform", "LocationTransform", "LocationIdxTransform", "LocationFromFlintDataTransform",
    "LocationIdxFromFlintDataTransform", "LookupTransform", "LookupRandomTransform", "CompositeTransform",
    "SumPoolsTransform",
)
FLINT_DATA = {INTERNAL: ("SpatialLocationInfo", "LocalDomainInformation", "SystemInformation", "IdNameCollection",
                         "IdNameDescCollection", "OperationExtraData", "EventQueue", "SimulationUnitDataBase")}


# ------------------------------------------------------------------------------------------------
# variables


class Variable:
    """A plain variable: its JSON value, which modules may replace (IVariable::set_value)."""

    def __init__(self, name: str, value: Any, source: str):
        self.name, self._value, self.source = name, value, source

    def value(self, timing: Step) -> Any:
        return self._value

    def set_value(self, value: Any) -> None:
        self._value = value


class TimeSeriesVariable(Variable):
    """FLINT.example's TimeSeriesTransform: data[min(step, len - 1)], read at every access.

    Step 0 is the init step (so data[0] is only read during initialisation); past the end of the
    series the last value is used ("Brutal, but effective here", timeseriestransform.cpp).
    """

    def __init__(self, name: str, values: list[float], source: str):
        super().__init__(name, None, source)
        self.values = values

    def value(self, timing: Step) -> float:
        return self.values[min(timing.step, len(self.values) - 1)]

    def set_value(self, value: Any) -> None:
        raise SimulationError(f"Can't set External Variable: {self.name}.")


def parse_time_series(var: VariableDef) -> list[float]:
    """The numbers of a TimeSeriesTransform (`data`, or the key named by `data_property`)."""
    prop = var.settings.get("data_property", "data")
    where = f"{var.source}: Variables {var.name!r} transform"
    if not isinstance(prop, str):
        raise ConfigError(f"{where}: data_property must be a string, got {prop!r}")
    if prop not in var.settings:
        raise ConfigError(f"{where}: {prop!r} is missing (TimeSeriesTransform needs its data list)")
    data = var.settings[prop]
    if not isinstance(data, list):
        raise ConfigError(f"{where}: {prop} must be a list of numbers (one per step, step 0 first), got "
                          f"{type(data).__name__} {data!r}"[:300])
    if not data:
        raise ConfigError(f"{where}: {prop} is empty; a time series needs at least one value")
    for i, v in enumerate(data):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ConfigError(f"{where}: {prop}[{i}] is {v!r}, expected a number")
    return [float(v) for v in data]


def build_variable(var: VariableDef, loaded: set[str]) -> Variable:
    if var.kind == "value":
        return Variable(var.name, var.value, var.source)
    where = f"{var.source}: Variables {var.name!r} {var.kind}"
    if var.library not in loaded:
        raise ConfigError(f"{where}: library {var.library!r} is not loaded (list it in Libraries)")
    if var.kind == "transform":
        if var.library == EXAMPLE_BASE and var.type == "TimeSeriesTransform":
            return TimeSeriesVariable(var.name, parse_time_series(var), var.source)
        if var.library == INTERNAL and var.type in INTERNAL_TRANSFORMS_NOT_IMPLEMENTED:
            raise ConfigError(f"{where}: FLINT's {var.type} is not implemented by flintcloud")
        raise ConfigError(f"{where}: unknown transform {var.type!r} in library {var.library!r} "
                          f"(flintcloud knows {EXAMPLE_BASE}.TimeSeriesTransform)")
    if var.type not in FLINT_DATA.get(var.library, ()):
        raise ConfigError(f"{where}: unknown flintdata type {var.type!r} in library {var.library!r}")
    return Variable(var.name, fmt.FlintDataValue(var.library, var.type, var.settings), var.source)


# ------------------------------------------------------------------------------------------------
# run-time state


@dataclass
class Context:
    config: FlintConfig
    om: OperationManager
    variables: dict[str, Variable]
    timing: Step
    screen: list[str] = field(default_factory=list)
    files: dict[str, list[str]] = field(default_factory=dict)
    now: Callable[[], float | None] = lambda: None

    def pool(self, module: "Module", name: str, key: str) -> str:
        if name not in self.om.index:
            raise ConfigError(f"{module.source}: Modules.{module.name} needs pool {name!r} ({key}), which is not "
                              f"in Pools (pools: {', '.join(self.om.pool_names) or 'none'})")
        return name

    def variable(self, module: "Module", name: str, key: str | None = None) -> Variable:
        if name not in self.variables:
            via = f" (settings.{key})" if key else ""
            raise ConfigError(f"{module.source}: Modules.{module.name} needs variable {name!r}{via}, which is not "
                              f"in Variables of {' + '.join(self.config.sources)}")
        return self.variables[name]


def _number_value(var: Variable, value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{var.source}: variable {what} must be a number, got {value!r}")
    return float(value)


def _struct(var: Variable, ctx: Context, keys: tuple[str, ...]) -> dict[str, float]:
    value = var.value(ctx.timing)
    if not isinstance(value, dict):
        raise ConfigError(f"{var.source}: variable {var.name!r} must be an object with {', '.join(keys)}; "
                          f"got {value!r}")
    out = {}
    for k in keys:
        if k not in value:
            raise ConfigError(f"{var.source}: variable {var.name!r} has no {k!r} (needed by RothC)")
        out[k] = _number_value(var, value[k], f"{var.name}.{k}")
    return out


# ------------------------------------------------------------------------------------------------
# modules


class Module:
    library = INTERNAL
    handles: tuple[str, ...] = ()

    def __init__(self, definition: ModuleDef):
        self.name = definition.name
        self.library = definition.library
        self.source = definition.source
        self.settings = definition.settings
        self.order = definition.order
        self.configure(definition.settings)

    def configure(self, settings: dict) -> None:  # settings checks
        pass

    def bind(self, ctx: Context) -> None:  # pools and variables
        pass

    def setting(self, key: str, default: Any, kinds: tuple[type, ...], what: str) -> Any:
        if key not in self.settings:
            return default
        value = self.settings[key]
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise ConfigError(f"{self.source}: Modules.{self.name}.settings.{key} must be {what}, got {value!r}")
        return value

    def on(self, signal: str, ctx: Context) -> None:
        handler = getattr(self, "on_" + signal, None)
        if handler is not None:
            handler(ctx)


class CalendarSequencer(Module):
    """Drives the run (see calendar.py); receives no notifications itself."""


class TransactionManagerEndOfStepModule(Module):
    def on_TimingPrePostInit(self, ctx: Context) -> None:
        ctx.om.apply()

    def on_TimingPostInit2(self, ctx: Context) -> None:
        ctx.om.clear_last_applied()

    def on_TimingPreEndStep(self, ctx: Context) -> None:
        ctx.om.apply()

    def on_TimingPostStep(self, ctx: Context) -> None:
        ctx.om.clear_last_applied()


class TestModule(Module):
    __test__ = False

    def configure(self, settings: dict) -> None:
        for key in ("ratio_1", "ratio_2", "ratio_3"):
            self.setting(key, None, (int, float), "a number")
        for key in ("pool_1", "pool_2", "pool_3", "variable_1", "variable_2", "variable_3"):
            self.setting(key, None, (str,), "a string")
        self.ratios = test_module_ratios(settings)

    def bind(self, ctx: Context) -> None:
        self.pools = tuple(ctx.pool(self, self.setting(f"pool_{i}", DEFAULT_POOLS[i - 1], (str,), "a string"),
                                    f"settings.pool_{i}") for i in (1, 2, 3))
        for i in (1, 2, 3):   # FLINT looks them up (and fails without them) but never reads them
            ctx.variable(self, self.setting(f"variable_{i}", DEFAULT_VARIABLES[i - 1], (str,), "a string"),
                         f"variable_{i}")

    def on_TimingStep(self, ctx: Context) -> None:
        ctx.om.submit_proportional(self.name, test_module_transfers(self.pools, self.ratios))


class ErrorScreenWriter(Module):
    """Logs FLINT Error notifications (none in a point run); needs the spatialLocationInfo flintdata."""

    def configure(self, settings: dict) -> None:
        self.setting("log_errors_max_number", 100, (int,), "an integer")

    def bind(self, ctx: Context) -> None:
        var = ctx.variable(self, "spatialLocationInfo")
        if not isinstance(var.value(ctx.timing), fmt.FlintDataValue):
            raise ConfigError(f"{var.source}: variable 'spatialLocationInfo' must be a flintdata variable "
                              "(internal.flint SpatialLocationInfo), as ErrorScreenWriter reads it")


class ExampleErrorScreenWriter(ErrorScreenWriter):
    library = EXAMPLE_BASE


class PlantResidueModule(Module):
    library = EXAMPLE_ROTHC

    def bind(self, ctx: Context) -> None:
        for p in ("SoilDPM", "SoilRPM", "plantCM"):
            ctx.pool(self, p, "RothC pool")
        self.pres_cm = ctx.variable(self, "presCM")
        self.soil = ctx.variable(self, "soil")
        _number_value(self.pres_cm, self.pres_cm.value(ctx.timing), "presCM")
        _struct(self.soil, ctx, ("dToRRatioInPres",))

    def on_TimingInit(self, ctx: Context) -> None:
        d = _struct(self.soil, ctx, ("dToRRatioInPres",))["dToRRatioInPres"]
        self.d_frac, self.r_frac = rothc.plant_residue_fractions(d)

    def on_TimingStep(self, ctx: Context) -> None:
        pres = _number_value(self.pres_cm, self.pres_cm.value(ctx.timing), "presCM")
        transfers = rothc.plant_residue_transfers(pres, self.d_frac, self.r_frac)
        if transfers:
            ctx.om.submit_stock(self.name, transfers)


class SoilCoverModule(Module):
    library = EXAMPLE_ROTHC

    def bind(self, ctx: Context) -> None:
        self.soil_cover = ctx.variable(self, "soilCover")
        self.is_covered = ctx.variable(self, "isSoilCovered")
        if isinstance(self.is_covered, TimeSeriesVariable):
            raise ConfigError(f"{self.is_covered.source}: variable 'isSoilCovered' must be a plain value: "
                              "SoilCoverModule sets it every step")
        _number_value(self.soil_cover, self.soil_cover.value(ctx.timing), "soilCover")

    def _set(self, ctx: Context) -> None:
        cover = _number_value(self.soil_cover, self.soil_cover.value(ctx.timing), "soilCover")
        self.is_covered.set_value(rothc.is_soil_covered(cover))

    on_TimingInit = _set
    on_TimingStep = _set


def _truthy(var: Variable, value: Any) -> bool:
    if isinstance(value, (bool, int, float)):
        return bool(value)
    raise ConfigError(f"{var.source}: variable {var.name!r} must be true/false or a number, got {value!r}")


class RothCModule(Module):
    library = EXAMPLE_ROTHC

    def bind(self, ctx: Context) -> None:
        for p in ("SoilDPM", "SoilRPM", "SoilBioF", "SoilBioS", "SoilHUM", "SoilIOM", "atmosphere", "initialValues"):
            ctx.pool(self, p, "RothC pool")
        v = {n: ctx.variable(self, n) for n in ("rainfall", "avgAirTemp", "openPanEvap", "TSMD", "isSoilCovered",
                                                 "clayFrac", "initSoil", "soil")}
        self.v = v
        if isinstance(v["TSMD"], TimeSeriesVariable):
            raise ConfigError(f"{v['TSMD'].source}: variable 'TSMD' must be a plain value: RothCModule sets it")
        for n in ("rainfall", "avgAirTemp", "openPanEvap", "clayFrac"):
            _number_value(v[n], v[n].value(ctx.timing), n)
        _truthy(v["isSoilCovered"], v["isSoilCovered"].value(ctx.timing))
        _struct(v["initSoil"], ctx, (*rothc.INIT_SOIL_KEYS, "TSMDInit"))
        soil = _struct(v["soil"], ctx, rothc.SOIL_KEYS_ROTHC)
        clay = _number_value(v["clayFrac"], v["clayFrac"].value(ctx.timing), "clayFrac")
        try:
            rothc.rothc_parameters(clay, soil)
        except ConfigError as err:
            raise ConfigError(f"{v['soil'].source}: {err}") from None

    def _num(self, name: str, ctx: Context) -> float:
        return _number_value(self.v[name], self.v[name].value(ctx.timing), name)

    def on_TimingInit(self, ctx: Context) -> None:
        init_soil = _struct(self.v["initSoil"], ctx, (*rothc.INIT_SOIL_KEYS, "TSMDInit"))
        ctx.om.submit_stock(self.name, rothc.init_soil_transfers(init_soil))
        self.v["TSMD"].set_value(init_soil["TSMDInit"])
        soil = _struct(self.v["soil"], ctx, rothc.SOIL_KEYS_ROTHC)
        self.params = rothc.rothc_parameters(self._num("clayFrac", ctx), soil)

    def on_TimingStep(self, ctx: Context) -> None:
        covered = _truthy(self.v["isSoilCovered"], self.v["isSoilCovered"].value(ctx.timing))
        tsmd, rmf = rothc.rate_step(self.params, self._num("TSMD", ctx), self._num("rainfall", ctx),
                                    self._num("openPanEvap", ctx), self._num("avgAirTemp", ctx), covered)
        self.v["TSMD"].set_value(tsmd)
        ctx.om.submit_proportional(self.name, rothc.decomposition_transfers(self.params, rmf,
                                                                            ctx.timing.step_len_in_years))


def _bool_setting(module: Module, key: str, default: bool) -> bool:
    value = module.setting(key, default, (bool, int), "true or false")
    return bool(value)


class OutputerStream(Module):
    """The stock CSV (and, with output_to_screen, what moja.cli prints)."""

    def configure(self, settings: dict) -> None:
        self.filename = self.setting("output_filename", "OutputerStreamFlux.txt", (str,), "a file name")
        self.to_screen = _bool_setting(self, "output_to_screen", True)
        self.info_header = _bool_setting(self, "output_info_header", True)
        self.annual_only = _bool_setting(self, "output_annual_only", False)
        self.on_output_step = _bool_setting(self, "output_on_outputstep", True)
        self.on_end_step = _bool_setting(self, "output_on_timingendstep", False)
        variables = self.setting("variables", [], (list,), "a list of variable names")
        for v in variables:
            if not isinstance(v, str):
                raise ConfigError(f"{self.source}: Modules.{self.name}.settings.variables must hold names, got {v!r}")
        # "name.property" prints one property of an object variable
        self.columns = [(v, *v.split(".", 1)) if "." in v else (v, v, "") for v in variables]

    def _emit(self, ctx: Context, lines: list[str]) -> None:
        ctx.files.setdefault(self.filename, []).extend(lines)
        if self.to_screen:
            ctx.screen.extend(lines)

    def on_SystemInit(self, ctx: Context) -> None:
        ctx.files[self.filename] = []
        head = fmt.stock_info_header(ctx.now()) if self.info_header else []
        self._emit(ctx, [*head, fmt.stock_column_line(ctx.om.pool_names, [c[0] for c in self.columns])])

    def _cells(self, ctx: Context) -> list[str]:
        cells = []
        for _, name, prop in self.columns:
            var = ctx.variables.get(name)
            if var is None:
                cells.append("(missing variable)")
                continue
            value = var.value(ctx.timing)
            if prop and isinstance(value, dict):
                cells.append(fmt.fmt_dynamic(value.get(prop)))
            elif prop and isinstance(value, fmt.FlintDataValue):
                cells.append(fmt.fmt_dynamic(value.settings.get(prop)))
            else:
                cells.append(fmt.fmt_dynamic(value))
        return cells

    def _row(self, ctx: Context, notification: str) -> None:
        t = ctx.timing
        self._emit(ctx, [fmt.stock_row(notification, t.step, format_datetime(t.end, True), t.frac_of_step,
                                       t.step_len_in_years, ctx.om.values, self._cells(ctx))])

    def on_TimingPostInit(self, ctx: Context) -> None:
        self._row(ctx, "onTimingPostInit")

    def on_OutputStep(self, ctx: Context) -> None:
        if self.on_output_step and (not self.annual_only or ctx.timing.start.month == 12):
            self._row(ctx, "onOutputStep")

    def on_TimingEndStep(self, ctx: Context) -> None:
        if self.on_end_step:
            self._row(ctx, "onTimingEndStep")

    def on_SystemShutdown(self, ctx: Context) -> None:
        if self.info_header:
            self._emit(ctx, fmt.stock_footer(ctx.now()))


class OutputerStreamFlux(OutputerStream):
    """The flux CSV: every applied transfer of the init step and of each step."""

    def configure(self, settings: dict) -> None:
        self.filename = self.setting("output_filename", "OutputerStreamFlux.txt", (str,), "a file name")
        self.to_screen = _bool_setting(self, "output_to_screen", True)
        self.info_header = _bool_setting(self, "output_info_header", False)

    def on_SystemInit(self, ctx: Context) -> None:
        ctx.files[self.filename] = []
        head = fmt.flux_info_header(ctx.now()) if self.info_header else []
        self._emit(ctx, [*head, fmt.FLUX_COLUMN_LINE])

    def _fluxes(self, ctx: Context) -> None:
        t, names, lines = ctx.timing, ctx.om.pool_names, []
        for result in ctx.om.last_applied:
            for f in result.fluxes:
                if f.source != f.sink:
                    lines.append(fmt.flux_row(t.step, format_datetime(t.start, False), result.module,
                                              names[f.source], names[f.sink], f.value))
        self._emit(ctx, lines)

    def on_TimingPostInit(self, ctx: Context) -> None:
        self._fluxes(ctx)

    def on_TimingEndStep(self, ctx: Context) -> None:
        self._fluxes(ctx)

    def on_OutputStep(self, ctx: Context) -> None:
        pass

    def on_SystemShutdown(self, ctx: Context) -> None:
        if self.info_header:
            self._emit(ctx, fmt.flux_footer(ctx.now()))


REGISTRY: dict[tuple[str, str], type[Module]] = {
    (INTERNAL, "CalendarSequencer"): CalendarSequencer,
    (INTERNAL, "TransactionManagerEndOfStepModule"): TransactionManagerEndOfStepModule,
    (INTERNAL, "TestModule1"): TestModule,
    (INTERNAL, "TestModule2"): TestModule,
    (INTERNAL, "TestModule3"): TestModule,
    (INTERNAL, "ErrorScreenWriter"): ErrorScreenWriter,
    (INTERNAL, "OutputerStream"): OutputerStream,
    (INTERNAL, "OutputerStreamFlux"): OutputerStreamFlux,
    (EXAMPLE_BASE, "ErrorScreenWriter"): ExampleErrorScreenWriter,
    (EXAMPLE_ROTHC, "PlantResidueModule"): PlantResidueModule,
    (EXAMPLE_ROTHC, "SoilCoverModule"): SoilCoverModule,
    (EXAMPLE_ROTHC, "RothCModule"): RothCModule,
}
KNOWN_EXTERNAL_LIBRARIES = (EXAMPLE_BASE, EXAMPLE_ROTHC)


def loaded_libraries(config: FlintConfig) -> set[str]:
    """internal.flint plus every external library listed (each must be one flintcloud knows)."""
    loaded = {INTERNAL}
    for lib in config.libraries.values():
        if lib.type == "internal":
            continue   # FLINT: "Not required, all internals modules are loaded automatically"
        if lib.type != "external":
            raise ConfigError(f"{lib.source}: Libraries.{lib.name}: {lib.type} libraries are not supported")
        if lib.name not in KNOWN_EXTERNAL_LIBRARIES:
            raise ConfigError(f"{lib.source}: Libraries.{lib.name}: unknown library (flintcloud provides "
                              f"{', '.join(KNOWN_EXTERNAL_LIBRARIES)})")
        loaded.add(lib.name)
    return loaded


def build_module(definition: ModuleDef, loaded: set[str]) -> Module:
    where = f"{definition.source}: Modules.{definition.name}"
    if definition.library not in loaded:
        raise ConfigError(f"{where}: library {definition.library!r} is not loaded (list it in Libraries; "
                          f"loaded: {', '.join(sorted(loaded))})")
    cls = REGISTRY.get((definition.library, definition.name))
    if cls is None:
        if definition.library == INTERNAL and definition.name in INTERNAL_NOT_IMPLEMENTED:
            raise ConfigError(f"{where}: FLINT's {definition.name} is not implemented by flintcloud")
        known = sorted(n for lib, n in REGISTRY if lib == definition.library)
        raise ConfigError(f"{where}: library {definition.library!r} has no module {definition.name!r} "
                          f"(it has {', '.join(known)})")
    return cls(definition)
