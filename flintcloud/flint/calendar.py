"""FLINT's CalendarSequencer (moja.flint/src/calendarsequencer.cpp): monthly steps.

Only the year and month of start_date/end_date matter. Step 0 is initialisation: its current start
and end dates are both the first of the month before the start month, its stepLenInYears is 0 and
fracOfStep 1 (Timing::init). Step s >= 1 is calendar month (start month + s - 1), from its first
day to the first day of the next month; stepLenInYears = days in that month / days in that year
(leap years count, e.g. 1920-01: 31/366); fracOfStep is always 1. OutputerStream prints a step's
date as its current end date minus one microsecond ("1920-01-31:23:59:59.999999").
"""

from __future__ import annotations

from dataclasses import dataclass

from flintcloud.flint.config import SimpleDate, days_in_month, is_leap


@dataclass(frozen=True)
class YearMonth:
    year: int
    month: int

    def add_months(self, n: int) -> YearMonth:
        total = self.year * 12 + (self.month - 1) + n
        return YearMonth(total // 12, total % 12 + 1)


@dataclass(frozen=True)
class Step:
    """Timing during one step: step number, current start/end (first days of months), lengths."""

    step: int
    start: YearMonth          # curStartDate (day 1, 00:00)
    end: YearMonth            # curEndDate (day 1, 00:00)
    step_len_in_years: float
    frac_of_step: float = 1.0


def init_step(start: SimpleDate) -> Step:
    """Step 0: both current dates are the first of the month before the start month."""
    before = YearMonth(start.year, start.month).add_months(-1)
    return Step(0, before, before, 0.0, 1.0)


def step_len_in_years(ym: YearMonth) -> float:
    days_in_year = 366.0 if is_leap(ym.year) else 365.0
    return float(days_in_month(ym.year, ym.month)) / days_in_year


def calendar_steps(start: SimpleDate, end: SimpleDate) -> list[Step]:
    """Steps 1..n: every month from the start month to the end month, both included."""
    first = YearMonth(start.year, start.month)
    n = (end.year - start.year) * 12 + end.month - start.month + 1
    steps = []
    for i in range(max(n, 0)):
        ym = first.add_months(i)
        steps.append(Step(i + 1, ym, ym.add_months(1), step_len_in_years(ym), 1.0))
    return steps


def format_datetime(ym: YearMonth, minus_one_microsecond: bool) -> str:
    """moja::DateTime's stream format, "yyyy-mm-dd:hh:mm:ss.ffffff" (Howard Hinnant's date library)."""
    if not minus_one_microsecond:
        return f"{ym.year:04d}-{ym.month:02d}-01:00:00:00.000000"
    prev = ym.add_months(-1)
    return f"{prev.year:04d}-{prev.month:02d}-{days_in_month(prev.year, prev.month):02d}:23:59:59.999999"
