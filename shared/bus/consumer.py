"""A service's event consumer: idempotent inbox, ack after commit, retries, dead letters.

Each message is applied in one transaction that also records its event id in the inbox, so a
message delivered again (redelivery after a crash, a replay, a duplicate publish) finds its id and
has no second effect. The broker's ack is sent only after that commit. A handler that raises is
retried through the retry queues with growing delays, then moved to the dead-letter queue; a
message that cannot be parsed or validated goes there at once. Moving a message is itself a
confirmed publish followed by the ack, so a failure between the two duplicates, never loses.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from kombu import Consumer as KombuConsumer
from sqlalchemy import String, Table, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from shared import context, metrics
from shared.bus.broker import OutgoingMessage, Publisher, PublishError, connect
from shared.bus.outbox import Outbox
from shared.bus.tables import BusTables
from shared.bus.topology import Topology
from shared.clock import utcnow
from shared.db import Database, UTCDateTime
from shared.events import Envelope, EventValidationError, parse_envelope
from shared.periodic import Periodic
from shared.uow import UnitOfWork, unit_of_work

log = logging.getLogger(__name__)

Handler = Callable[[UnitOfWork, Envelope], None]
RETRIES_HEADER = "x-retries"


def _seconds_since(moment: str, now: datetime) -> float:
    """Seconds from an envelope's ``occurred_at`` (ISO 8601, validated by the catalog) to ``now``."""
    try:
        then = datetime.fromisoformat(moment)
    except ValueError:
        return 0.0
    return max(0.0, (now - (then if then.tzinfo else then.replace(tzinfo=UTC))).total_seconds())


