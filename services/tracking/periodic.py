"""Tracking's clock (a ``Periodic`` part of its worker): every pass reminds (催办), escalates
(督办, 通报) and evaluates the tasks that are due, through the use cases. Rows are claimed with
SKIP LOCKED, so several worker replicas share the work and each step happens once."""

from __future__ import annotations

from fractions import Fraction

from services.tracking import domain, services
from services.tracking.workdays import is_workday
from shared.clock import Clock
from shared.periodic import Periodic


class TaskClock(Periodic):
    name = "tracking-clock"

    def __init__(self, unit_of_work, clock: Clock, settings):
        super().__init__(settings.tracking_clock_seconds)
        self.unit_of_work = unit_of_work
        self.clock = clock
        self.schedule = domain.Schedule(settings.remind_before_workdays, settings.notice_after_workdays)
        self.reopen_share = Fraction(settings.reopen_share).limit_denominator(1000)

    def tick(self) -> None:
        self.run_once()

    def run_once(self) -> tuple[int, int]:
        """One pass: (steps of escalation taken, tasks evaluated). Each batch is one transaction."""
        chased = evaluated = 0
        while not self.stopping.is_set():
            with self.unit_of_work() as uow:
                step = services.escalate_due(uow, self.clock.now(), self.schedule, is_workday)
            chased += step
            if step == 0:
                break
        while not self.stopping.is_set():
            with self.unit_of_work() as uow:
                step = services.evaluate_due(uow, self.clock.now(), self.reopen_share)
            evaluated += step
            if step == 0:
                break
        return chased, evaluated
