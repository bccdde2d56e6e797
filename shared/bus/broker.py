"""Broker connections and publishing with publisher confirms.

``Publisher.publish`` returns only when the broker has confirmed every message of the batch (on
RabbitMQ: a confirm window, not one round trip per message), and raises if any was refused or the
connection failed, so callers mark work done only after the broker has taken responsibility.
On the in-memory transport a publish is complete when it returns.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import amqp
from kombu import Connection

from shared.bus.topology import Topology

log = logging.getLogger(__name__)


class PublishError(RuntimeError):
    pass


@dataclass(frozen=True)
class OutgoingMessage:
    exchange: str
    routing_key: str
    body: str
    message_id: str
    event_type: str
    headers: dict[str, Any] = field(default_factory=dict)


def connect(url: str, timeout: float = 5.0) -> Connection:
    memory = url.startswith("memory://")
    conn = Connection(
        url,
        connect_timeout=timeout,
        heartbeat=0 if memory else 30,
        # The in-memory transport polls its queues; poll often so the embedded mode feels instant.
        transport_options={"polling_interval": 0.02} if memory else {},
    )
    conn.ensure_connection(max_retries=1, timeout=timeout)
    return conn


def is_amqp(conn: Connection) -> bool:
    return conn.transport.driver_type == "amqp"


class Publisher:
    """Publishes batches of messages on one channel, waiting for the broker's confirms."""

    def __init__(self, url: str, topology: Topology, timeout: float = 5.0):
        self.url = url
        self.topology = topology
        self.timeout = timeout
        self._conn: Connection | None = None
        self._channel = None
        self._unconfirmed: set[int] = set()  # delivery tags of the current window not yet confirmed
        self._refused: set[int] = set()
        self._next_tag = 1

    # -- connection -------------------------------------------------------------------------
    def _ensure(self):
        if self._channel is not None:
            return self._channel
        conn = connect(self.url, self.timeout)
        channel = conn.channel()
        self.topology.declare(channel)
        if is_amqp(conn):
            channel.confirm_select()
            channel.events["basic_ack"].add(self._on_ack)
            channel.events["basic_nack"].add(self._on_nack)
        self._conn, self._channel, self._next_tag = conn, channel, 1
        self._unconfirmed.clear()
        self._refused.clear()
        return channel

    def close(self) -> None:
        conn, self._conn, self._channel = self._conn, None, None
        if conn is not None:
            try:
                conn.release()
            except Exception:
                log.debug("error closing publisher connection", exc_info=True)

    def _on_ack(self, delivery_tag: int, multiple: bool) -> None:
        self._confirm(delivery_tag, multiple)

    def _on_nack(self, delivery_tag: int, multiple: bool) -> None:
        self._refused.update(self._confirm(delivery_tag, multiple))

    def _confirm(self, tag: int, multiple: bool) -> set[int]:
        """Remove the confirmed tags (``multiple``: all up to ``tag``) from the window; return them."""
        done = {t for t in self._unconfirmed if t <= tag} if multiple else {tag} & self._unconfirmed
        self._unconfirmed -= done
        return done

    # -- publishing -------------------------------------------------------------------------
    def publish(self, messages: list[OutgoingMessage]) -> None:
        if not messages:
            return
        try:
            channel = self._ensure()
            if is_amqp(self._conn):
                self._publish_confirmed(channel, messages)
            else:
                self._publish_memory(channel, messages)
        except PublishError:
            self.close()
            raise
        except Exception as exc:
            self.close()
            raise PublishError(f"publish failed: {exc!r}") from exc

    def _publish_confirmed(self, channel, messages: list[OutgoingMessage]) -> None:
        for message in messages:
            channel.basic_publish(
                amqp.Message(
                    message.body,
                    content_type="application/json",
                    content_encoding="utf-8",
                    delivery_mode=2,
                    message_id=message.message_id,
                    type=message.event_type,
                    application_headers=message.headers,
                ),
                exchange=message.exchange,
                routing_key=message.routing_key,
            )
            self._unconfirmed.add(self._next_tag)
            self._next_tag += 1
        deadline = time.monotonic() + self.timeout
        while self._unconfirmed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PublishError(f"broker did not confirm {len(self._unconfirmed)} messages in time")
            self._conn.drain_events(timeout=remaining)
        refused, self._refused = self._refused, set()
        if refused:
            raise PublishError(f"broker refused {len(refused)} messages")

    def _publish_memory(self, channel, messages: list[OutgoingMessage]) -> None:
        from kombu import Producer

        producer = Producer(channel)
        for message in messages:
            producer.publish(
                json.loads(message.body),
                exchange=message.exchange,
                routing_key=message.routing_key,
                headers=message.headers,
                message_id=message.message_id,
                type=message.event_type,
                serializer="json",
                delivery_mode=2,
            )