class Consumer(Periodic):
    def __init__(
        self,
        service: str,
        db: Database,
        tables: BusTables,
        handlers: Mapping[str, Handler],
        topology: Topology,
        url: str,
        *,
        prefetch: int = 32,
        timeout: float = 5.0,
        division_table: Table | None = None,
    ):
        super().__init__(0.0, backoff=(0.5, 10.0))
        self.name = f"consumer-{service}"
        self.service = service
        self.db = db
        self.inbox = tables.inbox
        self.division_table = division_table
        self.outbox = Outbox(db, tables)
        self.handlers = dict(handlers)
        self.topology = topology
        self.url = url
        self.prefetch = prefetch
        self.timeout = timeout
        # Called with (envelope, outcome) once an event's transaction committed, before the ack.
        self.after_commit: list[Callable[[Envelope, str], None]] = []
        self.connected = threading.Event()
        # How long one wait for deliveries lasts, and so how soon a stop is noticed; the in-process
        # bus has no heartbeats to keep, so it may look often at no cost.
        self.poll_seconds = 0.1 if url.startswith("memory://") else 0.5
        self._publisher: Publisher | None = None
        self._pending: list = []
        unnested = select(
            func.unnest(bindparam("ids", type_=ARRAY(String))),
            func.unnest(bindparam("types", type_=ARRAY(String))),
            bindparam("at", type_=UTCDateTime()),
        )
        self._record = (
            pg_insert(self.inbox)
            .from_select(["event_id", "event_type", "processed_at"], unnested)
            .on_conflict_do_nothing(index_elements=["event_id"])
            .returning(self.inbox.c.event_id)
        )

    # -- applying events --------------------------------------------------------------------------
    def _new_ids(self, session, envelopes: list[Envelope]) -> set[str]:
        """Record the events in the inbox; return the ids not seen before.

        RETURNING, not rowcount: drivers disagree on rowcount for ON CONFLICT DO NOTHING. On
        PostgreSQL the burst goes as two arrays (``unnest``): one statement of fixed shape, instead
        of a multi-row VALUES that SQLAlchemy renders anew for every burst."""
        now = utcnow()
        first = {e.id: e.type for e in envelopes}  # a second copy within the burst is no new row
        if self.db.is_sqlite:
            rows = [{"event_id": i, "event_type": t, "processed_at": now} for i, t in first.items()]
            stmt = (
                sqlite_insert(self.inbox)
                .values(rows)
                .on_conflict_do_nothing(index_elements=["event_id"])
                .returning(self.inbox.c.event_id)
            )
            return set(session.execute(stmt).scalars())
        return set(
            session.execute(self._record, {"ids": list(first), "types": list(first.values()), "at": now}).scalars()
        )

    def parse(self, body: object) -> Envelope:
        envelope = parse_envelope(body)
        if envelope.type not in self.handlers:
            raise EventValidationError(envelope.type, f"{self.service} has no handler for this event")
        return envelope

    def apply_all(self, envelopes: list[Envelope]) -> list[str]:
        """Apply events in one transaction; return 'processed' or 'duplicate' for each.

        Raises (and commits nothing) if any handler fails. One transaction for a burst of messages
        spares a commit per message, which is most of a consumer's cost.
        """
        started = time.perf_counter()
        outcomes = []
        with unit_of_work(self.db, self.outbox, self.service, self.division_table) as uow:
            new = self._new_ids(uow.session, envelopes)
            for envelope in envelopes:
                if envelope.id not in new:
                    outcomes.append("duplicate")
                    continue
                new.discard(envelope.id)  # a second copy in the same burst is a duplicate too
                with context.bound(correlation_id=envelope.correlation_id, event_id=envelope.id, request_id=None):
                    self.handlers[envelope.type](uow, envelope)
                outcomes.append("processed")
        elapsed = (time.perf_counter() - started) / len(envelopes)
        committed = utcnow()
        for envelope, outcome in zip(envelopes, outcomes, strict=True):
            metrics.HANDLER_LATENCY.labels(self.service, envelope.type).observe(elapsed)
            if outcome == "processed":
                metrics.CONSUMER_LAG.labels(self.service).observe(_seconds_since(envelope.occurred_at, committed))
            with context.bound(correlation_id=envelope.correlation_id, event_id=envelope.id, request_id=None):
                for hook in self.after_commit:
                    hook(envelope, outcome)
                log.info("event %s", outcome, extra={"event_type": envelope.type})
        return outcomes

    def apply(self, body: object) -> str:
        """Apply one message body; return 'processed' or 'duplicate'. Raises if the handler fails."""
        return self.apply_all([self.parse(body)])[0]

    # -- deliveries --------------------------------------------------------------------------------
    def on_message(self, message) -> None:
        """kombu's callback: collect the delivery; ``flush`` applies what has arrived."""
        self._pending.append(message)

    def flush(self) -> None:
        messages, self._pending = self._pending, []
        parsed = []
        for message in messages:
            if (getattr(message, "delivery_info", None) or {}).get("redelivered"):
                metrics.REDELIVERIES.labels(self.service).inc()
            try:
                parsed.append((message, self.parse(json.loads(message.body))))
            except (EventValidationError, ValueError) as exc:
                event_type = message.properties.get("type") or "unknown"
                self._dead_letter(message, dict(message.headers or {}), event_type, f"invalid: {exc}")
                metrics.EVENTS_CONSUMED.labels(self.service, event_type, "invalid").inc()
        if len(parsed) > 1:
            try:
                outcomes = self.apply_all([envelope for _, envelope in parsed])
            except Exception:
                log.info("batch failed, applying its events one by one", exc_info=True)
            else:
                for (message, envelope), outcome in zip(parsed, outcomes, strict=True):
                    self._acked(message, envelope.type, outcome)
                return
        for message, envelope in parsed:
            try:
                outcome = self.apply_all([envelope])[0]
            except Exception as exc:
                log.warning("handler failed", exc_info=True, extra={"event_type": envelope.type})
                self._retry_or_dead_letter(message, dict(message.headers or {}), envelope.type, exc)
            else:
                self._acked(message, envelope.type, outcome)

    def _acked(self, message, event_type: str, outcome: str) -> None:
        message.ack()
        metrics.EVENTS_CONSUMED.labels(self.service, event_type, outcome).inc()

    def _retry_or_dead_letter(self, message, headers: dict, event_type: str, exc: Exception) -> None:
        retries = int(headers.get(RETRIES_HEADER, 0))
        if retries >= len(self.topology.retry_delays):
            self._dead_letter(message, headers, event_type, f"{type(exc).__name__}: {exc}")
            metrics.EVENTS_CONSUMED.labels(self.service, event_type, "dead_lettered").inc()
            return
        headers = {**headers, RETRIES_HEADER: retries + 1, "x-last-error": str(exc)[:500]}
        if self._publisher_is_memory():
            # The in-memory transport has no TTL: hold the copy in a timer instead of a retry queue.
            copy = self._copy(message, self.topology.queue_name(self.service), headers, event_type)
            threading.Timer(self.topology.retry_delays[retries], self._republish_later, args=(copy,)).start()
            message.ack()
        elif not self._move(message, self.topology.retry_queue_name(self.service, retries), headers, event_type):
            return
        metrics.EVENTS_CONSUMED.labels(self.service, event_type, "retried").inc()

    def _dead_letter(self, message, headers: dict, event_type: str, reason: str) -> None:
        headers = {
            **headers,
            "x-error": reason[:1000],
            "x-dead-lettered-at": utcnow().isoformat(),
            "x-service": self.service,
        }
        if not self._move(message, self.topology.dead_queue_name(self.service), headers, event_type):
            return
        metrics.DEAD_LETTERED.labels(self.service).inc()
        log.error("event dead-lettered", extra={"event_type": event_type, "reason": reason[:300]})

    @staticmethod
    def _copy(message, queue: str, headers: dict, event_type: str) -> OutgoingMessage:
        """A copy of ``message`` addressed to ``queue`` through the default exchange."""
        body = message.body.decode("utf-8") if isinstance(message.body, bytes) else message.body
        return OutgoingMessage(
            exchange="",
            routing_key=queue,
            body=body,
            message_id=message.properties.get("message_id") or "",
            event_type=event_type,
            headers=headers,
        )

    def _move(self, message, queue: str, headers: dict, event_type: str) -> bool:
        """Publish a copy to ``queue`` (confirmed), then ack the original."""
        try:
            self._get_publisher().publish([self._copy(message, queue, headers, event_type)])
        except PublishError:
            log.warning("cannot move message, leaving it to be redelivered", exc_info=True)
            message.requeue()
            return False
        message.ack()
        return True

    def _republish_later(self, copy: OutgoingMessage) -> None:
        try:
            self._get_publisher().publish([copy])
        except PublishError:
            log.exception("in-memory retry could not be re-queued")

    def _get_publisher(self) -> Publisher:
        if self._publisher is None:
            self._publisher = Publisher(self.url, self.topology, self.timeout)
        return self._publisher

    def _publisher_is_memory(self) -> bool:
        return self.url.startswith("memory://")

    def require_connected(self) -> None:
        if not self.connected.is_set():
            raise ConnectionError(f"{self.service} consumer is not connected to the broker")

    # -- the consuming loop (``Periodic``: a pass is one connection, until it fails or stops) ---------
    def tick(self) -> None:
        self._consume()

    def failed(self, exc: Exception, retry_in: float) -> None:
        """Any broker failure: reconnect after the back-off."""
        self.connected.clear()
        self._pending.clear()  # unacked deliveries return to the queue with the channel
        if self._publisher is not None:
            self._publisher.close()
        log.warning("consumer lost the broker, reconnecting", extra={"error": repr(exc), "retry_in": retry_in})

    def stop(self, timeout: float = 5.0) -> None:
        super().stop(timeout)
        if self._publisher is not None:
            self._publisher.close()

    def _consume(self) -> None:
        with connect(self.url, self.timeout) as conn:
            channel = conn.channel()
            self.topology.declare(channel, [self.service])
            consumer = KombuConsumer(
                channel,
                queues=[self.topology.queue(self.service)],
                on_message=self.on_message,
                accept=["json"],
                auto_declare=False,
            )
            consumer.qos(prefetch_count=self.prefetch)
            with consumer:
                self.connected.set()
                while not self.stopping.is_set():
                    try:
                        conn.drain_events(timeout=self.poll_seconds)
                    except TimeoutError:
                        conn.heartbeat_check()
                        continue
                    # Take whatever else the broker has already pushed (up to the prefetch), then
                    # apply the burst in one transaction.
                    while len(self._pending) < self.prefetch:
                        try:
                            # Not 0: kombu's virtual transports treat a zero timeout as "wait forever".
                            conn.drain_events(timeout=0.001)
                        except TimeoutError:
                            break
                    self.flush()
            self.connected.clear()
