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
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from shared import context, metrics
from shared.bus.broker import OutgoingMessage, Publisher, PublishError, connect
from shared.bus.outbox import Outbox
from shared.bus.tables import BusTables
from shared.bus.topology import Topology
from shared.db import Database
from shared.events import Envelope, EventValidationError, parse_envelope
from shared.uow import UnitOfWork, unit_of_work

log = logging.getLogger(__name__)

Handler = Callable[[UnitOfWork, Envelope], None]
RETRIES_HEADER = "x-retries"


class Consumer:
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
    ):
        self.service = service
        self.db = db
        self.inbox = tables.inbox
        self.outbox = Outbox(db, tables)
        self.handlers = dict(handlers)
        self.topology = topology
        self.url = url
        self.prefetch = prefetch
        self.timeout = timeout
        # Called with (envelope, outcome) once an event's transaction committed, before the ack.
        self.after_commit: list[Callable[[Envelope, str], None]] = []
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._publisher: Publisher | None = None

    # -- applying one event ---------------------------------------------------------------------
    def _insert_inbox(self, session, envelope: Envelope) -> bool:
        insert = sqlite_insert if self.db.is_sqlite else pg_insert
        stmt = (
            insert(self.inbox)
            .values(event_id=envelope.id, event_type=envelope.type, processed_at=datetime.now(UTC))
            .on_conflict_do_nothing(index_elements=["event_id"])
            .returning(self.inbox.c.event_id)
        )
        # RETURNING, not rowcount: drivers disagree on rowcount for ON CONFLICT DO NOTHING.
        return session.execute(stmt).first() is not None

    def apply(self, body: object) -> str:
        """Apply one message body; return 'processed' or 'duplicate'. Raises if the handler fails."""
        envelope = parse_envelope(body)
        handler = self.handlers.get(envelope.type)
        if handler is None:
            raise EventValidationError(envelope.type, f"{self.service} has no handler for this event")
        with context.bound(correlation_id=envelope.correlation_id, event_id=envelope.id, request_id=None):
            started = time.perf_counter()
            with unit_of_work(self.db, self.outbox, self.service) as uow:
                if not self._insert_inbox(uow.session, envelope):
                    outcome = "duplicate"
                else:
                    handler(uow, envelope)
                    outcome = "processed"
            metrics.HANDLER_LATENCY.labels(self.service, envelope.type).observe(time.perf_counter() - started)
            for hook in self.after_commit:
                hook(envelope, outcome)
            log.info("event %s", outcome, extra={"event_type": envelope.type})
        return outcome

    # -- one delivery ----------------------------------------------------------------------------
    def on_message(self, message) -> None:
        headers = dict(message.headers or {})
        event_type = message.properties.get("type") or "unknown"
        try:
            body = json.loads(message.body)
            outcome = self.apply(body)
        except (EventValidationError, ValueError) as exc:
            self._dead_letter(message, headers, event_type, f"invalid: {exc}")
            metrics.EVENTS_CONSUMED.labels(self.service, event_type, "invalid").inc()
        except Exception as exc:
            log.warning("handler failed", exc_info=True, extra={"event_type": event_type})
            self._retry_or_dead_letter(message, headers, event_type, exc)
        else:
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
            "x-dead-lettered-at": datetime.now(UTC).isoformat(),
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

    # -- the consuming loop ----------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self.run, name=f"consumer-{self.service}", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._publisher is not None:
            self._publisher.close()

    def run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                self._consume()
                backoff = 0.5
            except Exception as exc:  # noqa: BLE001 - any broker failure: reconnect with back-off
                self.connected.clear()
                if self._publisher is not None:
                    self._publisher.close()
                log.warning("consumer lost the broker, reconnecting", extra={"error": repr(exc), "retry_in": backoff})
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)

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
                while not self._stop.is_set():
                    try:
                        conn.drain_events(timeout=0.5)
                    except TimeoutError:
                        conn.heartbeat_check()
            self.connected.clear()
