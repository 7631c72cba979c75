"""FLINT's OutputerStream and OutputerStreamFlux text formats (moja.flint/src/outputerstream*.cpp).

OutputerStream: with `output_info_header`, 4 info lines ("OutputerStream", a rule, "Started:<%c %Z>",
a rule); then `notification,step,stepDate,fracOfStep,stepLenInYears,<pools>,<variables>,`; one
`onTimingPostInit` row and one `onOutputStep` row per step; with the info header, 3 footer lines.
Every data line ends with a comma; numbers are printed as C++ streams print doubles at precision 15
(%.15g). OutputerStreamFlux: header `step,step date,module name,disturbance_type,source pool,sink
pool,value` (FLINT's rows have no disturbance_type value, so they have one field fewer), rows
`step,<current start date>,module,source,sink,value`, info lines "OutputerStreamFlux" / "Started:<now>".
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

RULE = "=" * 74


def fmt_number(value: float) -> str:
    """std::ostream << double at setprecision(15)."""
    if value != value:
        return "-nan" if str(value).startswith("-") else "nan"
    if value in (float("inf"), float("-inf")):
        return "inf" if value > 0 else "-inf"
    return format(value, ".15g")


def escape_json2(s: str) -> str:
    out = []
    for c in s:
        if c in "\"\\" or "\x00" <= c <= "\x1f":
            out.append("\\")
        out.append(c)
    return "".join(out)


def fmt_dynamic(value: Any) -> str:
    """outputDynamicToStream: how OutputerStream prints a variable's value."""
    if isinstance(value, FlintDataValue):
        return '"[IFlintData"]'
    if isinstance(value, dict):
        return '"[struct]"'
    if isinstance(value, list):
        return '"[vector]"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return '"[null]"'
    if isinstance(value, str):
        return f'"{escape_json2(value)}"'
    if isinstance(value, int):
        return str(value)
    return fmt_number(float(value))


class FlintDataValue:
    """The value of a `flintdata` variable (FLINT's IFlintData objects, e.g. SpatialLocationInfo)."""

    def __init__(self, library: str, type_: str, settings: dict):
        self.library, self.type, self.settings = library, type_, settings

    def __repr__(self) -> str:
        return f"FlintDataValue({self.library!r}, {self.type!r})"


def c_time_now(now: float | None = None) -> str:
    """moja::put_time(localtime(now), "%c %Z") in the C locale, e.g. "Wed Jun 29 08:28:01 2022 UTC"."""
    return time.strftime("%c %Z", time.localtime(time.time() if now is None else now))


def moja_now(now: float | None = None) -> str:
    """moja::DateTime::now() streamed: "yyyy-mm-dd:hh:mm:ss.ffffff"."""
    dt = datetime.fromtimestamp(time.time() if now is None else now, tz=timezone.utc)
    return dt.strftime("%Y-%m-%d:%H:%M:%S.%f")


def stock_info_header(now: float | None = None) -> list[str]:
    return ["OutputerStream", RULE, f"Started:{c_time_now(now)}", RULE]


def stock_footer(now: float | None = None) -> list[str]:
    return [RULE, f"Finished:{c_time_now(now)}", RULE]


def stock_column_line(pool_names: list[str], variable_columns: list[str]) -> str:
    cols = ["notification", "step", "stepDate", "fracOfStep", "stepLenInYears", *pool_names, *variable_columns]
    return ",".join(cols) + ","


def stock_row(notification: str, step: int, date: str, frac: float, step_len: float, pools: list[float],
              variable_cells: list[str]) -> str:
    cells = [notification, str(step), date, fmt_number(frac), fmt_number(step_len),
             *(fmt_number(v) for v in pools), *variable_cells]
    return ",".join(cells) + ","


def flux_info_header(now: float | None = None) -> list[str]:
    return ["OutputerStreamFlux", RULE, f"Started:{moja_now(now)}", RULE]


def flux_footer(now: float | None = None) -> list[str]:
    return [RULE, f"Finished:{moja_now(now)}", RULE]


FLUX_COLUMN_LINE = "step,step date,module name,disturbance_type,source pool,sink pool,value"


def flux_row(step: int, date: str, module: str, source: str, sink: str, value: float) -> str:
    return f"{step},{date},{module},{source},{sink},{fmt_number(value)}"


def parse_stock_csv(text: str, source: str = "stock CSV") -> tuple[list[str], list[dict]]:
    """Read an OutputerStream CSV back (info header and footer optional): (pool names, records).

    Records have FlintResult.to_records()'s shape. Every column after stepLenInYears is read as a pool
    (a number): files written with OutputerStream `variables` columns are not read back."""
    from flintcloud.errors import OutputError

    lines = [line for line in text.splitlines() if line.strip()]
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith("notification,step,stepDate,"))
    except StopIteration:
        raise OutputError(f"{source}: no OutputerStream column line (notification,step,stepDate,...)") from None
    header = lines[start].rstrip(",").split(",")
    names = header[5:]
    records = []
    for n, line in enumerate(lines[start + 1:], start=start + 2):
        if line.startswith("="):
            break
        cells = line.rstrip(",").split(",")
        if len(cells) != len(header):
            raise OutputError(f"{source}: line {n} has {len(cells)} values, the column line has {len(header)}")
        try:
            rec = {"notification": cells[0], "step": int(cells[1]), "stepDate": cells[2],
                   "fracOfStep": float(cells[3]), "stepLenInYears": float(cells[4])}
            rec.update({name: float(v) for name, v in zip(names, cells[5:])})
        except ValueError as err:
            raise OutputError(f"{source}: line {n}: {err}") from None
        records.append(rec)
    return names, records
