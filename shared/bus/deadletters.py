"""Inspect and replay a service's dead-letter queue (``xieshang events dead-letters|replay``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from shared.bus.broker import OutgoingMessage, Publisher, connect
from shared.bus.consumer import RETRIES_HEADER
from shared.bus.topology import Topology


@dataclass(frozen=True)
class DeadLetter:
    service: str
    event_id: str
    event_type: str
    error: str
    dead_lettered_at: str
    retries: int
    body: dict[str, Any] | str

    def summary(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "error": self.error,
            "dead_lettered_at": self.dead_lettered_at,
            "retries": self.retries,
        }


def _to_dead_letter(service: str, message) -> DeadLetter:
    headers = dict(message.headers or {})
    raw = message.body.decode("utf-8") if isinstance(message.body, bytes) else message.body
    try:
        body: dict[str, Any] | str = json.loads(raw)
    except ValueError:
        body = raw
    return DeadLetter(
        service=service,
        event_id=message.properties.get("message_id") or "",
        event_type=message.properties.get("type") or "",
        error=str(headers.get("x-error", "")),
        dead_lettered_at=str(headers.get("x-dead-lettered-at", "")),
        retries=int(headers.get(RETRIES_HEADER, 0)),
        body=body,
    )


def list_dead_letters(url: str, topology: Topology, service: str, limit: int = 100) -> list[DeadLetter]:
    """Read up to ``limit`` dead letters without removing them (they are returned to the queue)."""
    out = []
    with connect(url) as conn:
        channel = conn.channel()
        topology.declare(channel, [service])
        queue = topology.dead_queue(service)(channel)
        held = []
        while len(out) < limit:
            message = queue.get(no_ack=False)
            if message is None:
                break
            held.append(message)
            out.append(_to_dead_letter(service, message))
        for message in held:
            message.requeue()
    return out


def replay_dead_letters(
    url: str, topology: Topology, service: str, event_ids: set[str] | None = None, limit: int = 10_000
) -> list[str]:
    """Move dead letters back to the service queue with a fresh retry budget; return their ids.

    Each message is republished with a confirm before it is acked, so a crash mid-replay leaves it
    in one queue or both (the inbox makes the second copy harmless), never in neither.
    """
    replayed, skipped = [], []
    publisher = Publisher(url, topology)
    try:
        with connect(url) as conn:
            channel = conn.channel()
            topology.declare(channel, [service])
            queue = topology.dead_queue(service)(channel)
            for _ in range(limit):
                message = queue.get(no_ack=False)
                if message is None:
                    break
                letter = _to_dead_letter(service, message)
                if event_ids is not None and letter.event_id not in event_ids:
                    skipped.append(message)
                    continue
                headers = {k: v for k, v in (message.headers or {}).items() if not k.startswith("x-")}
                headers["x-replayed-from"] = topology.dead_queue_name(service)
                body = message.body.decode("utf-8") if isinstance(message.body, bytes) else message.body
                publisher.publish(
                    [
                        OutgoingMessage(
                            exchange="",
                            routing_key=topology.queue_name(service),
                            body=body,
                            message_id=letter.event_id,
                            event_type=letter.event_type,
                            headers={**headers, RETRIES_HEADER: 0},
                        )
                    ]
                )
                message.ack()
                replayed.append(letter.event_id)
            for message in skipped:
                message.requeue()
    finally:
        publisher.close()
    return replayed
