"""Submission benchmark: a resident's matter through the gateway, stored in milliseconds, and end to end
to the resident's SMS and inbox, every target in its own process.

``python -m bench --only submission [--requests N] [--proposals P] [--threads T]``

Processes (``xieshang run --target …``, each its own process group, on PostgreSQL and RabbitMQ):
``gateway``, ``intake-api`` (gunicorn workers and its relay), ``intake-worker`` (indexes submissions for
duplicate look-ups from ``intake.proposal.submitted``), ``notify-api`` (Kannel's delivery reports),
``notify-worker`` (the inbox row and the queued SMS of ``proposal_received``, and the SMS sender), and a
real Kannel (bearerbox, smsbox, fakesmsc as the carrier; ``tests/kannel.py``) when installed.

Set-up (untimed): intake's replica of the registry plus ``COMMUNITIES`` synthetic communities of 池阳街道;
``P`` proposals of 烟柳园 (the one-community case of ``bench.duplicates``) raised over the past year,
stored and indexed, so the look-ups run among 100,000 matters; ``RESIDENTS`` resident contacts per
community in notify's directory (SMS and app, quiet hours off), whose accounts submit.

Phases, all through the gateway:

1. one client at a time: ``--latency-requests`` submissions (realistic texts over the city's communities)
   and as many ``GET …/proposals/similar`` look-ups in 烟柳园 (reworded, fresh and unseen-place matters);
2. closed loop, ``--threads`` clients: ``--requests`` realistic submissions, then as many near-identical
   ones into one community (the worst case: every write touches the same grams);
3. open loop: submissions at a fixed arrival rate (``RATES``: 50 and 100 per second) for ``OPEN_SECONDS``
   each, from a pool of client threads (a request late for its slot counts from its slot: queueing shows);
   then, per submission, the time from its slot to its 201, to notify's inbox row and to the SMS accepted by
   Kannel (``sms_message.sent_at``), percentiles reported. The SMS rate limit is set above the arrival rate
   (``XIESHANG_SMS_RATE``): with the default 20 parts/s the SMS queue would be the latency.

Printed: figures beside the goals of issue #13. Timings are printed, never asserted.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import itertools
import json
import random
import socket
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from sqlalchemy import func, insert, select, text

from bench import duplicates
from bench.gateway import (
    PROPOSALS_PATH,
    Servers,
    cpu_spent,
    group_cpu,
    machine_busy,
    percentile,
    say,
    servers_cpu,
)
from bench.infra import ScratchDatabases, bus_admin, run_id, settle
from bench.results import RESULTS, record
from shared.auth import TokenIssuer
from shared.config import load_settings
from shared.db import Database
from shared.division_registry import upsert
from shared.divisions import REFERENCE_CSV, Division, parse_csv
from shared.keys import KeyStore
from shared.principal import Principal

COMMUNITY = duplicates.COMMUNITY  # 烟柳园: the 100,000 proposals of the look-ups
STREET = "341702001000"  # 池阳街道
COMMUNITIES = 200
RESIDENTS = 5  # contacts per community who submit
RATES = (50, 100)
OPEN_SECONDS = 20.0
OPEN_THREADS = 48
SETTLE_SECONDS = 60.0  # at most this long after an open-loop phase for the last SMS and inbox rows
REQUEST_TIMEOUT = 30.0
GOALS = {
    "rate": 150.0,  # submissions/s, realistic texts, closed loop
    "submit_p50": 15.0,  # ms, one client at a time
    "similar_p95": 30.0,  # ms, one client at a time, among 100,000
    "e2e_p99": 500.0,  # ms, at 100 submissions/s
}
PHONE_KEY = base64.b64encode(b"bench-submission-phone-key-32by!").decode()


def city_communities() -> list[Division]:
    return [
        Division(f"341702001{i + 101:03d}", f"压测社区{i + 1}", "community", STREET, "bench")
        for i in range(COMMUNITIES)
    ]


@dataclass
class World:
    """Who submits what: per community its places and residents (subject, token)."""

    places: dict[str, tuple[str, ...]]
    residents: dict[str, list[tuple[str, str]]]
    worker_token: str = ""
    preloaded: dict[str, tuple[str, duplicates.Matter]] = field(default_factory=dict)

    def submission(self, rng: random.Random) -> tuple[bytes, str]:
        """A realistic submission: a community of the city, one of its residents, a matter in their words."""
        code = rng.choice(list(self.places))
        _subject, token = rng.choice(self.residents[code])
        title, description = duplicates.wording(rng, duplicates.matter(rng, self.places[code]))
        body = {"community_code": code, "title": title, "description": description, "category": "environment"}
        return json.dumps(body, ensure_ascii=False).encode(), token

    def similar_target(self, rng: random.Random, kind: str) -> str:
        if kind == "reworded":
            _code, subject = self.preloaded[rng.choice(list(self.preloaded))]
        else:
            subject = duplicates.matter(rng, duplicates.PLACES if kind == "fresh" else duplicates.UNSEEN_PLACES)
        title, description = duplicates.wording(rng, subject)
        query = urlencode({"community": COMMUNITY, "title": title, "description": description})
        return f"{PROPOSALS_PATH}/similar?{query}"


# -- set-up ---------------------------------------------------------------------------------------------


def load_intake(url: str, rng: random.Random, proposals: int) -> dict:
    """The registry replica (reference plus the city's communities) and ``proposals`` stored and indexed
    matters of 烟柳园, written as the API and intake's worker would leave them."""
    from services.intake import models
    from services.intake import services as intake
    from services.intake.similarity import Indexed

    divisions = parse_csv(REFERENCE_CSV.read_text(encoding="utf-8")) + city_communities()
    db = Database(url, "intake")
    preloaded: dict = {}
    try:
        with db.transaction() as session:
            upsert(session, models.divisions, divisions)
        now = datetime.now(UTC)
        for start in range(0, proposals, duplicates.BATCH):
            rows, batch = [], []
            for _ in range(min(duplicates.BATCH, proposals - start)):
                proposal_id, subject = str(uuid.uuid4()), duplicates.matter(rng)
                title, description = duplicates.wording(rng, subject)
                preloaded[proposal_id] = (COMMUNITY, subject)
                rows.append(
                    {"id": proposal_id, "community_code": COMMUNITY, "title": title, "description": description,
                     "category": "environment", "channel": "app", "origin": "resident",
                     "submitter_id": f"earlier-{start}", "status": "submitted", "attachments": [], "supporters": 0,
                     "submitted_at": now - timedelta(days=rng.uniform(1, 365)), "updated_at": now}
                )  # fmt: skip
                batch.append(Indexed(proposal_id, COMMUNITY, title, description))
            with db.transaction() as session:
                session.execute(insert(models.proposals), rows)
                intake.duplicate_index.add_many(session, batch)
        with db.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    finally:
        db.dispose()
    return preloaded


def load_notify(url: str, settings, places: dict) -> dict[str, list[str]]:
    """The directory: ``RESIDENTS`` resident contacts per community (SMS and app, no quiet hours), and
    the registry replica; returns each community's resident accounts."""
    import services.notify.spec
    from services.notify import repository
    from services.notify.domain import Contact
    from services.notify.phones import vault_for

    vault = vault_for(settings)
    divisions = parse_csv(REFERENCE_CSV.read_text(encoding="utf-8")) + city_communities()
    accounts: dict[str, list[str]] = {}
    now = datetime.now(UTC)
    db = Database(url, "notify")
    try:
        with db.transaction() as session:
            tables = services.notify.spec.SPEC.metadata.tables
            if "division" in tables:
                upsert(session, tables["division"], divisions)
            number = itertools.count(13900000000)
            for code in places:
                for i in range(RESIDENTS):
                    account = f"resident-{code}-{i}"
                    contact = Contact(
                        id=str(uuid.uuid4()), kind="resident", community_code=code, department_id=None,
                        app_user_id=account, channels=("sms", "app"), quiet_start="00:00", quiet_end="00:00",
                        opt_outs=(), created_at=now, updated_at=now,
                    )  # fmt: skip
                    repository.add(session, vault, contact, str(next(number)))
                    accounts.setdefault(code, []).append(account)
    finally:
        db.dispose()
    return accounts


# -- load ---------------------------------------------------------------------------------------------------


class Client:
    """One keep-alive connection to the gateway."""

    def __init__(self, base_url: str):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port
        self.conn = self._connect()

    def _connect(self) -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=REQUEST_TIMEOUT)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def send(self, method: str, target: str, token: str, body: bytes | None = None) -> tuple[int, bytes]:
        headers = {"Authorization": f"Bearer {token}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            try:
                self.conn.request(method, target, body, headers)
                response = self.conn.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = self._connect()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()


def expect(status: int, data: bytes, wanted: int) -> dict:
    if status != wanted:
        raise RuntimeError(f"{status} instead of {wanted}: {data[:300].decode(errors='replace')}")
    return json.loads(data) if data else {}


def one_at_a_time(url: str, requests: list[tuple[str, str, str, bytes | None, int]]) -> list[float]:
    client = Client(url)
    latencies = []
    try:
        for method, target, token, body, wanted in requests:
            started = time.perf_counter()
            status, data = client.send(method, target, token, body)
            latencies.append(time.perf_counter() - started)
            expect(status, data, wanted)
    finally:
        client.close()
    return latencies


def closed_loop(url: str, requests: list[tuple[bytes, str]], threads: int) -> tuple[float, list[float]]:
    tickets = itertools.count()
    latencies: list[float] = []
    failures: list[str] = []
    clients = [Client(url) for _ in range(threads)]
    gate = threading.Barrier(threads + 1)

    def work(client: Client) -> None:
        gate.wait()
        while (i := next(tickets)) < len(requests):
            started = time.perf_counter()
            data = _submit(client, requests[i], failures)
            if data is None:
                return
            latencies.append(time.perf_counter() - started)

    workers = [threading.Thread(target=work, args=(c,)) for c in clients]
    for worker in workers:
        worker.start()
    gate.wait()
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    for client in clients:
        client.close()
    if failures:
        raise RuntimeError(f"{len(failures)} failed submission(s), first: {failures[0]}")
    return len(requests) / elapsed, latencies


def _submit(client: Client, request: tuple[bytes, str], failures: list[str]) -> bytes | None:
    """POST one matter; its answer's body, or None with the failure recorded."""
    body, token = request
    try:
        status, data = client.send("POST", PROPOSALS_PATH, token, body)
    except Exception as exc:  # noqa: BLE001 - reported by the caller
        failures.append(repr(exc))
        return None
    if status != 201:
        failures.append(f"{status} {data[:200]!r}")
        return None
    return data


def open_loop(url: str, requests: list[tuple[bytes, str]], rate: float) -> tuple[dict[str, float], list[float], float]:
    """Each request at its slot (``start + i / rate``); returns (proposal id → slot as a wall-clock time,
    latencies from slot to answer, the rate achieved)."""
    slots = itertools.count()
    lock = threading.Lock()
    sent: dict[str, float] = {}
    latencies: list[float] = []
    failures: list[str] = []
    clients = [Client(url) for _ in range(OPEN_THREADS)]
    start_perf = time.perf_counter() + 0.5
    start_wall = time.time() + (start_perf - time.perf_counter())

    def work(client: Client) -> None:
        while True:
            with lock:
                i = next(slots)
            if i >= len(requests):
                return
            slot = start_perf + i / rate
            delay = slot - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            data = _submit(client, requests[i], failures)
            if data is None:
                return
            latencies.append(time.perf_counter() - slot)
            sent[json.loads(data)["id"]] = start_wall + i / rate

    workers = [threading.Thread(target=work, args=(c,)) for c in clients]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - start_perf
    for client in clients:
        client.close()
    if failures:
        raise RuntimeError(f"{len(failures)} failed submission(s), first: {failures[0]}")
    return sent, latencies, len(requests) / elapsed


def arrivals(
    intake_url: str, notify_url: str, sent: dict[str, float]
) -> tuple[list[float], list[float], list[float], int]:
    """Seconds from each submission's slot to its inbox row and to its SMS accepted by Kannel, waiting up to
    ``SETTLE_SECONDS`` for the last; of those the SMS spent queued for the sender (from its row to
    accepted); and how many are still missing then."""
    from services.intake.models import bus as intake_bus
    from services.notify.models import notifications, sms_messages

    intake_db, notify_db = Database(intake_url, "intake"), Database(notify_url, "notify")
    try:
        with intake_db.sessions() as session:
            event_of = {}
            for body in session.execute(
                select(intake_bus.outbox.c.body).where(intake_bus.outbox.c.event_type == "intake.proposal.submitted")
            ).scalars():
                envelope = json.loads(body)
                if envelope["payload"]["proposal_id"] in sent:
                    event_of[envelope["id"]] = envelope["payload"]["proposal_id"]
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            with notify_db.sessions() as session:
                inbox = {
                    event_id: created
                    for event_id, created in session.execute(
                        select(notifications.c.event_id, notifications.c.created_at).where(
                            notifications.c.template == "proposal_received"
                        )
                    )
                    if event_id in event_of
                }
                texts = {
                    event_id: (queued_at, sent_at)
                    for event_id, queued_at, sent_at in session.execute(
                        select(sms_messages.c.event_id, sms_messages.c.created_at, sms_messages.c.sent_at).where(
                            sms_messages.c.template == "proposal_received", sms_messages.c.sent_at.is_not(None)
                        )
                    )
                    if event_id in event_of
                }
            missing = len(event_of) - min(len(inbox), len(texts)) + (len(sent) - len(event_of))
            if not missing or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        to_inbox = [inbox[e].timestamp() - sent[p] for e, p in event_of.items() if e in inbox]
        to_sms = [texts[e][1].timestamp() - sent[p] for e, p in event_of.items() if e in texts]
        in_queue = [(sent_at - queued_at).total_seconds() for queued_at, sent_at in texts.values()]
        return to_inbox, to_sms, in_queue, missing
    finally:
        intake_db.dispose()
        notify_db.dispose()


def caught_up(notify_url: str, timeout: float = 300.0) -> float:
    """Wait until notify has handled the events of the phases before (its inbox of consumed events stops
    growing for two seconds) and sent their SMS (none queued or being sent), so an open-loop phase does
    not queue behind them; returns the seconds."""
    from services.notify import sms
    from services.notify.models import bus as notify_bus
    from services.notify.models import sms_messages

    db = Database(notify_url, "notify")
    started = time.monotonic()
    try:
        last, steady = -1, 0.0
        while time.monotonic() - started < timeout:
            with db.sessions() as session:
                handled = session.execute(select(func.count()).select_from(notify_bus.inbox)).scalar_one()
                unsent = session.execute(
                    select(func.count()).where(sms_messages.c.status.in_((sms.QUEUED, sms.SENDING)))
                ).scalar_one()
            steady = steady + 0.5 if handled == last and not unsent else 0.0
            if steady >= 2.0:
                break
            last = handled
            time.sleep(0.5)
    finally:
        db.dispose()
    return time.monotonic() - started


def indexed_count(intake_url: str) -> int:
    db = Database(intake_url, "intake")
    try:
        with db.sessions() as session:
            return session.execute(text("SELECT count(*) FROM proposal_features WHERE live")).scalar_one()
    finally:
        db.dispose()


def cpu_now(servers: Servers, kannel) -> dict[str, float]:
    """CPU seconds so far: each target, Kannel's processes, PostgreSQL's and RabbitMQ's, this load
    generator, the whole machine."""
    cpu = {target: group_cpu(servers.pgid(target)) for target in servers.running}
    if kannel is not None:
        cpu["kannel"] = sum(group_cpu(pid) for pid in kannel.pids())  # each its own process group
    return cpu | servers_cpu() | {"client": time.process_time(), "machine": machine_busy()}


def cpu_per(before: dict[str, float], after: dict[str, float], count: int) -> dict[str, float]:
    """Milliseconds of CPU per submission between two ``cpu_now`` (``other``: see ``cpu_spent``), and
    ``total``, the machine's."""
    per = {name: seconds / count * 1000 for name, seconds in cpu_spent(before, after).items()}
    return per | {"total": sum(per.values())}


def say_cpu(cpu: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.1f}" for name, value in cpu.items())


def ms(values: list[float]) -> str:
    return " ".join(f"p{q} {percentile(values, q):.1f}" for q in (50, 95, 99)) + " ms"


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def run(
    *, requests: int, threads: int, workers: int, latency_requests: int, proposals: int, amqp_url: str,
    database_url: str,
) -> dict:  # fmt: skip
    from tests.kannel import Kannel, kannel_available
    from xieshang.platform import Platform

    rng = random.Random(20261201)
    rid = run_id()
    scratch = ScratchDatabases(database_url)
    started = time.perf_counter()
    figures: dict = {}
    reason = kannel_available()
    try:
        with tempfile.TemporaryDirectory(prefix="xs-bench-submission-") as data_dir:
            env = {
                "XIESHANG_DATA_DIR": data_dir,
                "XIESHANG_AMQP_URL": amqp_url,
                "XIESHANG_BUS_NAMESPACE": f"xsbench{rid}",
                "XIESHANG_INTAKE_DATABASE_URL": scratch.create(f"xs_bench_{rid}_intake"),
                "XIESHANG_GATEWAY_DATABASE_URL": scratch.create(f"xs_bench_{rid}_gateway"),
                "XIESHANG_NOTIFY_DATABASE_URL": scratch.create(f"xs_bench_{rid}_notify"),
                "XIESHANG_WEB_CONCURRENCY": str(workers),
                "XIESHANG_RATE_LIMIT": "10000000",
                "XIESHANG_LOG_LEVEL": "WARNING",
                "XIESHANG_NOTIFY_PHONE_KEY": PHONE_KEY,
                "XIESHANG_SMS_POLL_SECONDS": "0.1",
                "XIESHANG_SMS_RATE": "1000",
            }
            settings = load_settings(env)
            platform = Platform(settings)
            platform.migrate(["intake", "gateway", "notify"])
            say(
                f"submission benchmark: {proposals:,} proposals of 烟柳园 preloaded, {COMMUNITIES} communities of "
                f"池阳街道 with {RESIDENTS} residents each, {workers} gunicorn workers per API, "
                f"{'Kannel ' + ('not installed: ' + reason if reason else 'as the SMS gateway')}"
            )
            t0 = time.perf_counter()
            preloaded = load_intake(settings.database_url("intake"), rng, proposals)
            places = duplicates.city(rng, COMMUNITIES)
            places = dict(zip([d.code for d in city_communities()], places.values(), strict=True))
            accounts = load_notify(settings.database_url("notify"), settings, places)
            say(f"set-up: {time.perf_counter() - t0:.0f} s")
            say(settle(database_url))  # the set-up's writes and load behind us before anything is timed
            keys = KeyStore(settings.keys_dir)
            keys.current()
            issuer = TokenIssuer(keys)
            residents = {
                code: [(a, issuer.issue(Principal(a, "resident", code), ttl=7200)) for a in names]
                for code, names in accounts.items()
            }
            world = World(places, residents, preloaded=preloaded)
            world.worker_token = issuer.issue(Principal("bench-worker", "community_worker", COMMUNITY), ttl=7200)
            with contextlib.ExitStack() as stack, bus_admin(amqp_url, platform.topology):
                servers = Servers(env, Path(data_dir) / "logs")
                stack.callback(servers.stop_all)
                intake = servers.start("intake-api")
                notify = servers.start("notify-api")
                extra, kannel = {}, None
                if not reason:
                    # At info, as a gateway runs in production: debug logs every PDU (Kannel's CPU a submission
                    # 1.1 -> 0.6 ms).
                    kannel = Kannel(
                        Path(data_dir) / "kannel", f"{notify}/api/v1/notify/sms/replies/kannel", log_level=1
                    )
                    kannel.start()
                    stack.callback(kannel.stop)
                    extra = {
                        "XIESHANG_SMS_PROVIDER": "kannel",
                        "XIESHANG_SMS_URL": kannel.sendsms_url,
                        "XIESHANG_SMS_USERNAME": kannel.username,
                        "XIESHANG_SMS_PASSWORD": kannel.password,
                        "XIESHANG_SMS_SENDER": "106900",
                        "XIESHANG_SMS_CALLBACK_URL": f"{notify}/api/v1/notify/sms",
                    }
                servers.start("intake-worker")
                servers.start("notify-worker", **extra)
                gateway = servers.start("gateway", XIESHANG_INTAKE_URL=intake, XIESHANG_NOTIFY_URL=notify)
                say(f"gateway at {gateway}; intake-api, intake-worker, notify-api, notify-worker running")
                # Warm-up: connections, statement compilation, the caches.
                closed_loop(gateway, [world.submission(rng) for _ in range(200)], threads)
                kinds = [("reworded", "fresh", "unseen place")[i % 3] for i in range(latency_requests)]
                similar = [("GET", world.similar_target(rng, k), world.worker_token, None, 200) for k in kinds]
                one_at_a_time(gateway, similar[:50])

                say(f"one client at a time: {latency_requests} submissions, {latency_requests} similar look-ups")
                writes = [("POST", PROPOSALS_PATH, t, b, 201) for b, t in (world.submission(rng) for _ in kinds)]
                submit_single = one_at_a_time(gateway, writes)
                similar_single = one_at_a_time(gateway, similar)
                say(f"  submission   {ms(submit_single)}")
                say(f"  similar      {ms(similar_single)}  (烟柳园, {proposals:,} proposals)")

                say(f"closed loop, {threads} clients: {requests} realistic submissions, then {requests} into one")
                cpu_before = cpu_now(servers, kannel)
                rate, loaded = closed_loop(gateway, [world.submission(rng) for _ in range(requests)], threads)
                cpu = cpu_per(cpu_before, cpu_now(servers, kannel), requests)
                say(f"  realistic    {rate:6,.0f} submissions/s  {ms(loaded)}")
                say("  CPU ms per submission (with its SMS and delivery reports): " + say_cpu(cpu))
                worst_bodies = [
                    (json.dumps({"community_code": COMMUNITY, "title": f"小区{i % 16 + 1}号楼门前路灯不亮,夜间出行不便",
                                 "description": "居民反映情况已持续两周,希望社区协调物业尽快处理。",
                                 "category": "environment"}, ensure_ascii=False).encode(), world.worker_token)
                    for i in range(requests)
                ]  # fmt: skip
                cpu_before = cpu_now(servers, kannel)
                worst_rate, worst = closed_loop(gateway, worst_bodies, threads)
                cpu = cpu_per(cpu_before, cpu_now(servers, kannel), requests)
                say(f"  one community, near-identical: {worst_rate:6,.0f} submissions/s  {ms(worst)}")
                say("  CPU ms per submission (a worker's: no SMS): " + say_cpu(cpu))

                e2e = {}
                for offered in RATES:
                    waited = caught_up(settings.database_url("notify"))
                    say(f"  (notify caught up with the phases before in {waited:.0f} s)")
                    count = int(offered * OPEN_SECONDS)
                    sent, answered, achieved = open_loop(
                        gateway, [world.submission(rng) for _ in range(count)], offered
                    )
                    to_inbox, to_sms, in_queue, missing = arrivals(
                        settings.database_url("intake"), settings.database_url("notify"), sent
                    )
                    say(
                        f"open loop {offered}/s offered ({achieved:.0f}/s sent, {count} submissions): "
                        f"201 {ms(answered)}; inbox {ms(to_inbox)}; SMS accepted by Kannel {ms(to_sms)} "
                        f"(of which queued for the sender {ms(in_queue)})"
                        + (f"; {missing} not arrived within {SETTLE_SECONDS:.0f} s" if missing else "")
                    )
                    e2e[offered] = (answered, to_inbox, to_sms, missing)
                say(f"index: {indexed_count(settings.database_url('intake')):,} live proposals indexed by the worker")

                p50 = percentile(submit_single, 50)
                s95 = percentile(similar_single, 95)
                answered, to_inbox, to_sms, missing = e2e[RATES[-1]]
                worst_e2e = max(percentile(to_inbox, 99), percentile(to_sms, 99)) if to_sms else float("inf")
                say("")
                say("goals (issue #13):")
                say(f"  >= {GOALS['rate']:.0f} submissions/s, realistic: {rate:.0f}: {verdict(rate >= GOALS['rate'])}"
                    f" (one community, near-identical: {worst_rate:.0f}/s)")  # fmt: skip
                say(f"  submission p50 <= {GOALS['submit_p50']:.0f} ms, one client: {p50:.1f}: "
                    f"{verdict(p50 <= GOALS['submit_p50'])}")  # fmt: skip
                say(f"  similar p95 <= {GOALS['similar_p95']:.0f} ms among {proposals:,}: {s95:.1f}: "
                    f"{verdict(s95 <= GOALS['similar_p95'])}")  # fmt: skip
                say(f"  end to end p99 <= {GOALS['e2e_p99']:.0f} ms at {RATES[-1]}/s (slowest of inbox and SMS): "
                    f"{worst_e2e:.0f}: {verdict(worst_e2e <= GOALS['e2e_p99'] and not missing)}")  # fmt: skip
                figures = {"rate": rate, "worst_rate": worst_rate, "submit_p50": p50, "similar_p95": s95,
                           "e2e_p99": worst_e2e}  # fmt: skip
                record("submission", "submissions through the gateway, realistic, closed loop", rate, "per s",
                       goal=GOALS["rate"], better="higher", note=f"{threads} clients")  # fmt: skip
                record("submission", "submissions into one community, near-identical", worst_rate, "per s")
                record("submission", "submission p50, one client", p50, "ms", goal=GOALS["submit_p50"])
                record("submission", f"similar look-up p95 among {proposals:,}", s95, "ms", goal=GOALS["similar_p95"])
                record("submission", f"end to end p99 at {RATES[-1]}/s (inbox and SMS)", worst_e2e, "ms",
                       goal=GOALS["e2e_p99"], note=f"{missing} not arrived" if missing else "")  # fmt: skip
                RESULTS.peak_memory("submission", servers.peaks())
    finally:
        scratch.drop_all()
    say(f"(total {time.perf_counter() - started:.0f} s; processes stopped, scratch databases and bus names removed)")
    return figures
