"""Notify's live inbox stream (server-sent events): ``GET /api/v1/notify/inbox/stream``.

The stream is read as it is written, event by event, through the gateway of the whole platform in one
process (``all``: routed to notify's app in-process) and once over real HTTP (``HttpUpstream`` in
front of a served notify API). Intervals are set small here, never waited out in full. Each stream
holds a thread, so a process serves at most 2 per account and half its threads in all (here 8 threads:
4 streams); the same limits against the real gunicorn server are in ``test_served_streams.py``.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, update
from werkzeug.serving import make_server
from werkzeug.test import Client

from gateway.app import create_gateway
from gateway.proxy import HttpUpstream
from services.notify import api
from services.notify.models import notifications
from shared.pagination import encode_cursor
from shared.problems import PROBLEM_JSON
from shared.streams import OpenStreams
from tests.conftest import YANLIUYUAN
from tests.support import free_port, wait_until

STREAM = "/api/v1/notify/inbox/stream"
ME, SOMEONE_ELSE = "resident-stream-me", "resident-stream-other"


@pytest.fixture
def env(env):
    # A long maximum by default (tests that need the end set their own); quick polls; the default
    # limits, spelled out: 2 streams per account, half of 8 threads (4 streams) in all.
    return {
        **env,
        "XIESHANG_STREAM_POLL_SECONDS": "0.02",
        "XIESHANG_STREAM_MAX_SECONDS": "30",
        "XIESHANG_WEB_THREADS": "8",
        "XIESHANG_STREAM_MAX_PER_ACCOUNT": "2",
    }


@pytest.fixture
def notify(platform_all):
    return platform_all.platform.runtime("notify")


@pytest.fixture
def max_seconds(notify, monkeypatch):
    """Set how long streams opened from now on stay open."""

    def set_max(seconds: float) -> None:
        monkeypatch.setattr(notify, "settings", notify.settings.replace(stream_max_seconds=seconds))

    return set_max


def seed(notify, recipient: str, *bodies: str, read: bool = False) -> list[str]:
    """App notifications for ``recipient`` written in one statement, sharing one created_at (as the
    consumer's bulk writes do); their ids in stream order."""
    now = datetime.now(UTC)
    rows = [
        {
            "id": str(uuid.uuid4()),
            "recipient_id": recipient,
            "channel": "app",
            "template": "proposal_received",
            "body": body,
            "division_code": YANLIUYUAN,
            "event_id": str(uuid.uuid4()),
            "created_at": now,
            "read_at": now if read else None,
        }
        for body in bodies
    ]
    with notify.db.transaction() as session:
        session.execute(insert(notifications), rows)
    return sorted(row["id"] for row in rows)


class Events:
    """A server-sent events reader over the chunks of a response body, one block at a time."""

    def __init__(self, chunks):
        self.chunks = iter(chunks)
        self.buffer = b""
        self.ended = False

    def next_block(self) -> dict | None:
        """The next block as {field: value} (a comment as {"comment": text}); None at the end."""
        while b"\n\n" not in self.buffer:
            chunk = next(self.chunks, None)
            if chunk is None:
                self.ended = True
                assert not self.buffer.strip(), f"the stream ended inside a block: {self.buffer!r}"
                return None
            self.buffer += chunk
        block, self.buffer = self.buffer.split(b"\n\n", 1)
        fields: dict[str, str] = {}
        for line in block.decode("utf-8").split("\n"):
            if line.startswith(":"):
                fields["comment"] = line[1:].strip()
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            fields[name] = f"{fields[name]}\n{value}" if name == "data" and name in fields else value
        return fields

    def next_event(self) -> dict | None:
        """The next event with data (keep-alive comments and retry fields skipped)."""
        while (block := self.next_block()) is not None:
            if "data" in block:
                return block
        return None

    def rest(self) -> list[dict]:
        """Every block up to the stream's own end."""
        blocks = []
        while (block := self.next_block()) is not None:
            blocks.append(block)
        return blocks


@contextlib.contextmanager
def stream(client, headers: dict, query: str = "", last_event_id: str | None = None) -> Iterator[Events]:
    if last_event_id is not None:
        headers = {**headers, "Last-Event-ID": last_event_id}
    response = client.get(STREAM + query, headers=headers, buffered=False)
    try:
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.mimetype == "text/event-stream"
        assert response.headers["Cache-Control"] == "no-cache"
        assert response.headers["X-Accel-Buffering"] == "no"
        assert "Content-Length" not in response.headers
        yield Events(response.response)
    finally:
        response.close()


def notification(block: dict) -> dict:
    assert block["event"] == "notification", block
    assert block["id"], "every notification carries its cursor"
    return json.loads(block["data"])


def unread(block: dict) -> int:
    assert block["event"] == "unread", block
    return json.loads(block["data"])["unread"]


def test_the_unread_count_comes_first_then_what_is_new(gateway, auth, notify):
    seed(notify, ME, "旧消息一", "旧消息二")
    seed(notify, ME, "已读的旧消息", read=True)
    seed(notify, SOMEONE_ELSE, "他人的未读消息")
    with stream(gateway, auth("resident", YANLIUYUAN, subject=ME)) as events:
        assert unread(events.next_block()) == 2  # the caller's own unread messages only
        [new_id] = seed(notify, ME, "您提交的建议已受理。")
        item = notification(events.next_event())
    # Only what was written after connecting, in the inbox's shape.
    assert item["id"] == new_id
    assert item["body"] == "您提交的建议已受理。"
    assert set(item) == {"id", "channel", "template", "body", "created_at", "read_at"}
    assert item["channel"] == "app" and item["read_at"] is None
    datetime.fromisoformat(item["created_at"])


def test_a_proposal_submitted_while_the_stream_is_open_arrives(gateway, auth):
    submitter = auth("resident", YANLIUYUAN, subject=f"resident-{uuid.uuid4().hex[:6]}")
    with stream(gateway, submitter) as events:
        assert unread(events.next_block()) == 0
        created = gateway.post(
            "/api/v1/intake/proposals",
            json={
                "community_code": YANLIUYUAN,
                "title": "绣春巷路灯不亮",
                "description": "晚上很黑",
                "category": "management",
            },
            headers=submitter,
        )
        assert created.status_code == 201, created.json
        # The event goes intake's outbox -> the bus -> notify's consumer -> the table -> the stream.
        item = notification(events.next_event())
    assert "绣春巷路灯不亮" in item["body"]
    inbox = gateway.get("/api/v1/notify/inbox", headers=submitter).json
    assert [i["id"] for i in inbox["items"]] == [item["id"]]


def test_resuming_with_last_event_id_replays_exactly_what_was_missed(gateway, auth, notify, max_seconds):
    me = auth("resident", YANLIUYUAN, subject=ME)
    with stream(gateway, me) as events:
        assert unread(events.next_block()) == 0
        first = seed(notify, ME, "一", "二", "三")  # one bulk write: one created_at for all three
        received = [events.next_event(), events.next_event()]
    # The connection dropped after two of the three; two more arrive while the client is away.
    assert [notification(b)["id"] for b in received] == first[:2]
    later = seed(notify, ME, "四", "五")
    seed(notify, SOMEONE_ELSE, "他人的消息")

    max_seconds(0.3)
    expected = [first[2], *later]
    for resume in ({"last_event_id": received[1]["id"]}, {"query": f"?after={received[1]['id']}"}):
        with stream(gateway, me, **resume) as events:
            assert unread(events.next_block()) == 5
            blocks = events.rest()
        replayed = [b for b in blocks if b.get("event") == "notification"]
        assert [notification(b)["id"] for b in replayed] == expected  # each once, in order
        # Resuming from the last of them brings nothing again.
        with stream(gateway, me, last_event_id=replayed[-1]["id"]) as events:
            events.next_block()
            assert not [b for b in events.rest() if b.get("event") == "notification"]


def test_the_header_wins_over_the_query_parameter(gateway, auth, notify, max_seconds):
    me = auth("resident", YANLIUYUAN, subject=ME)
    ids = [seed(notify, ME, body)[0] for body in ("一", "二", "三")]
    max_seconds(0.2)
    first = encode_cursor(["2000-01-01 00:00:00+00:00", ""])  # before anything
    with stream(gateway, me, query=f"?after={first}", last_event_id=_cursor_of(gateway, me, first, ids[1])) as events:
        events.next_block()
        assert [notification(b)["id"] for b in events.rest() if "data" in b] == ids[2:]


def _cursor_of(gateway, headers, start: str, notification_id: str) -> str:
    """The event id the stream gives ``notification_id`` (replayed from ``start``)."""
    with stream(gateway, headers, query=f"?after={start}") as events:
        while (block := events.next_event()) is not None:
            if block.get("event") == "notification" and notification(block)["id"] == notification_id:
                return block["id"]
    raise AssertionError(f"{notification_id} was not in the stream")


def test_another_users_notifications_never_appear(gateway, auth, notify, max_seconds):
    seed(notify, SOMEONE_ELSE, "他人的旧消息")
    max_seconds(0.5)
    everything = encode_cursor(["2000-01-01 00:00:00+00:00", ""])
    with stream(gateway, auth("resident", YANLIUYUAN, subject=ME), query=f"?after={everything}") as events:
        assert unread(events.next_block()) == 0
        seed(notify, SOMEONE_ELSE, "他人的新消息")
        mine = seed(notify, ME, "您的消息")
        seed(notify, SOMEONE_ELSE, "他人的又一条消息")
        blocks = events.rest()
    assert [notification(b)["id"] for b in blocks if b.get("event") == "notification"] == mine
    # Nor another channel's copy of the caller's own messages.
    with notify.db.transaction() as session:
        session.execute(update(notifications).where(notifications.c.id == mine[0]).values(channel="sms"))
    with stream(gateway, auth("resident", YANLIUYUAN, subject=ME), query=f"?after={everything}") as events:
        assert unread(events.next_block()) == 0
        assert not [b for b in events.rest() if b.get("event") == "notification"]


def test_a_malformed_cursor_is_a_400_problem(gateway, auth):
    headers = auth("resident", YANLIUYUAN, subject=ME)
    for where, cursor in [
        ("header", "not-a-cursor"),
        ("query", "bm9wZQ"),  # base64 of "nope"
        ("query", encode_cursor(["yesterday", "x"])),
        ("header", encode_cursor([1, 2, 3])),
    ]:
        if where == "header":
            response = gateway.get(STREAM, headers={**headers, "Last-Event-ID": cursor})
        else:
            response = gateway.get(f"{STREAM}?after={cursor}", headers=headers)
        assert response.status_code == 400, (where, cursor)
        assert response.mimetype == PROBLEM_JSON
        assert response.json["status"] == 400
        assert "消息位置无效" in response.json["detail"]
    # None of the refused streams kept its slot: the account still opens its two.
    with stream(gateway, headers), stream(gateway, headers):
        pass


def test_without_a_token_the_stream_is_refused(gateway):
    response = gateway.get(STREAM)
    assert response.status_code == 401
    assert response.mimetype == PROBLEM_JSON


def test_the_stream_ends_by_itself_with_a_retry_after_the_maximum(gateway, auth, notify, max_seconds):
    max_seconds(0.3)
    started = time.monotonic()
    with stream(gateway, auth("resident", YANLIUYUAN, subject=ME)) as events:
        unread(events.next_block())
        blocks = events.rest()
        assert events.ended
        assert notify.streams.count(ME) == 0  # its end gave its slot back, before any close
    assert time.monotonic() - started >= 0.3
    assert blocks[-1] == {"retry": "2000"}  # EventSource waits 2 s, then reconnects with Last-Event-ID


def test_keep_alive_comments_while_nothing_happens(gateway, auth, max_seconds, monkeypatch):
    monkeypatch.setattr(api, "KEEPALIVE_SECONDS", 0.1)
    max_seconds(1.0)
    with stream(gateway, auth("resident", YANLIUYUAN, subject=ME)) as events:
        unread(events.next_block())
        blocks = events.rest()
    comments = [b for b in blocks if "comment" in b]
    assert len(comments) >= 2
    assert all(b == {"comment": "keep-alive"} for b in comments)
    assert blocks[-1] == {"retry": "2000"}


def refused(response, detail: str) -> None:
    assert response.status_code == 429, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM_JSON
    assert response.json["status"] == 429
    assert detail in response.json["detail"]
    assert int(response.headers["Retry-After"]) > 0


def test_an_account_holds_at_most_two_streams(gateway, auth, notify):
    me = auth("resident", YANLIUYUAN, subject=ME)
    with stream(gateway, me) as phone, stream(gateway, me) as computer:
        assert unread(phone.next_block()) == unread(computer.next_block()) == 0
        refused(gateway.get(STREAM, headers=me), "每个账号最多2个")
        # Someone else still gets theirs, and the account's other requests are served as ever.
        with stream(gateway, auth("resident", YANLIUYUAN, subject=SOMEONE_ELSE)) as events:
            assert unread(events.next_block()) == 0
        assert gateway.get("/api/v1/notify/inbox", headers=me).status_code == 200
    # Closed streams give their slots back.
    assert notify.streams.count() == 0
    with stream(gateway, me) as events, stream(gateway, me):
        assert unread(events.next_block()) == 0


def test_the_process_serves_at_most_half_its_threads_as_streams(gateway, auth, notify):
    residents = [auth("resident", YANLIUYUAN, subject=f"resident-stream-{n}") for n in range(4)]
    with contextlib.ExitStack() as open_streams:
        for headers in (residents[0], residents[0], residents[1], residents[2]):  # 4: half of 8 threads
            open_streams.enter_context(stream(gateway, headers))
        refused(gateway.get(STREAM, headers=residents[3]), "实时消息连接已满")
        # The threads left serve everything else.
        assert gateway.get("/healthz").status_code == 200
        assert gateway.get("/open311/v2/services.json").status_code == 200
        assert gateway.get("/api/v1/notify/inbox", headers=residents[3]).status_code == 200
    with stream(gateway, residents[3]) as events:  # the slots came back with the streams' close
        assert unread(events.next_block()) == 0


@pytest.fixture
def notify_server(notify):
    """notify's API served over HTTP on a free port, as the notify-api target would."""
    server = make_server("127.0.0.1", free_port(), notify.create_api(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_the_gateway_passes_events_on_over_http_as_they_come(notify_server, notify, auth, monkeypatch):
    monkeypatch.setattr(api, "KEEPALIVE_SECONDS", 1.0)  # the served stream notices our leaving within 1 s
    upstream = HttpUpstream("notify", notify_server)
    client = Client(upstream)
    me = auth("resident", YANLIUYUAN, subject=ME)
    with stream(client, me) as events:
        assert unread(events.next_block()) == 0
        [first] = seed(notify, ME, "第一条")
        assert notification(events.next_event())["id"] == first
        # Received while the stream is still open: a buffering proxy would hold the event until
        # the end (30 s away), and the second one, written only now, would never come.
        [second] = seed(notify, ME, "第二条")
        assert notification(events.next_event())["id"] == second
        assert not events.ended
    # Leaving early closes the connection to notify (the rest of the stream is never read as the
    # answer to the next request on it): the next request through the gateway gets its own answer.
    inbox = client.get("/api/v1/notify/inbox", headers=me)
    assert inbox.status_code == 200
    assert [item["id"] for item in inbox.json["items"]] == [second, first]
    # notify's stream ended when it next wrote to the closed connection, and gave its slot back.
    wait_until(lambda: notify.streams.count(ME) == 0, what="notify's stream to end after the client left")


def test_the_gateway_counts_the_streams_it_proxies(notify_server, platform_all, notify, auth, monkeypatch):
    """A gateway in its own process holds a thread per stream it passes on: it refuses streams beyond
    its own limits (here 1 per client, 2 in all) with a 429, whatever notify behind it would allow."""
    monkeypatch.setattr(api, "KEEPALIVE_SECONDS", 1.0)
    upstream = HttpUpstream("notify", notify_server, streams=OpenStreams(per_subject=1, total=2))
    gateway = Client(create_gateway(platform_all.platform.gateway(), {"notify": upstream}, {}, {}))
    me, other = (auth("resident", YANLIUYUAN, subject=subject) for subject in (ME, SOMEONE_ELSE))
    with stream(gateway, me) as events:
        assert unread(events.next_block()) == 0
        refused(gateway.get(STREAM, headers=me), "每个账号最多1个")
        with stream(gateway, other):
            refused(gateway.get(STREAM, headers=auth("resident", YANLIUYUAN)), "实时消息连接已满")
        [new] = seed(notify, ME, "仍然送达")
        assert notification(events.next_event())["id"] == new  # the admitted stream goes on as before
    assert upstream.streams.count() == 0  # the gateway's slots came back as its clients left
    # notify's streams behind them, the refused ones too, end when they next write to the closed connection.
    wait_until(lambda: notify.streams.count() == 0, what="notify's streams to end")
    with stream(gateway, me) as events:
        assert unread(events.next_block()) == 1


def test_the_gateway_passes_on_a_body_without_length_or_chunks_as_it_comes():
    """An upstream that answers without Content-Length or chunked encoding (the body ends when the
    connection closes): what it has sent reaches the client before the end, not 64 KB at a time."""
    go_on, finished = threading.Event(), threading.Event()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def serve():
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)  # the request
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
            conn.sendall(b"data: one\n\n")
            go_on.wait(10)  # a buffering gateway would make the test wait this out, then fail
            conn.sendall(b"data: two\n\n")
            finished.set()

    threading.Thread(target=serve, daemon=True).start()
    try:
        client = Client(HttpUpstream("notify", f"http://127.0.0.1:{listener.getsockname()[1]}"))
        response = client.get(STREAM, buffered=False)
        events = Events(response.response)
        assert events.next_block() == {"data": "one"}
        assert not finished.is_set(), "the first event came only with the rest"
        go_on.set()
        assert events.next_block() == {"data": "two"}
        assert events.next_block() is None
        response.close()
    finally:
        go_on.set()
        listener.close()
