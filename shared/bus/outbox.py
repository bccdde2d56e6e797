"""Transactional outbox and its relay.

``Outbox.add`` writes the event into the service's own database in the caller's transaction, so
the state change and the event commit or vanish together. The ``Relay`` publishes pending rows
with publisher confirms and marks them published. It wakes right after a commit that added
events (low latency) and also polls, so rows written by another process or while the broker was
down are picked up. On PostgreSQL rows are claimed with ``FOR UPDATE SKIP LOCKED``, so any number
of relays (gunicorn workers, replicas) share the work without publishing a row twice; a relay
that dies mid-batch releases its claim with its connection.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, timedelta

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from shared import metrics
from shared.bus.broker import OutgoingMessage, Publisher, PublishError
from shared.bus.tables import BusTables
from shared.clock import utcnow
from shared.db import Database, UTCDateTime
from shared.events import Envelope
from shared.periodic import Periodic
from shared.sql import built, locked

log = logging.getLogger(__name__)

COMMIT_MARK = "outbox"
# Seconds between two readings of the backlog gauges: a relay passes once per commit woken, and a
# reading each pass was a transaction of its own per request; Prometheus scrapes every 15 s.
GAUGE_SECONDS = 1.0


class Outbox:
    def __init__(self, db: Database, tables: BusTables):
        self.db = db
        self.table = tables.outbox

    def add(self, session: Session, envelope: Envelope) -> None:
        row = {
            "event_id": envelope.id,
            "event_type": envelope.type,
            "body": json.dumps(envelope.to_dict(), ensure_ascii=False),
            "created_at": utcnow(),
            "attempts": 0,
        }
        session.execute(insert(self.table), row)  # the parameters bound, no statement built per event
        Database.mark(session, COMMIT_MARK)

    def backlog(self) -> int:
        return pending_count(self.db, self.table)


def pending_count(db: Database, table) -> int:
    return pending(db, table)[0]


def pending(db: Database, table) -> tuple[int, float]:
    """How many rows wait to be published, and the age in seconds of the oldest (0 when none)."""
    with db.sessions() as session:
        count, oldest = session.execute(
            select(func.count(), func.min(table.c.created_at)).where(table.c.published_at.is_(None))
        ).one()
    if oldest is None:
        return int(count), 0.0
    oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)
    return int(count), max(0.0, (utcnow() - oldest).total_seconds())


class Relay(Periodic):
    def __init__(
        self,
        service: str,
        db: Database,
        tables: BusTables,
        publisher: Publisher,
        *,
        batch_size: int = 500,
        interval: float = 1.0,
        retention: timedelta = timedelta(days=1),
        inbox_retention: timedelta = timedelta(days=7),
    ):
        super().__init__(interval, backoff=(0.5, 10.0))
        self.name = f"relay-{service}"
        self.service = service
        self.db = db
        self.table = tables.outbox
        self.publisher = publisher
        self.batch_size = batch_size
        self.inbox = tables.inbox
        self.retention = retention
        self.inbox_retention = inbox_retention
        self._last_purge = self._last_gauge = 0.0
        db.on_commit(COMMIT_MARK, self.wake)

    # -- one pass -------------------------------------------------------------------------------
    def relay_once(self) -> int:
        """Publish one batch of pending events; return how many were published."""
        claimed: list[int] = []
        try:
            rows = self._publish_claimed(claimed)
        except PublishError as exc:
            self._record_failure(claimed, exc)
            raise
        now = utcnow()
        for row in rows:
            metrics.EVENTS_PUBLISHED.labels(self.service, row.event_type).inc()
            created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
            metrics.OUTBOX_LAG.labels(self.service).observe(max(0.0, (now - created).total_seconds()))
        return len(rows)

    def _publish_claimed(self, claimed: list[int]) -> list:
        t = self.table
        with self.db.transaction() as session:
            key = ("outbox claim", session.bind.dialect.name, id(t), self.batch_size)
            claimed_rows = session.execute(built(key, lambda: self._claim(session)), {"at": utcnow()}).all()
            rows = sorted(claimed_rows, key=lambda row: row.seq)  # RETURNING has no order
            if not rows:
                return []
            claimed.extend(row.seq for row in rows)
            exchange = self.publisher.topology.exchange.name
            messages = [
                OutgoingMessage(
                    exchange=exchange,
                    routing_key=row.event_type,
                    body=row.body,
                    message_id=row.event_id,
                    event_type=row.event_type,
                )
                for row in rows
            ]
            self.publisher.publish(messages)
        return rows

    def _claim(self, session: Session):
        """One statement claims and marks a batch (the queue's UPDATE … WHERE seq IN (SELECT … FOR
        UPDATE SKIP LOCKED) RETURNING): the mark stays invisible, and the rows locked, until the
        broker has confirmed them and the transaction commits; a failed publish rolls it back."""
        t = self.table
        pending = select(t.c.seq).where(t.c.published_at.is_(None)).order_by(t.c.seq).limit(self.batch_size)
        return (
            update(t)
            .where(t.c.seq.in_(locked(session, pending, skip_locked=True)))
            .values(published_at=bindparam("at", type_=UTCDateTime()))
            .returning(t.c.seq, t.c.event_id, t.c.event_type, t.c.body, t.c.created_at)
        )

    def drain(self) -> int:
        """Publish until nothing is pending (or the broker fails); return how many."""
        total = 0
        while True:
            published = self.relay_once()
            total += published
            if published < self.batch_size:
                return total

    def _record_failure(self, seqs: list[int], exc: Exception) -> None:
        try:
            with self.db.transaction() as session:
                session.execute(
                    update(self.table)
                    .where(self.table.c.seq.in_(seqs))
                    .values(attempts=self.table.c.attempts + 1, last_error=str(exc)[:1000])
                )
        except Exception:
            log.warning("could not record outbox failure", exc_info=True)

    def purge(self, now=None) -> tuple[int, int]:
        """Retention, hourly: published outbox rows older than ``retention`` and inbox rows older
        than ``inbox_retention`` leave (the service's relay does it for its consumer too: every
        target that has a database has a relay). An inbox row only has to outlive the redeliveries of
        its event, which come within minutes. Returns (outbox rows, inbox rows) deleted."""
        now = now or utcnow()
        o, i = self.table.c, self.inbox.c
        with self.db.transaction() as session:
            published = session.execute(
                delete(self.table).where(o.published_at.is_not(None), o.published_at < now - self.retention)
            )
            consumed = session.execute(delete(self.inbox).where(i.processed_at < now - self.inbox_retention))
        return published.rowcount or 0, consumed.rowcount or 0

    # -- the background loop (``Periodic``) ----------------------------------------------------------
    def tick(self) -> None:
        try:
            self.drain()
        finally:  # the backlog is worth watching most while the broker refuses (the pass fails)
            self._housekeeping()

    def failed(self, exc: Exception, retry_in: float) -> None:
        if isinstance(exc, PublishError):
            log.warning("outbox relay cannot publish, retrying", extra={"error": str(exc), "retry_in": retry_in})
        else:
            log.exception("outbox relay failed", extra={"retry_in": retry_in})

    def stop(self, timeout: float = 5.0) -> None:
        super().stop(timeout)
        self.publisher.close()

    def finish(self) -> None:
        """The last pass of a stopping process: publish what its requests and consumers committed
        (the broker's timeout bounds it; what it cannot publish waits for the next relay)."""
        try:
            published = self.drain()
        except Exception as exc:  # noqa: BLE001 - a broker down at exit: the rows wait, nothing is lost
            log.warning("outbox relay could not publish before stopping", extra={"error": str(exc)})
        else:
            if published:
                log.info("outbox relay published before stopping", extra={"published": published})
        finally:
            self.publisher.close()

    def _housekeeping(self) -> None:
        if time.monotonic() - self._last_gauge >= GAUGE_SECONDS:
            self._last_gauge = time.monotonic()
            count, oldest_age = pending(self.db, self.table)
            metrics.OUTBOX_BACKLOG.labels(self.service).set(count)
            metrics.OUTBOX_OLDEST_AGE.labels(self.service).set(oldest_age)
        if time.monotonic() - self._last_purge > 3600:
            self._last_purge = time.monotonic()
            self.purge()
