"""China's working-day calendar (statutory holidays and the adjusted working days, 调休) from the
maintained ``chinesecalendar`` package, for tracking's reminders and escalation.

The package knows the years the State Council has published; for a later year (published each
November for the next) it has no data until updated. Such days fall back to Monday-Friday and the
fallback is logged once per year, so operators upgrade the package rather than lose escalation.
"""

from __future__ import annotations

import logging
from datetime import date
from functools import lru_cache

import chinese_calendar

log = logging.getLogger(__name__)
_warned: set[int] = set()


@lru_cache(maxsize=4096)
def is_workday(day: date) -> bool:
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        if day.year not in _warned:
            _warned.add(day.year)
            log.warning("no holiday calendar for this year: counting Monday to Friday", extra={"year": day.year})
        return day.weekday() < 5
