"""Reminders before a consultation: its invitees hear of it again ``XIESHANG_REMINDER_HOURS`` ahead.

Every ``XIESHANG_NOTIFY_CLOCK_SECONDS`` a pass looks for consultations (``consultation_audience``,
kept from meetings' announced/postponed/cancelled events) that are not cancelled, start within the
lead time and have not been reminded for their current start (``reminded_for``; a postponement
makes a new reminder due). Each is reminded in its own unit of work: the row is claimed (``FOR
UPDATE SKIP LOCKED`` on PostgreSQL, so two workers never both remind), the ``routing.REMINDER``
route is delivered to everyone invited, and ``reminded_for`` is set, all in one transaction.

The messages are written under an id derived from the consultation and its start time (not a
random one), so a reminder delivered again adds nothing: messages are written once per (event id,
recipient, channel). A crash between delivering and marking rolls both back; two workers on SQLite,
which has no row locks to skip, may both deliver, and the second's rows are ignored as duplicates.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from services.notify import domain, events, routing
from services.notify.delivery import deliver
from services.notify.models import consultation_audience
from shared.db import Database
from shared.periodic import Periodic
from shared.uow import UnitOfWork

log = logging.getLogger(__name__)
c = consultation_audience.c

# Namespace of the reminders' message ids (uuid5 of the consultation and its start time).
REMINDER_IDS = uuid.uuid5(uuid.NAMESPACE_URL, "urn:xieshang:notify:consultation_reminder")
UNANNOUNCED_PLACE = "另行通知"


def reminder_id(consultation_id: str, starts_at: datetime) -> str:
    """The reminder's message id: the same for the same consultation and start, new after a postponement."""
    return str(uuid.uuid5(REMINDER_IDS, f"{consultation_id}/{starts_at.astimezone(UTC).isoformat()}"))


def _due(now: datetime, lead: timedelta):
    return (
        c.cancelled.is_(False),
        c.starts_at > now,
        c.starts_at <= now + lead,
        c.reminded_for.is_distinct_from(c.starts_at),
    )


class Reminders(Periodic):
    name = "notify-reminders"

    def __init__(self, db: Database, settings, unit_of_work: Callable[[], AbstractContextManager[UnitOfWork]]):
        super().__init__(settings.notify_clock_seconds)
        self.db = db
        self.unit_of_work = unit_of_work
        self.lead = timedelta(hours=settings.reminder_hours)

    # -- one pass -----------------------------------------------------------------------------------

    def remind_due(self, now: datetime | None = None) -> int:
        """Remind every consultation now due; return how many were reminded."""
        now = now or datetime.now(UTC)
        with self.db.sessions() as session:
            due = session.scalars(select(c.consultation_id).where(*_due(now, self.lead)).order_by(c.starts_at)).all()
        reminded = 0
        for consultation_id in due:
            if self.stopping.is_set():
                break
            try:
                reminded += self._remind(consultation_id, now)
            except Exception:  # one consultation's failure must not hold back the others
                log.exception("consultation reminder failed", extra={"consultation_id": consultation_id})
        return reminded

    def _remind(self, consultation_id: str, now: datetime) -> bool:
        with self.unit_of_work() as uow:
            query = select(c.starts_at, c.place, c.community_code).where(
                c.consultation_id == consultation_id, *_due(now, self.lead)
            )
            if not self.db.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            row = uow.session.execute(query).first()
            if row is None:  # another worker holds or has sent it, or it changed since the look
                return False
            deliver(
                uow,
                route=routing.REMINDER,
                recipients=events.invited(uow, consultation_id),
                facts={"starts_at": domain.local_time(row.starts_at), "place": row.place or UNANNOUNCED_PLACE},
                event_id=reminder_id(consultation_id, row.starts_at),
                division_code=row.community_code,
                now=now,
            )
            uow.session.execute(
                update(consultation_audience)
                .where(c.consultation_id == consultation_id)
                .values(reminded_for=row.starts_at)
            )
        return True

    def tick(self) -> None:
        self.remind_due()
