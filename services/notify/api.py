"""Notify's HTTP routes: the caller's in-app inbox, and its live stream (server-sent events)."""

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime

from flask import Response
from flask_smorest import Blueprint
from sqlalchemy import func, select, update

from services.notify.models import notifications
from services.notify.schemas import InboxOut, NotificationOut, StreamHeaders, StreamQuery
from shared.db import Database
from shared.http import current_principal
from shared.pagination import Keyset
from shared.problems import BadRequest, NotFound
from shared.service import current_runtime

blp = Blueprint("inbox", __name__, url_prefix="/api/v1/notify/inbox", description="应用内消息")


@blp.get("")
@blp.response(200, InboxOut)
def list_inbox():
    """The caller's newest app notifications and how many are unread."""
    me = current_principal().subject
    n = notifications.c
    with current_runtime().db.sessions() as session:
        items = (
            session.execute(
                select(notifications)
                .where(n.recipient_id == me, n.channel == "app")
                .order_by(n.created_at.desc())
                .limit(50)
            )
            .mappings()
            .all()
        )
        unread = session.scalar(
            select(func.count())
            .select_from(notifications)
            .where(n.recipient_id == me, n.channel == "app", n.read_at.is_(None))
        )
    return {"unread": unread, "items": [dict(i) for i in items]}


@blp.post("/<notification_id>/read")
@blp.response(200, NotificationOut)
def mark_read(notification_id: str):
    """Mark one of the caller's notifications read."""
    me = current_principal().subject
    n = notifications.c
    with current_runtime().db.transaction() as session:
        session.execute(
            update(notifications)
            .where(n.id == notification_id, n.recipient_id == me, n.read_at.is_(None))
            .values(read_at=datetime.now(UTC))
        )
        row = (
            session.execute(select(notifications).where(n.id == notification_id, n.recipient_id == me))
            .mappings()
            .first()
        )
    if row is None:
        raise NotFound("消息不存在")
    return dict(row)


# -- the live stream -------------------------------------------------------------------------------
#
# An EventSource in the app opens the stream and gets the unread count, then every new app
# notification as it is written. Each notification's ``id:`` is its keyset cursor (created_at, id;
# rows written in bulk share created_at), so a browser reconnecting sends it back as Last-Event-ID
# and gets exactly what it missed. New rows are found by polling the indexed (recipient_id,
# created_at) query with a session per poll: no connection is held while the stream waits. The
# stream ends itself after XIESHANG_STREAM_MAX_SECONDS, so no worker thread is held forever.

EVENT_STREAM = "text/event-stream"
KEEPALIVE_SECONDS = 15.0  # a comment at least this often: the gateway reads upstreams with a 30 s timeout
RECONNECT_MS = 2000
BATCH = 100  # rows per poll; a longer backlog is sent in several polls without waiting in between
STREAM_ORDER = Keyset(notifications.c.created_at, notifications.c.id, descending=False)
NEWEST_FIRST = Keyset(notifications.c.created_at, notifications.c.id, descending=True)


@blp.get("/stream")
@blp.arguments(StreamQuery, location="query", as_kwargs=True)
@blp.arguments(StreamHeaders, location="headers", as_kwargs=True)
@blp.response(
    200,
    {"type": "string"},
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
def stream_inbox(after: str | None, last_event_id: str | None):
    """The caller's new app notifications as they arrive (server-sent events)."""
    me = current_principal().subject
    runtime = current_runtime()
    cursor = last_event_id or after
    if cursor:
        _position(cursor)  # a bad cursor is refused here, before the stream starts
    settings = runtime.settings
    events = _events(runtime.db, me, cursor, settings.stream_poll_seconds, settings.stream_max_seconds)
    response = Response(events, mimetype=EVENT_STREAM)
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"  # nginx in front: pass each event on at once
    return response


def _position(cursor: str):
    """The condition "after ``cursor``" on the notification table, or a 400."""
    try:
        return STREAM_ORDER.after(cursor)
    except BadRequest:
        raise BadRequest("消息位置无效:Last-Event-ID 或 after 须为消息流给出的 id", field="Last-Event-ID") from None


def _events(db: Database, me: str, cursor: str | None, poll: float, max_seconds: float) -> Iterator[bytes]:
    """The stream's body. Runs outside the request context (the response is written after the view
    returns): it gets everything it needs as arguments."""
    n = notifications.c
    mine = (n.recipient_id == me) & (n.channel == "app")
    deadline = time.monotonic() + max_seconds
    with db.sessions() as session:
        unread = session.scalar(select(func.count()).select_from(notifications).where(mine, n.read_at.is_(None)))
        if cursor is None:  # no resume point: start after the caller's newest notification, if any
            newest = session.execute(
                select(n.created_at, n.id).where(mine).order_by(*NEWEST_FIRST.order).limit(1)
            ).mappings().first()  # fmt: skip
            if newest is not None:
                cursor = STREAM_ORDER.cursor_of(newest)
    yield _event("unread", json.dumps({"unread": unread}))
    schema = NotificationOut()
    quiet_since = time.monotonic()
    while True:
        query = select(notifications).where(mine).order_by(*STREAM_ORDER.order).limit(BATCH)
        if cursor is not None:
            query = query.where(_position(cursor))
        with db.sessions() as session:
            rows = session.execute(query).mappings().all()
        for row in rows:
            cursor = STREAM_ORDER.cursor_of(row)
            yield _event("notification", json.dumps(schema.dump(dict(row)), ensure_ascii=False), cursor)
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


def blueprints():
    from services.notify.contacts_api import blp as contacts
    from services.notify.sms_api import blp as sms

    return [blp, contacts, sms]
