"""Tracking's domain gauges for Prometheus, by district and by city (never per community or
person: bounded cardinality at national scale). Read at scrape time from the running coverage
aggregates (a few rows per area), not recomputed from consultations.

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
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time

from prometheus_client.core import GaugeMetricFamily
from sqlalchemy.exc import SQLAlchemyError

from services.tracking import domain, services

LEVELS = {"city": 4, "district": 6}
log = logging.getLogger(__name__)


class CoverageCollector:
    def __init__(self, runtime):
        self.runtime = runtime

    def describe(self):
        return []  # read only at scrape time: nothing to describe up front

    def collect(self):
        try:
            families = self._families()
        except SQLAlchemyError:
            # The database is away: the scrape still answers with every other metric, and the
            # gauges' absence is what alert rules see (absent()), with the cause in the log.
            log.warning("coverage gauges not read: database error", exc_info=True)
            return
        yield from families

    def _families(self) -> list:
        settings = self.runtime.settings
        today = domain.beijing_date(self.runtime.now())
        families = {
            name: GaugeMetricFamily(f"xieshang_{name}", text, labels=["level", "area"])
            for name, text in (
                ("coverage_communities", "Active communities in the division registry"),
                ("coverage_covered_communities", "Communities with a consultation held in the coverage window"),
                ("coverage_ratio", "Share of communities with a consultation held in the coverage window"),
                ("coverage_regularity_ratio", "Months with a consultation out of the window's, over communities"),
                ("coverage_bottom_up_ratio", "Share of consultation topics raised by residents, in the window"),
                ("coverage_newly_covered_communities", "Communities first covered in the last three months"),
                ("coverage_silent_communities", "Communities without a consultation for the silent months"),
                ("coverage_under_45_ratio", "Attendees under 45 among those who declared an age band, in the window"),
                ("coverage_not_retired_ratio", "Attendees not retired among those who declared an occupation"),
                ("coverage_social_organisation_ratio", "Consultations of the window a social organisation attended"),
                ("tasks_open", "Tasks not yet completed (assigned, accepted, in progress, reopened)"),
                ("tasks_overdue", "Open tasks past their deadline"),
            )
        }
        with self.runtime.unit_of_work() as uow:
            for level, digits in LEVELS.items():
                by_area = services.coverage_by_area(uow, digits=digits, today=today,
                                                    window=settings.coverage_window_months,
                                                    silent_months=settings.silent_months)  # fmt: skip
                for area, (f, silent) in by_area.items():
                    labels = [level, area]
                    families["coverage_communities"].add_metric(labels, f.communities)
                    families["coverage_covered_communities"].add_metric(labels, f.covered)
                    families["coverage_ratio"].add_metric(labels, float(f.ratio or 0))
                    families["coverage_regularity_ratio"].add_metric(labels, float(f.regularity or 0))
                    if f.bottom_up_ratio is not None:
                        families["coverage_bottom_up_ratio"].add_metric(labels, float(f.bottom_up_ratio))
                    families["coverage_newly_covered_communities"].add_metric(labels, f.newly_covered_recently)
                    families["coverage_silent_communities"].add_metric(labels, silent)
                    for name, share in (
                        ("coverage_under_45_ratio", f.mix.share_under_45),
                        ("coverage_not_retired_ratio", f.mix.share_not_retired),
                        ("coverage_social_organisation_ratio", f.mix.social_organisation_share),
                    ):
                        if share is not None:
                            families[name].add_metric(labels, float(share))
                for area, (open_, overdue) in services.open_tasks_by_area(uow, digits, today).items():
                    families["tasks_open"].add_metric([level, area], open_)
                    families["tasks_overdue"].add_metric([level, area], overdue)
        deadline = datetime.combine(settings.coverage_deadline, time(0), domain.BEIJING).astimezone(UTC)
        return [
            *families.values(),
            GaugeMetricFamily("xieshang_coverage_target_ratio", "The coverage target", value=settings.coverage_target),
            GaugeMetricFamily(
                "xieshang_coverage_target_deadline_timestamp_seconds",
                "When the coverage target is to be reached (Unix time, the deadline day's start in Beijing)",
                value=deadline.timestamp(),
            ),
        ]
