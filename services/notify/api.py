"""Notify's inbox adapter (HTTP, thin: parse, one use case of ``services.py``, serialise): the
caller's in-app inbox, and its live stream (server-sent events)."""

import json
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

from flask import Response

from services.notify import services
from services.notify.schemas import InboxOut, NotificationOut, StreamHeaders, StreamQuery
from shared.http import Blueprint, current_principal
from shared.principal import Principal
from shared.service import current_runtime
from shared.uow import UnitOfWork

blp = Blueprint("inbox", __name__, url_prefix="/api/v1/notify/inbox", description="应用内消息")


@blp.get("")
@blp.response(200, InboxOut)
def list_inbox():
    """The caller's newest app notifications and how many are unread."""
    with current_runtime().unit_of_work() as uow:
        return services.inbox(uow, current_principal())


@blp.post("/<notification_id>/read")
@blp.response(200, NotificationOut)
def mark_read(notification_id: str):
    """Mark one of the caller's notifications read."""
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        return services.mark_read(uow, current_principal(), notification_id, now=runtime.now())


# -- the live stream -------------------------------------------------------------------------------
#
# An EventSource in the app opens the stream and gets the unread count, then every new app
# notification as it is written. Each notification's ``id:`` is its keyset cursor (created_at, id;
# rows written in bulk share created_at), so a browser reconnecting sends it back as Last-Event-ID
# and gets exactly what it missed. New rows are found by polling the indexed (recipient_id,
# created_at) query with a session per poll: no connection is held while the stream waits. The
# stream ends itself after XIESHANG_STREAM_MAX_SECONDS, so no worker thread is held forever, and a
# process serves only so many at once (XIESHANG_STREAM_MAX_PER_ACCOUNT, XIESHANG_STREAM_MAX_OPEN),
# so ordinary requests always find a thread.

EVENT_STREAM = "text/event-stream"
KEEPALIVE_SECONDS = 15.0  # a comment at least this often: the gateway reads upstreams with a 30 s timeout
RECONNECT_MS = 2000
BATCH = 100  # rows per poll; a longer backlog is sent in several polls without waiting in between
# Before OpenAPI 3.2 (``itemSchema``) the schema of an event stream describes each of its events.
STREAM_EVENT = {
    "type": "object",
    "properties": {
        "event": {"type": "string", "enum": ["unread", "notification"]},
        "data": {"type": "string", "description": "JSON"},
        "id": {"type": "string"},
        "retry": {"type": "integer"},
    },
}


@blp.get("/stream")
@blp.arguments(StreamQuery, location="query", as_kwargs=True)
@blp.arguments(StreamHeaders, location="headers", as_kwargs=True)
@blp.response(
    200,
    STREAM_EVENT,
    content_type=EVENT_STREAM,
    description=(
        'Server-sent events. First `event: unread` (`data: {"unread": n}`), then one `event: notification` '
        "per new app notification, oldest first, with `id:` its cursor and `data:` the notification as in the "
        "inbox. `: keep-alive` comments at least every 15 s. After XIESHANG_STREAM_MAX_SECONDS the stream "
        "sends `retry: 2000` and ends; EventSource reconnects with Last-Event-ID and misses nothing."
    ),
    example=(
        'event: unread\ndata: {"unread": 2}\n\n'
        "id: WyIyMDI2LTExLTI2IDE0OjAwOjAwKzAwOjAwIiwgIjEyMyJd\nevent: notification\n"
        'data: {"id": "123", "channel": "app", "template": "proposal_received", "body": "…", '
        '"created_at": "2026-11-26T14:00:00+00:00", "read_at": null}\n\n'
    ),
)
@blp.alt_response(400, description="Last-Event-ID or after is not a cursor of this stream")
@blp.alt_response(
    429,
    description=(
        "The caller already holds XIESHANG_STREAM_MAX_PER_ACCOUNT open streams, or the server as many as it "
        "serves at once (XIESHANG_STREAM_MAX_OPEN); try again after Retry-After. EventSource does not retry "
        "a refused stream by itself."
    ),
)
def stream_inbox(after: str | None, last_event_id: str | None):
    """The caller's new app notifications as they arrive (server-sent events)."""
    principal = current_principal()
    runtime = current_runtime()
    # Each open stream holds a worker thread: a slot is taken before anything else, held by the body
    # and given back when the stream ends, fails or the client leaves (shared.streams).
    with runtime.streams.admit(principal.subject) as slot:
        with runtime.unit_of_work() as uow:  # a bad cursor is refused here, before the stream starts
            unread, cursor = services.open_stream(uow, principal, last_event_id or after)
        settings = runtime.settings
        events = _events(runtime.unit_of_work, principal, unread, cursor, settings.stream_poll_seconds,
                         settings.stream_max_seconds)  # fmt: skip
        response = Response(slot.hold(events), mimetype=EVENT_STREAM)
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"  # nginx in front: pass each event on at once
    return response


def _events(
    unit_of_work: Callable[[], AbstractContextManager[UnitOfWork]],
    principal: Principal,
    unread: int,
    cursor: str | None,
    poll: float,
    max_seconds: float,
) -> Iterator[bytes]:
    """The stream's body. Runs outside the request context (the response is written after the view
    returns): it gets everything it needs as arguments."""
    deadline = time.monotonic() + max_seconds
    yield _event("unread", json.dumps({"unread": unread}))
    schema = NotificationOut()
    quiet_since = time.monotonic()
    while True:
        with unit_of_work() as uow:
            rows = services.stream_after(uow, principal, cursor, BATCH)
        for cursor, row in rows:  # the last row's position is where the next poll starts
            yield _event("notification", json.dumps(schema.dump(row), ensure_ascii=False), cursor)
        if rows:
            quiet_since = time.monotonic()
            if len(rows) == BATCH:
                continue
        now = time.monotonic()
        if now >= deadline:
            yield f"retry: {RECONNECT_MS}\n\n".encode()
            return
        if now - quiet_since >= KEEPALIVE_SECONDS:
            yield b": keep-alive\n\n"
            quiet_since = now
        time.sleep(max(0.0, min(poll, deadline - now, quiet_since + KEEPALIVE_SECONDS - now)))


def _event(name: str, data: str, event_id: str | None = None) -> bytes:
    lines = [f"id: {event_id}"] if event_id else []
    lines.append(f"event: {name}")
    lines += [f"data: {line}" for line in data.splitlines() or [""]]
    return ("\n".join(lines) + "\n\n").encode("utf-8")
