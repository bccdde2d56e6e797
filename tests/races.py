"""Races: one state change asked N times at once, against a real threaded HTTP server of the whole
platform (the gateway routing to every service in one process, relays, consumers and background
parts running), on SQLite (tests/unit/test_races.py) and on PostgreSQL and RabbitMQ
(tests/integration/test_races.py).

The rule every row of ``MOVES`` pins: of N identical requests fired together behind a barrier,
exactly one changes the state and the others are refused (409, or 404 or 422 where the domain says
so) with a problem+json, or, for a move that is idempotent, all are answered alike; either way the
change happens once: one history line, each event once, each person told once.

A row names a factory that brings fresh resources into the state before the move (ordinary
requests, one after the other, ``World.settle`` letting every event reach its consumers) and the
request to race; ``check`` fires it N times at once, lets the platform settle and compares what
was added to every database with what the row says. Underneath, ``bumped_at_once`` and
``read_while_a_writer_holds`` pin the mechanism: one writer at a time, readers never held up.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import requests
from sqlalchemy import func, insert, select, update

from gateway.models import metadata as gateway_tables
from shared.clock import BEIJING, FixedClock
from shared.sql import locked
from tests.conftest import YANLIUYUAN
from tests.support import probe_effects, wait_until

N = 6  # identical requests at once
# The gateway's rate limit counts a whole test as one client; N failed logins lock an account.
ENV = {"XIESHANG_RATE_LIMIT": "100000", "XIESHANG_RELAY_INTERVAL": "0.05", "XIESHANG_LOGIN_MAX_FAILURES": str(N)}

P = "/api/v1/intake/proposals"
C = "/api/v1/meetings/consultations"
T = "/api/v1/tracking/tasks"
ORGANISATION = "gc-housing"  # 贵池区住建局, registered in tracking, replicated to intake and meetings
CLERK = "housing-clerk"  # its member (role department)
RESIDENTS = ("resident-1", "resident-2", "resident-3")  # in 烟柳园, each a contact in notify's directory
REPRESENTATIVES = ("rep-1", "rep-2", "rep-3")  # invited to consultations, contacts too
HISTORY = ("proposal_history", "consultation_transition", "task_history")


# -- the platform under test ----------------------------------------------------------------------------


@contextlib.contextmanager
def serving(settings) -> Iterator[tuple[str, object]]:
    """The whole platform (``--target all``) behind werkzeug's threaded server on a free port:
    (its base URL, the assembly's platform). Everything is stopped afterwards."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    from xieshang.server import build, shutdown

    class Quiet(WSGIRequestHandler):
        def log_request(self, *args, **kwargs) -> None:
            pass

    assembly = build(settings, "all")
    server = make_server("127.0.0.1", 0, assembly.http_entry, threaded=True, request_handler=Quiet)
    thread = threading.Thread(target=server.serve_forever, name="race-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", assembly.platform
    finally:
        server.shutdown()
        thread.join(10)
        shutdown(assembly)


@dataclass(frozen=True)
class Effects:
    """What the databases hold, counted: what a move added is ``after.since(before)``."""

    rows: Counter  # table name → rows, every database's tables
    events: Counter  # event type → events written, every service's outbox
    notices: Counter  # (template, recipient, channel) → messages notify wrote

    def since(self, before: Effects) -> Effects:
        return Effects(self.rows - before.rows, self.events - before.events, self.notices - before.notices)


class World:
    """The platform as a client sees it (``call``), its clock (one ``FixedClock`` for every
    service), and what its databases hold (``settle``, ``effects``)."""

    def __init__(self, url: str, platform, token: Callable[..., str]):
        self.url = url
        self.platform = platform
        self._token = token
        self.t0 = datetime.now(UTC).replace(microsecond=0)
        self.clock = FixedClock(self.t0)
        for name in platform.specs:
            platform.runtime(name).clock = self.clock
        self._done: dict[str, object] = {}

    def who(self, subject: str, role: str = "resident", scope: str = YANLIUYUAN) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token(role, scope, subject=subject)}"}

    @property
    def worker(self) -> dict[str, str]:
        return self.who("worker-1", "community_worker")

    @property
    def operator(self) -> dict[str, str]:
        return self.who("operator-1", "city_operator", "3417")

    @property
    def clerk(self) -> dict[str, str]:
        return self.who(CLERK, "department", "341702")

    @property
    def street(self) -> dict[str, str]:
        return self.who("street-1", "street_admin", "341702001")

    def request(self, method: str, path: str, headers: dict, body: dict | None = None) -> requests.Response:
        return requests.request(method, self.url + path, json=body, headers=headers, timeout=60)

    def call(self, method: str, path: str, headers: dict, body: dict | None = None, status: int = 200) -> dict:
        response = self.request(method, path, headers, body)
        assert response.status_code == status, (method, path, response.status_code, response.text)
        return response.json() if response.content else {}

    def once(self, name: str, make: Callable[[], object]) -> object:
        """Set-up shared by the factories of one world, done the first time one needs it."""
        if name not in self._done:
            self._done[name] = make()
        return self._done[name]

    # -- what the databases hold ------------------------------------------------------------------------

    def _databases(self):
        """(database, its tables) of every service and of the gateway."""
        for name, spec in self.platform.specs.items():
            yield self.platform.runtime(name).db, spec.metadata
        yield self.platform.gateway().db, gateway_tables

    def _read(self, service: str, query) -> list:
        with self.platform.runtime(service).db.transaction(read_only=True) as session:
            return session.execute(query).all()

    def settle(self) -> None:
        """Wait until every event written is published and consumed by every service subscribed to
        it (whose handlers may write more: the inboxes are read before the outboxes)."""
        specs = self.platform.specs

        def settled() -> bool:
            consumed = {
                name: {event_id for (event_id,) in self._read(name, select(spec.tables.inbox.c.event_id))}
                for name, spec in specs.items()
                if spec.handlers
            }
            for name, spec in specs.items():
                outbox = spec.tables.outbox
                for event_id, event_type, published_at in self._read(
                    name, select(outbox.c.event_id, outbox.c.event_type, outbox.c.published_at)
                ):
                    if published_at is None or any(
                        event_type in specs[consumer].handlers and event_id not in ids
                        for consumer, ids in consumed.items()
                    ):
                        return False
            return True

        wait_until(settled, timeout=60, interval=0.05, what="every event published and consumed")

    def effects(self) -> Effects:
        rows, events, notices = Counter(), Counter(), Counter()
        for db, tables in self._databases():
            with db.transaction(read_only=True) as session:
                for table in tables.sorted_tables:
                    rows[table.name] += session.scalar(select(func.count()).select_from(table))
                if "outbox" in tables.tables:
                    outbox = tables.tables["outbox"]
                    by_type = select(outbox.c.event_type, func.count()).group_by(outbox.c.event_type)
                    events.update(dict(session.execute(by_type).all()))
        notify = self.platform.specs["notify"].metadata.tables
        app, sms = notify["notification"], notify["sms_message"]
        notices.update(tuple(row) for row in self._read("notify", select(app.c.template, app.c.recipient_id,
                                                                          app.c.channel)))  # fmt: skip
        notices.update((template, contact, "sms") for template, contact in self._read(
            "notify", select(sms.c.template, sms.c.contact_id)))  # fmt: skip
        return Effects(rows, events, notices)


# -- the race ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ask:
    method: str
    path: str
    headers: dict[str, str]
    body: dict | None = None


def race(world: World, ask: Ask, n: int = N) -> list[requests.Response]:
    """``n`` identical requests released together (each on its own connection)."""
    barrier = threading.Barrier(n)

    def one(_) -> requests.Response:
        barrier.wait()
        return world.request(ask.method, ask.path, ask.headers, ask.body)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


@dataclass(frozen=True)
class Move:
    """One row of the rule: ``given`` brings fresh resources into the state before the move and
    returns what ``ask`` needs to name them; the move answers ``status`` once and ``refused`` to the
    other requests (None: every request is answered ``status``, the move being idempotent); it
    adds ``history`` lines (by table), ``events`` (by type: its own and those it leads to
    downstream), ``rows`` to other tables, and, when ``notifies``, messages (each person told once);
    ``then`` checks what else must hold afterwards."""

    name: str
    given: Callable[[World], object]
    ask: Callable[[World, object], Ask]
    status: int = 200
    refused: int | None = 409
    history: dict[str, int] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    notifies: bool = False
    then: Callable[[World, object], None] | None = None


def check(world: World, move: Move, n: int = N) -> None:
    given = move.given(world)
    world.settle()
    ask = move.ask(world, given)
    before = world.effects()
    answers = race(world, ask, n)
    world.settle()
    added = world.effects().since(before)

    seen = [(a.status_code, a.text[:200]) for a in answers]
    if move.refused is None:
        assert [a.status_code for a in answers] == [move.status] * n, seen
    else:
        assert sorted(a.status_code for a in answers) == sorted([move.status] + [move.refused] * (n - 1)), seen
        refusals = [a for a in answers if a.status_code == move.refused]
        assert all(a.headers["Content-Type"].startswith("application/problem+json") for a in refusals), seen
    assert {table: added.rows[table] for table in HISTORY if added.rows[table]} == move.history
    assert dict(added.events) == move.events
    assert {table: added.rows[table] for table in move.rows} == move.rows
    told_twice = {notice: count for notice, count in added.notices.items() if count > 1}
    assert not told_twice, told_twice
    assert bool(added.notices) == move.notifies, added.notices
    if move.then is not None:
        move.then(world, given)


# -- the mechanism underneath: one writer at a time, readers never held up ---------------------------------


def bumped_at_once(db, n: int = N, times: int = 20) -> int:
    """``n`` threads adding 1, ``times`` each, to one counter (a row of the probe table) read with
    ``shared.sql.locked`` and written back, each addition its own transaction: the counter's final
    value, ``n * times`` if no addition was lost."""
    counter = probe_effects
    with db.transaction() as session:
        session.execute(insert(counter).values(id=1, event_id="counter", n=0))
    barrier = threading.Barrier(n)

    def add(_) -> None:
        barrier.wait()
        for _ in range(times):
            with db.transaction() as session:
                value = session.execute(locked(session, select(counter.c.n).where(counter.c.id == 1))).scalar_one()
                session.execute(update(counter).where(counter.c.id == 1).values(n=value + 1))

    with ThreadPoolExecutor(n) as pool:
        list(pool.map(add, range(n)))
    with db.transaction(read_only=True) as session:
        return session.scalar(select(counter.c.n).where(counter.c.id == 1))


def read_while_a_writer_holds(db) -> int:
    """Rows a read-only transaction counts while another transaction has written one and holds on
    (it commits once the read is done): the read neither waits for the writer nor sees its row."""
    wrote, read = threading.Event(), threading.Event()

    def write() -> None:
        with db.transaction() as session:
            session.execute(insert(probe_effects).values(event_id="held", n=1))
            wrote.set()
            assert read.wait(30), "the read-only transaction never finished"

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert wrote.wait(30)
        with db.transaction(read_only=True) as session:
            return session.scalar(select(func.count()).select_from(probe_effects))
    finally:
        read.set()
        writer.join(30)


# -- factories: fresh resources in the state before the move ------------------------------------------


def directory(w: World) -> None:
    """Notify's directory: the residents and representatives (SMS and app), the clerk's department."""

    def make() -> None:
        for index, person in enumerate(RESIDENTS + REPRESENTATIVES):
            contact = {"phone": f"1390000{index:04d}", "community_code": YANLIUYUAN, "kind": "resident",
                       "app_user_id": person}  # fmt: skip
            w.call("POST", "/api/v1/notify/contacts", w.worker, contact, 201)
        department = {"phone": "13900009999", "community_code": YANLIUYUAN, "kind": "department_contact",
                      "department_id": ORGANISATION}  # fmt: skip
        w.call("POST", "/api/v1/notify/contacts", w.worker, department, 201)
        w.settle()  # meetings' replica of the directory knows whom an invitation may name

    w.once("directory", make)


def organisation(w: World) -> None:
    """The organisation registered in tracking (its replicas in intake and meetings) with its clerk."""
    directory(w)

    def make() -> None:
        record = {"kind": "department", "name": "贵池区住房和城乡建设局", "scope": "341702"}
        w.call("PUT", f"/api/v1/tracking/organisations/{ORGANISATION}", w.operator, record)
        w.call("POST", f"/api/v1/tracking/organisations/{ORGANISATION}/members", w.operator, {"account_id": CLERK})
        w.settle()

    w.once("organisation", make)


def nothing(w: World) -> None:
    """Only the directory (moves that make something new)."""
    directory(w)


def contact_of(w: World, person: str) -> str:
    """The directory's contact of an account: its id."""
    contacts = w.call("GET", "/api/v1/notify/contacts?limit=100", w.worker)["items"]
    (contact,) = [c for c in contacts if c["app_user_id"] == person]
    return contact["id"]


# intake


def submitted(w: World, title: str = "杏花家园停车难") -> str:
    """resident-1's proposal: its id."""
    directory(w)
    body = {"community_code": YANLIUYUAN, "title": title, "description": "空地可改停车场", "category": "management"}
    return w.call("POST", P, w.who("resident-1"), body, 201)["id"]


def supported(w: World) -> str:
    """Submitted, co-signed by resident-2."""
    proposal = submitted(w)
    w.call("POST", f"{P}/{proposal}/support", w.who("resident-2"))
    return proposal


def duplicates(w: World) -> tuple[str, str]:
    """Two proposals of the community about one matter: (the duplicate, the one it joins)."""
    return submitted(w, "停车难"), submitted(w)


def referable(w: World) -> str:
    """Submitted, the organisation registered."""
    organisation(w)
    return submitted(w)


def accepted(w: World) -> str:
    proposal = submitted(w)
    w.call("POST", f"{P}/{proposal}/accept", w.worker)
    return proposal


def told(w: World) -> str:
    """A message in resident-1's inbox (their proposal accepted): its id."""
    accepted(w)
    w.settle()
    return w.call("GET", "/api/v1/notify/inbox", w.who("resident-1"))["items"][0]["id"]


# meetings


def starts(w: World) -> datetime:
    return w.t0 + timedelta(days=7)


def invite(w: World, consultation_id: str, person: str) -> dict:
    """The one way a person is invited here (the directory knows every representative)."""
    body = {"person_id": person, "category": "resident_representative"}
    return w.call("POST", f"{C}/{consultation_id}/participants", w.worker, body, 201)


def draft(w: World) -> dict:
    """A hybrid consultation of 烟柳园 ready to be announced, a week ahead: a topic, two
    representatives invited, its materials."""
    directory(w)
    body = {"division_code": YANLIUYUAN, "title": "杏花家园停车难协商", "form": "community_council",
            "mode": "hybrid", "starts_at": starts(w).isoformat(), "venue": "烟柳园社区议事厅",
            "online_link": "https://meet.example/yanliuyuan",
            "materials": ["https://docs.example/plan.pdf"]}  # fmt: skip
    consultation = w.call("POST", C, w.worker, body, 201)
    consultation = w.call("POST", f"{C}/{consultation['id']}/topics", w.worker, {"title": "空地改建停车场"}, 201)
    for person in REPRESENTATIVES[:2]:
        invite(w, consultation["id"], person)
    return consultation


def agenda_open(w: World) -> dict:
    """A draft and a proposal intake accepted (``proposal``: its id), in meetings' replica."""
    consultation = draft(w)
    return {**consultation, "proposal": accepted(w)}


def announced(w: World) -> dict:
    consultation = draft(w)
    return w.call("POST", f"{C}/{consultation['id']}/announce", w.worker)


def round_closed(w: World) -> dict:
    """Announced, its first round of opinions (its first day) closed."""
    consultation = announced(w)
    window = {"opens_at": w.t0.isoformat(), "closes_at": (w.t0 + timedelta(days=1)).isoformat()}
    w.call("POST", f"{C}/{consultation['id']}/rounds", w.worker, window, 201)
    w.clock.set(w.t0 + timedelta(days=1, hours=1))
    return consultation


def opinion_posted(w: World) -> dict:
    """Announced, a round open, resident-3's opinion posted (``opinion``: its id)."""
    consultation = announced(w)
    window = {"opens_at": w.t0.isoformat(), "closes_at": (w.t0 + timedelta(days=3)).isoformat()}
    w.call("POST", f"{C}/{consultation['id']}/rounds", w.worker, window, 201)
    opinion = {"topic_id": consultation["topics"][0]["id"], "stance": "support", "text": "空地闲置多年,建停车场很好"}
    posted = w.call("POST", f"{C}/{consultation['id']}/opinions", w.who("resident-3"), opinion, 201)
    return {**consultation, "opinion": posted["id"]}


def sign_in_open(w: World) -> dict:
    """Announced, half an hour before the start (sign-in open); ``code``: the attendance code."""
    consultation = announced(w)
    w.clock.set(starts(w) - timedelta(minutes=30))
    code = w.call("GET", f"{C}/{consultation['id']}/attendance-code", w.worker)["attendance_code"]
    return {**consultation, "code": code}


def due_to_start(w: World) -> dict:
    """Announced, its start time come."""
    consultation = sign_in_open(w)
    w.clock.set(starts(w))
    return consultation


def in_session(w: World) -> dict:
    """Started, both representatives signed in."""
    consultation = sign_in_open(w)
    for person in REPRESENTATIVES[:2]:
        w.call("POST", f"{C}/{consultation['id']}/sign-in", w.who(person), {"code": consultation["code"]})
    w.clock.set(starts(w))
    return w.call("POST", f"{C}/{consultation['id']}/start", w.worker)


def voted(w: World) -> dict:
    """In session, both representatives voted for the topic, an hour later."""
    consultation = in_session(w)
    for person in REPRESENTATIVES[:2]:
        vote = {"topic_id": consultation["topics"][0]["id"], "choice": "support"}
        w.call("POST", f"{C}/{consultation['id']}/votes", w.who(person), vote, 201)
    w.clock.set(starts(w) + timedelta(hours=1))
    return consultation


def decided(w: World) -> dict:
    organisation(w)
    consultation = voted(w)
    return w.call("POST", f"{C}/{consultation['id']}/decide", w.worker)


def outcome(w: World, consultation: dict) -> dict:
    """The minutes and a resolution of the topic, by the registered organisation."""
    resolution = {"topic_id": consultation["topics"][0]["id"], "organisation_id": ORGANISATION,
                  "deadline": (w.t0 + timedelta(days=60)).date().isoformat(),
                  "agreed": "利用空地建设停车场"}  # fmt: skip
    return {"minutes": "与会人员一致同意建设临时停车场。", "resolutions": [resolution]}


def outcome_published(w: World) -> dict:
    consultation = decided(w)
    return w.call("POST", f"{C}/{consultation['id']}/publish", w.worker, outcome(w, consultation))


def recorded(w: World) -> dict:
    """A consultation held offline ten days ago, as it is recorded afterwards (补录)."""
    resolution = {"topic_index": 0, "organisation_id": ORGANISATION, "agreed": "晚八点后停止施工",
                  "deadline": (w.t0 + timedelta(days=30)).date().isoformat()}  # fmt: skip
    return {"division_code": YANLIUYUAN, "title": "杏花家园停车难议事会", "form": "community_council",
            "mode": "offline", "held_at": (w.t0 - timedelta(days=10)).isoformat(), "venue": "烟柳园社区议事厅",
            "topics": [{"title": "夜间施工时间", "adopted": True}], "decision": "decided",
            "resolutions": [resolution], "attendance": {"resident_representative": 12, "party_member": 5},
            "minutes_url": "https://docs.example/minutes.pdf"}  # fmt: skip


def recorded_csv(w: World) -> str:
    """The same kind of consultation as a row of the import (a time without zone is Beijing's)."""
    held = (w.t0 - timedelta(days=10)).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")
    return ("division_code,title,form,mode,held_at,venue,topics,attendees,decision,minutes_url\n"
            f"{YANLIUYUAN},夜间施工议事会,community_council,offline,{held},烟柳园社区议事厅,夜间施工时间,12,decided,"
            "https://docs.example/minutes.pdf\n")  # fmt: skip


# tracking


def task_assigned(w: World) -> str:
    """A referred proposal's task, assigned to the organisation: its id."""
    proposal = referable(w)
    w.call("POST", f"{P}/{proposal}/refer", w.worker, {"department_id": ORGANISATION, "note": "请尽快处理"})
    w.settle()
    (task,) = w.call("GET", T, w.clerk)["items"]
    return task["id"]


def task_accepted(w: World) -> str:
    task = task_assigned(w)
    w.call("POST", f"{T}/{task}/accept", w.clerk)
    return task


def task_started(w: World) -> str:
    task = task_accepted(w)
    w.call("POST", f"{T}/{task}/progress", w.clerk, {"percent": 50, "note": "已完成规划"}, 201)
    return task


def task_completed(w: World) -> str:
    task = task_started(w)
    w.call("POST", f"{T}/{task}/complete", w.clerk, {"summary": "停车场已建成"})
    return task


def extension_asked(w: World) -> str:
    task = task_accepted(w)
    w.call("POST", f"{T}/{task}/extension", w.clerk, {"days": 10, "reason": "施工材料未到"})
    return task


# the gateway

USERNAME, PASSWORD = "wang.fang", "Yanliuyuan-2026"


def account(w: World) -> dict:
    """A community worker's account (made as ``xieshang users create`` makes it): its credentials."""
    w.platform.gateway().accounts.create_user(USERNAME, PASSWORD, "community_worker", YANLIUYUAN)
    return {"username": USERNAME, "password": PASSWORD}


def logged_in(w: World) -> dict:
    """The account logged in: its token pair."""
    return w.call("POST", "/api/v1/auth/token", {}, account(w))


def locked_out(w: World, credentials: dict) -> None:
    """N wrong passwords at once lock the account as N in a row do: the right one is refused too."""
    assert w.request("POST", "/api/v1/auth/token", {}, credentials).status_code == 429


# -- the moves -----------------------------------------------------------------------------------------

PROPOSAL_HISTORY = {"proposal_history": 1}
CONSULTATION_HISTORY = {"consultation_transition": 1}
TASK_HISTORY = {"task_history": 1}
REPRESENTATIVE = {"person_id": REPRESENTATIVES[2], "category": "resident_representative"}

MOVES = (
    # intake: 附议 and 两委定事
    Move("intake: co-sign", submitted, lambda w, p: Ask("POST", f"{P}/{p}/support", w.who("resident-2")),
         events={"intake.proposal.supported": 1}, rows={"proposal_support": 1, "proposal_supporter": 1}),
    Move("intake: withdraw a co-signature", supported,
         lambda w, p: Ask("DELETE", f"{P}/{p}/support", w.who("resident-2")), refused=404,
         events={"intake.proposal.supported": 1}),
    Move("intake: accept", submitted, lambda w, p: Ask("POST", f"{P}/{p}/accept", w.worker),
         history=PROPOSAL_HISTORY, events={"intake.proposal.accepted": 1}, rows={"accepted_proposal": 1},
         notifies=True),
    Move("intake: reject", submitted,
         lambda w, p: Ask("POST", f"{P}/{p}/reject", w.worker, {"reason": "不属于社区议事范围"}),
         history=PROPOSAL_HISTORY, events={"intake.proposal.rejected": 1}, notifies=True),
    Move("intake: merge", duplicates,
         lambda w, pair: Ask("POST", f"{P}/{pair[0]}/merge", w.worker, {"into": pair[1]}),
         history=PROPOSAL_HISTORY, events={"intake.proposal.merged": 1}, notifies=True),
    Move("intake: refer", referable,
         lambda w, p: Ask("POST", f"{P}/{p}/refer", w.worker, {"department_id": ORGANISATION, "note": "请尽快处理"}),
         history={"proposal_history": 1, "task_history": 1},
         events={"intake.proposal.referred": 1, "tracking.task.assigned": 1}, rows={"task": 1}, notifies=True),
    # meetings: preparing
    Move("meetings: put an accepted proposal on the agenda", agenda_open,
         lambda w, c: Ask("POST", f"{C}/{c['id']}/topics", w.worker, {"proposal_id": c["proposal"]}), status=201),
    Move("meetings: take a topic off the agenda", draft,
         lambda w, c: Ask("DELETE", f"{C}/{c['id']}/topics/{c['topics'][0]['id']}", w.worker), refused=404),
    Move("meetings: revise a draft", draft,
         lambda w, c: Ask("PATCH", f"{C}/{c['id']}", w.worker, {"title": "杏花家园停车位协商"}), refused=None),
    Move("meetings: invite", draft,
         lambda w, c: Ask("POST", f"{C}/{c['id']}/participants", w.worker, REPRESENTATIVE),
         status=201, rows={"participant": 1}),
    Move("meetings: open a round", draft,
         lambda w, c: Ask("POST", f"{C}/{c['id']}/rounds", w.worker,
                          {"opens_at": w.t0.isoformat(), "closes_at": (w.t0 + timedelta(days=1)).isoformat()}),
         status=201, refused=422, rows={"deliberation_round": 1}),
    Move("meetings: announce", draft, lambda w, c: Ask("POST", f"{C}/{c['id']}/announce", w.worker),
         history=CONSULTATION_HISTORY,
         events={"meetings.consultation.announced": 1, "meetings.consultation.scheduled": 1}, notifies=True),
    Move("meetings: invite after the announcement", announced,
         lambda w, c: Ask("POST", f"{C}/{c['id']}/participants", w.worker, REPRESENTATIVE),
         status=201, events={"meetings.consultation.invited": 1}, rows={"participant": 1}, notifies=True),
    Move("meetings: postpone", announced,
         lambda w, c: Ask("POST", f"{C}/{c['id']}/postpone", w.worker,
                          {"starts_at": (starts(w) + timedelta(days=2)).isoformat(), "reason": "场地维修"}),
         refused=422, history=CONSULTATION_HISTORY, events={"meetings.consultation.postponed": 1}, notifies=True),
    Move("meetings: relocate", announced,
         lambda w, c: Ask("POST", f"{C}/{c['id']}/relocate", w.worker,
                          {"venue": "烟柳园小学礼堂", "reason": "人数较多"}),
         refused=422, history=CONSULTATION_HISTORY, events={"meetings.consultation.relocated": 1}, notifies=True),
    Move("meetings: cancel", announced,
         lambda w, c: Ask("POST", f"{C}/{c['id']}/cancel", w.worker, {"reason": "议题已由业委会解决"}),
         history=CONSULTATION_HISTORY, events={"meetings.consultation.cancelled": 1}, notifies=True),
    # meetings: deliberating
    Move("meetings: summarise a round", round_closed,
         lambda w, c: Ask("POST", f"{C}/{c['id']}/rounds/1/summary", w.worker, {"summary": "多数居民支持"})),
    Move("meetings: hide an opinion", opinion_posted,
         lambda w, c: Ask("POST", f"{C}/{c['id']}/opinions/{c['opinion']}/hide", w.worker, {"reason": "含个人信息"}),
         rows={"moderation": 1}),
    # meetings: taking part (idempotent: the same answer, the same profile, the same attendance)
    Move("meetings: answer an invitation", announced,
         lambda w, c: Ask("POST", f"{C}/{c['id']}/rsvp", w.who(REPRESENTATIVES[0]), {"answer": "accepted"}),
         refused=None),
    Move("meetings: declare a profile", announced,
         lambda w, c: Ask("POST", f"{C}/{c['id']}/profile", w.who(REPRESENTATIVES[0]), {"age_band": "30_44"}),
         refused=None),
    Move("meetings: sign in", sign_in_open,
         lambda w, c: Ask("POST", f"{C}/{c['id']}/sign-in", w.who(REPRESENTATIVES[0]), {"code": c["code"]}),
         refused=None),
    Move("meetings: join online", sign_in_open,
         lambda w, c: Ask("POST", f"{C}/{c['id']}/join", w.who(REPRESENTATIVES[0])), refused=None),
    # meetings: deciding and telling
    Move("meetings: start", due_to_start, lambda w, c: Ask("POST", f"{C}/{c['id']}/start", w.worker),
         history=CONSULTATION_HISTORY, events={"meetings.consultation.started": 1}),
    Move("meetings: vote", in_session,
         lambda w, c: Ask("POST", f"{C}/{c['id']}/votes", w.who(REPRESENTATIVES[0]),
                          {"topic_id": c["topics"][0]["id"], "choice": "support"}),
         status=201, rows={"vote": 1}),
    Move("meetings: decide", voted, lambda w, c: Ask("POST", f"{C}/{c['id']}/decide", w.worker),
         history=CONSULTATION_HISTORY, events={"meetings.consultation.decided": 1, "meetings.consultation.held": 1}),
    Move("meetings: no consensus", in_session,
         lambda w, c: Ask("POST", f"{C}/{c['id']}/no-consensus", w.worker, {"reason": "意见分歧较大"}),
         history=CONSULTATION_HISTORY,
         events={"meetings.consultation.no_consensus": 1, "meetings.consultation.held": 1}),
    Move("meetings: publish the outcome", decided,
         lambda w, c: Ask("POST", f"{C}/{c['id']}/publish", w.worker, outcome(w, c)),
         history={"consultation_transition": 1, "task_history": 1},
         events={"meetings.outcome.published": 1, "tracking.task.assigned": 1}, rows={"task": 1}, notifies=True),
    Move("meetings: close", outcome_published, lambda w, c: Ask("POST", f"{C}/{c['id']}/close", w.worker),
         history=CONSULTATION_HISTORY),
    # meetings: recorded afterwards (补录), once however often it is sent
    Move("meetings: record a consultation held offline", organisation,
         lambda w, _: Ask("POST", f"{C}/recorded", w.worker, recorded(w)), status=201,
         history={"consultation_transition": 2, "task_history": 1},
         events={"meetings.consultation.scheduled": 1, "meetings.consultation.decided": 1,
                 "meetings.consultation.held": 1, "meetings.outcome.published": 1, "tracking.task.assigned": 1},
         rows={"consultation": 1}, notifies=True),
    Move("meetings: import consultations held offline", nothing,
         lambda w, _: Ask("POST", f"{C}/recorded/import", w.worker, {"csv": recorded_csv(w)}), refused=422,
         history={"consultation_transition": 2},
         events={"meetings.consultation.scheduled": 1, "meetings.consultation.decided": 1,
                 "meetings.consultation.held": 1, "meetings.outcome.published": 1}, rows={"consultation": 1}),
    # tracking: the organisation's steps, the supervisors' decisions, the residents' ratings
    Move("tracking: sign for a task", task_assigned, lambda w, t: Ask("POST", f"{T}/{t}/accept", w.clerk),
         history=TASK_HISTORY, events={"tracking.task.accepted": 1}),
    Move("tracking: the first progress note starts the work", task_accepted,
         lambda w, t: Ask("POST", f"{T}/{t}/progress", w.clerk, {"percent": 10, "note": "已进场施工"}),
         status=201, refused=None, history={"task_history": 1, "proposal_history": 1},
         events={"tracking.task.started": 1, "tracking.task.progressed": N}, rows={"task_progress": N}),
    Move("tracking: complete", task_started,
         lambda w, t: Ask("POST", f"{T}/{t}/complete", w.clerk, {"summary": "停车场已建成"}),
         history={"task_history": 1, "proposal_history": 1},
         events={"tracking.task.completed": 1, "tracking.rating.requested": 1}, notifies=True),
    Move("tracking: ask for an extension", task_accepted,
         lambda w, t: Ask("POST", f"{T}/{t}/extension", w.clerk, {"days": 10, "reason": "施工材料未到"})),
    Move("tracking: decide an extension", extension_asked,
         lambda w, t: Ask("POST", f"{T}/{t}/extension/decision", w.street, {"approve": True, "note": "同意"}),
         events={"tracking.task.extended": 1}, notifies=True),
    Move("tracking: rate", task_completed,
         lambda w, t: Ask("POST", f"{T}/{t}/ratings", w.who("resident-1"), {"choice": "satisfied"}),
         status=201, rows={"rating": 1}),
    Move("tracking: register an organisation", directory,
         lambda w, _: Ask("PUT", "/api/v1/tracking/organisations/gc-lighting", w.operator,
                          {"kind": "department", "name": "贵池区路灯管理所", "scope": "341702"}),
         refused=None, events={"tracking.organisations.changed": 1}, rows={"organisation": 3}),
    Move("tracking: add a member", organisation,
         lambda w, _: Ask("POST", f"/api/v1/tracking/organisations/{ORGANISATION}/members", w.operator,
                          {"account_id": "housing-clerk-2"}),
         refused=None, rows={"organisation_member": 1}),
    # notify: the directory and the inbox
    Move("notify: add a contact", nothing,
         lambda w, _: Ask("POST", "/api/v1/notify/contacts", w.worker,
                          {"phone": "13700001111", "community_code": YANLIUYUAN, "kind": "resident"}),
         status=201, events={"notify.contacts.changed": 1}, rows={"contact": 1}),
    Move("notify: remove a contact", directory,
         lambda w, _: Ask("DELETE", f"/api/v1/notify/contacts/{contact_of(w, RESIDENTS[2])}", w.worker),
         refused=404, events={"notify.contacts.changed": 1}),
    Move("notify: mark a message read", told,
         lambda w, message: Ask("POST", f"/api/v1/notify/inbox/{message}/read", w.who("resident-1")), refused=None),
    # the gateway: a refresh token is spent once, every failed login counts
    Move("gateway: refresh", logged_in,
         lambda w, tokens: Ask("POST", "/api/v1/auth/refresh", {}, {"refresh_token": tokens["refresh_token"]}),
         refused=401, rows={"refresh_token": 1}),
    Move("gateway: wrong passwords", account,
         lambda w, credentials: Ask("POST", "/api/v1/auth/token", {}, {**credentials, "password": "wrong-password"}),
         status=401, refused=None, rows={"login_throttle": 2}, then=locked_out),
    Move("gateway: log out", logged_in,
         lambda w, tokens: Ask("POST", "/api/v1/auth/logout", {}, {"refresh_token": tokens["refresh_token"]}),
         status=204, refused=None),
)  # fmt: skip


def move_id(move: Move) -> str:
    return move.name
