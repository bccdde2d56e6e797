"""Tracking's domain gauges for Prometheus, by district and by city (never per community or
person: bounded cardinality at national scale). Read at scrape time from the running coverage
aggregates (a few rows per area), not recomputed from consultations, and rendered straight to
text (``shared.metrics.gauge_text``): some 3,000 districts make tens of thousands of samples.

- ``xieshang_coverage_communities{level,area}``: active communities in the registry
- ``xieshang_coverage_covered_communities{level,area}``: those with a consultation in the window
- ``xieshang_coverage_ratio{level,area}``, ``xieshang_coverage_regularity_ratio{level,area}``,
  ``xieshang_coverage_bottom_up_ratio{level,area}``
- ``xieshang_coverage_newly_covered_communities{level,area}``: first covered in the pace period
- ``xieshang_coverage_silent_communities{level,area}``: none for ``XIESHANG_SILENT_MONTHS``
- ``xieshang_coverage_under_45_ratio``, ``xieshang_coverage_not_retired_ratio``,
  ``xieshang_coverage_social_organisation_ratio`` ``{level,area}``: the participation mix
- ``xieshang_coverage_target_ratio``, ``xieshang_coverage_target_deadline_timestamp_seconds``
- ``xieshang_tasks_open{level,area}``, ``xieshang_tasks_overdue{level,area}``
- the 三率 over the last ``RATES_DAYS`` days: ``xieshang_tasks_assigned{level,area}`` and
  ``xieshang_tasks_ratings{level,area}`` (the denominators), ``xieshang_tasks_response_ratio``
  (响应率), ``xieshang_tasks_resolution_ratio`` (解决率), ``xieshang_tasks_satisfaction_ratio``
  (满意率) ``{level,area}``
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time, timedelta

from sqlalchemy.exc import SQLAlchemyError

from services.tracking import domain, services
from shared.metrics import gauge_text, labels_text

LEVELS = {"city": 4, "district": 6}
log = logging.getLogger(__name__)

# name: (help, the figure of an area's CoverageFigures and silent count; None: no sample)
COVERAGE = {
    "coverage_communities": ("Active communities in the division registry", lambda f, silent: f.communities),
    "coverage_covered_communities": (
        "Communities with a consultation held in the coverage window",
        lambda f, silent: f.covered,
    ),
    "coverage_ratio": ("Share of communities with a consultation held in the coverage window", lambda f, s: f.ratio),
    "coverage_regularity_ratio": (
        "Months with a consultation out of the window's, over communities",
        lambda f, silent: f.regularity,
    ),
    "coverage_bottom_up_ratio": (
        "Share of consultation topics raised by residents, in the window",
        lambda f, silent: f.bottom_up_ratio,
    ),
    "coverage_newly_covered_communities": (
        "Communities first covered in the last three months",
        lambda f, silent: f.newly_covered_recently,
    ),
    "coverage_silent_communities": ("Communities without a consultation for the silent months", lambda f, s: s),
    "coverage_under_45_ratio": (
        "Attendees under 45 among those who declared an age band, in the window",
        lambda f, s: f.mix.share_under_45,
    ),
    "coverage_not_retired_ratio": (
        "Attendees not retired among those who declared an occupation",
        lambda f, s: f.mix.share_not_retired,
    ),
    "coverage_social_organisation_ratio": (
        "Consultations of the window a social organisation attended",
        lambda f, s: f.mix.social_organisation_share,
    ),
}
TASKS = {
    "tasks_open": ("Tasks not yet completed (assigned, accepted, in progress, reopened)", 0),
    "tasks_overdue": ("Open tasks past their deadline", 1),
}


RATES_DAYS = 30  # the 三率 gauges count the tasks assigned and ratings given in the last 30 days
RATES = {
    "tasks_assigned": (f"Tasks assigned in the last {RATES_DAYS} days", lambda r: r.assigned),
    "tasks_response_ratio": (
        f"响应率: tasks of the last {RATES_DAYS} days accepted within 24 h of assignment",
        lambda r: r.response_rate,
    ),
    "tasks_resolution_ratio": (
        f"解决率: tasks of the last {RATES_DAYS} days evaluated or closed (not sent back)",
        lambda r: r.resolution_rate,
    ),
    "tasks_ratings": (f"Ratings given in the last {RATES_DAYS} days", lambda r: r.ratings),
    "tasks_satisfaction_ratio": (
        f"满意率: ratings of the last {RATES_DAYS} days 满意 or 基本满意",
        lambda r: r.satisfaction_rate,
    ),
}


class CoverageCollector:
    """Called at each scrape (``shared.metrics.add_live_collector``): the gauges' text."""

    def __init__(self, runtime):
        self.runtime = runtime

    def __call__(self) -> str:
        try:
            return self.text()
        except SQLAlchemyError:
            # The database is away: the scrape still answers with every other metric, and the
            # gauges' absence is what alert rules see (absent()), with the cause in the log.
            log.warning("coverage gauges not read: database error", exc_info=True)
            return ""

    def text(self) -> str:
        settings = self.runtime.settings
        now = self.runtime.now()
        today = domain.beijing_date(now)
        coverage, tasks, rates = {}, {}, {}
        with self.runtime.unit_of_work(read_only=True) as uow:  # a scrape holds no writer up
            for level, digits in LEVELS.items():
                coverage[level] = services.coverage_by_area(
                    uow, digits=digits, today=today, window=settings.coverage_window_months,
                    silent_months=settings.silent_months,
                )  # fmt: skip
                tasks[level] = services.open_tasks_by_area(uow, digits, today)
                rates[level] = services.rates_by_area(uow, digits, now - timedelta(days=RATES_DAYS), now)
        series = {
            (level, area): labels_text({"level": level, "area": area})
            for level, areas in (*coverage.items(), *tasks.items(), *rates.items())
            for area in areas
        }
        parts = []
        for name, (help_text, figure) in COVERAGE.items():
            samples = (
                (series[level, area], value)
                for level, areas in coverage.items()
                for area, (figures, silent) in areas.items()
                if (value := figure(figures, silent)) is not None
            )
            parts.append(gauge_text(f"xieshang_{name}", help_text, samples))
        for name, (help_text, index) in TASKS.items():
            samples = (
                (series[level, area], counts[index]) for level, areas in tasks.items() for area, counts in areas.items()
            )
            parts.append(gauge_text(f"xieshang_{name}", help_text, samples))
        for name, (help_text, figure) in RATES.items():
            samples = (
                (series[level, area], value)
                for level, areas in rates.items()
                for area, counts in areas.items()
                if (value := figure(counts)) is not None
            )
            parts.append(gauge_text(f"xieshang_{name}", help_text, samples))
        deadline = datetime.combine(settings.coverage_deadline, time(0), domain.BEIJING).astimezone(UTC)
        parts.append(
            gauge_text("xieshang_coverage_target_ratio", "The coverage target", [("", settings.coverage_target)])
        )
        parts.append(
            gauge_text(
                "xieshang_coverage_target_deadline_timestamp_seconds",
                "When the coverage target is to be reached (Unix time, the deadline day's start in Beijing)",
                [("", deadline.timestamp())],
            )
        )
        return "".join(parts)
