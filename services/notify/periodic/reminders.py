"""Reminders before a consultation: its invitees hear of it again ``XIESHANG_REMINDER_HOURS`` ahead.

Every ``XIESHANG_NOTIFY_CLOCK_SECONDS`` a pass looks for consultations (``consultation_audience``,
kept from meetings' announced/postponed/cancelled events) that are not cancelled, start within the
lead time and have not been reminded for their current start (``reminded_for``; a postponement
makes a new reminder due). Each is reminded in its own unit of work (``services.remind``): the row
is claimed (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two workers never both remind), the
``routing.REMINDER`` route is delivered to everyone invited, and ``reminded_for`` is set, all in
one transaction.

The messages are written under an id derived from the consultation and its start time
(``domain.reminder_id``, not a random one), so a reminder delivered again adds nothing: messages
are written once per (event id, recipient, channel). A crash between delivering and marking rolls
both back; two workers on SQLite, which has no row locks to skip, may both deliver, and the
second's rows are ignored as duplicates.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta

from services.notify import services
from shared.clock import Clock
from shared.periodic import Periodic
from shared.uow import UnitOfWork

log = logging.getLogger(__name__)


class Reminders(Periodic):
    name = "notify-reminders"

    def __init__(self, unit_of_work: Callable[[], AbstractContextManager[UnitOfWork]], settings, clock: Clock):
        super().__init__(settings.notify_clock_seconds)
        self.unit_of_work = unit_of_work
        self.clock = clock
        self.lead = timedelta(hours=settings.reminder_hours)

    # -- one pass -----------------------------------------------------------------------------------

    def remind_due(self, now: datetime | None = None) -> int:
        """Remind every consultation due at ``now`` (the clock's time unless given); return how many
        were reminded."""
        now = now or self.clock.now()
        with self.unit_of_work() as uow:
            due = services.reminders_due(uow, lead=self.lead, now=now)
        reminded = 0
        for consultation_id in due:
            if self.stopping.is_set():
                break
            try:
                with self.unit_of_work() as uow:
                    reminded += services.remind(uow, consultation_id, lead=self.lead, now=now)
            except Exception:  # one consultation's failure must not hold back the others
                log.exception("consultation reminder failed", extra={"consultation_id": consultation_id})
        return reminded

    def tick(self) -> None:
        self.remind_due()
