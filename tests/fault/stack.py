"""The platform under fault: every target in its own process on the suite's RabbitMQ node and its
own PostgreSQL databases, SMS through a real Kannel, and the people and consultation of the load.

``Stack`` starts the services' APIs and workers, then the gateway in front of them (the load's
door; a second gateway can be started beside it for a rollout), registers the load's residents the
way residents do (an SMS code through notify and Kannel, then ``/auth/register``, which puts each
number in notify's directory) and opens an online consultation of 烟柳园 with a round for their
opinions. Kannel's delivery reports go straight to notify's API (its signed callback routes), so
a gateway restarted on another port does not strand them.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import requests
from kombu import Connection, Exchange
from kombu import Queue as KombuQueue
from sqlalchemy.engine import make_url

from shared.auth import TokenIssuer
from shared.config import load_settings
from shared.keys import KeyStore
from shared.principal import Principal
from tests.conftest import YANLIUYUAN
from tests.fault.broker import OwnBroker
from tests.integration.processes import Processes
from tests.kannel import SERVICE_NUMBER, Kannel
from tests.support import free_port, wait_until
from xieshang.platform import Platform

SERVICES = ("intake", "meetings", "tracking", "notify")
APIS = tuple(f"{s}-api" for s in SERVICES)
WORKERS = tuple(f"{s}-worker" for s in SERVICES)
SIGNATURE = "池州社区协商"
PASSWORD = "fault-suite-密码-2026"
CONSULTATIONS = "/api/v1/meetings/consultations"


@dataclass(frozen=True)
class Resident:
    """A resident of the load: a registered account with her number in notify's directory."""

    username: str
    display_name: str
    phone: str
    account_id: str
    token: str


def phone_numbers(count: int, prefix: str) -> list[str]:
    """Distinct mobile numbers of the load (``prefix`` keeps suites apart in one machine's Kannel logs)."""
    return [f"{prefix}{i:04d}" for i in range(count)]


class Databases:
    """One fresh PostgreSQL database per owner (the four services and the gateway), dropped at the end."""

    OWNERS = (*SERVICES, "gateway")

    def __init__(self, postgres_url: str):
        self.admin_dsn = make_url(postgres_url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.base = make_url(postgres_url)
        self.names = {owner: f"xs_fault_{owner}_{uuid.uuid4().hex[:8]}" for owner in self.OWNERS}
        with psycopg.connect(self.admin_dsn, autocommit=True) as admin:
            for name in self.names.values():
                admin.execute(f'CREATE DATABASE "{name}"')

    def url(self, owner: str) -> str:
        return self.base.set(drivername="postgresql+psycopg", database=self.names[owner]).render_as_string(False)

    def env(self) -> dict[str, str]:
        return {f"XIESHANG_{owner.upper()}_DATABASE_URL": self.url(owner) for owner in self.OWNERS}

    def cut_connections(self) -> int:
        """``pg_terminate_backend`` every connection to these databases (never anyone else's); how many."""
        with psycopg.connect(self.admin_dsn, autocommit=True) as admin:
            rows = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = ANY(%s) AND pid <> pg_backend_pid()",
                (list(self.names.values()),),
            ).fetchall()
        return sum(1 for (done,) in rows if done)

    def drop(self) -> None:
        with psycopg.connect(self.admin_dsn, autocommit=True) as admin:
            for name in self.names.values():
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Targets(Processes):
    """``tests.integration.processes.Processes`` plus a graceful stop (SIGTERM) that reports the exit."""

    def terminate(self, target: str, timeout: float = 40.0) -> int:
        process = self.running.pop(target)
        os.killpg(process.pid, signal.SIGTERM)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
            raise AssertionError(f"{target} did not stop within {timeout}s of SIGTERM") from None

    def pids(self, target: str) -> list[int]:
        """The process and its children (gunicorn's worker): every process of the target's group."""
        group = self.running[target].pid
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if os.getpgid(int(entry.name)) == group:
                        found.append(int(entry.name))
                except ProcessLookupError:
                    continue
        return sorted(found)


class Stack:
    def __init__(self, workdir: Path, broker: OwnBroker, postgres_url: str, *, residents: int, phone_prefix: str):
        self.workdir = workdir
        self.broker = broker
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.databases = Databases(postgres_url)
        self.phone_key = base64.b64encode(os.urandom(32)).decode()
        self.env = {
            "XIESHANG_DATA_DIR": str(workdir / "var"),
            "XIESHANG_AMQP_URL": broker.url,
            "XIESHANG_BUS_NAMESPACE": f"f{uuid.uuid4().hex[:10]}",
            # Enough back-off steps that an event met by a cut database connection is retried, not
            # dead-lettered, while the connection comes back.
            "XIESHANG_RETRY_DELAYS": "0.5,1,2,4,8",
            "XIESHANG_RELAY_INTERVAL": "0.2",
            "XIESHANG_RATE_LIMIT": "100000",
            "XIESHANG_NOTICE_DAYS": "0",
            "XIESHANG_NOTIFY_PHONE_KEY": self.phone_key,
            "XIESHANG_SMS_SIGNATURE": SIGNATURE,
            "XIESHANG_SMS_POLL_SECONDS": "0.2",
            "XIESHANG_SMS_LEASE_SECONDS": "5",
            "XIESHANG_SMS_RATE": "50",
            "XIESHANG_LOG_LEVEL": "INFO",  # the request lines the personal-data scan reads
            **self.databases.env(),
        }
        self.settings = load_settings(self.env)
        self.processes = Targets(self.env, self.logs)
        self.kannel: Kannel | None = None
        self.urls: dict[str, str] = {}
        self.gateways: list[str] = []
        self.residents: list[Resident] = []
        self.phone_prefix = phone_prefix
        self.resident_count = residents
        self.consultation: dict = {}
        self._gateway_serial = 0

    # -- life cycle ----------------------------------------------------------------------------------

    def start(self) -> Stack:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        KeyStore(self.settings.keys_dir).current()  # the gateway's signing key, before any process reads it
        platform = Platform(self.settings)
        platform.migrate()
        platform.stop()
        self.kannel = Kannel(self.workdir / "kannel", "http://127.0.0.1:9/unused").start()
        self._observe_events()
        for target in (*APIS, *WORKERS):
            self.start_target(target)
        self.gateways.append(self.start_gateway())
        assert "divisions read" in self.processes.cli("divisions", "load")
        self._register_residents()
        self._open_consultation()
        return self

    def target_env(self, target: str) -> dict[str, str]:
        if target not in {"notify-api", "notify-worker"}:
            return {}
        assert self.kannel is not None
        return {
            "XIESHANG_SMS_PROVIDER": "kannel",
            "XIESHANG_SMS_URL": self.kannel.sendsms_url,
            "XIESHANG_SMS_USERNAME": self.kannel.username,
            "XIESHANG_SMS_PASSWORD": self.kannel.password,
            "XIESHANG_SMS_SENDER": SERVICE_NUMBER,
            "XIESHANG_SMS_CALLBACK_URL": f"http://127.0.0.1:{self.port_of('notify-api')}/api/v1/notify/sms",
        }

    def port_of(self, target: str) -> int:
        """The target's port, kept across restarts (the gateway's upstream URLs name it)."""
        if target not in self.processes.ports:
            self.processes.ports[target] = free_port()
        return self.processes.ports[target]

    def start_target(self, target: str) -> str:
        url = self.processes.start(target, port=self.port_of(target), **self.target_env(target))
        self.urls[target] = url
        return url

    def start_gateway(self) -> str:
        """A gateway in front of the APIs, as ``gateway`` (the first) or ``gateway-<n>`` (beside it)."""
        upstreams = {f"XIESHANG_{s.upper()}_URL": f"http://127.0.0.1:{self.port_of(f'{s}-api')}" for s in SERVICES}
        name = "gateway" if not self._gateway_serial else f"gateway-{self._gateway_serial}"
        self._gateway_serial += 1
        url = self.processes.start("gateway", port=free_port(), name=name, **upstreams)
        self.urls[name] = url
        return url

    def running(self) -> list[str]:
        return list(self.processes.running)

    def kill(self, target: str) -> None:
        self.processes.kill(target)

    def stop(self) -> None:
        self.processes.stop_all()
        if self.kannel is not None:
            self.kannel.stop()
        self.databases.drop()

    # -- what the platform published --------------------------------------------------------------------

    @property
    def observer_queue(self) -> str:
        return f"{self.env['XIESHANG_BUS_NAMESPACE']}.scan"

    def _observe_events(self) -> None:
        """A durable queue bound to every event of the stack's exchange (it outlives the broker's
        restart), read by the personal-data scan."""
        with Connection(self.env["XIESHANG_AMQP_URL"]) as conn:
            channel = conn.channel()
            exchange = Exchange(f"{self.env['XIESHANG_BUS_NAMESPACE']}.events", type="topic", durable=True)
            exchange(channel).declare()
            KombuQueue(self.observer_queue, exchange, routing_key="#", durable=True)(channel).declare()

    def published_events(self) -> list[tuple[dict, str]]:
        """Every event published so far (headers and body as they crossed the broker), taken off the queue."""
        taken = []
        with Connection(self.env["XIESHANG_AMQP_URL"]) as conn:
            channel = conn.channel()
            while (message := channel.basic_get(self.observer_queue, no_ack=True)) is not None:
                body = message.body if isinstance(message.body, str) else message.body.decode(errors="replace")
                taken.append(({**message.properties, **message.headers}, body))
        return taken

    # -- people --------------------------------------------------------------------------------------

    def token(self, role: str, scope: str = YANLIUYUAN, subject: str | None = None, ttl: int = 7200) -> str:
        """A break-glass token signed with the gateway's key (operators' ``xieshang auth token``)."""
        principal = Principal(subject or f"{role}-{uuid.uuid4().hex[:6]}", role, scope)
        return TokenIssuer(KeyStore(self.settings.keys_dir)).issue(principal, ttl=ttl)

    @property
    def gateway(self) -> str:
        return self.gateways[0]

    def call(self, method: str, path: str, token: str | None = None, json: dict | None = None) -> tuple[int, dict]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = requests.request(method, self.gateway + path, json=json, headers=headers, timeout=30)
        body = response.json() if response.content else {}
        return response.status_code, body

    def ok(self, method: str, path: str, token: str | None = None, json: dict | None = None, status: int = 200):
        code, body = self.call(method, path, token, json)
        assert code == status, f"{method} {path}: {code} {body}"
        return body

    def _register_residents(self) -> None:
        assert self.kannel is not None
        names = ("柳红梅", "汪建国", "桂秀兰", "章立新", "程晓燕", "方德明", "吴玉芬", "曹志强", "姚春花", "潘国栋",
                 "檀雪琴", "邢家和")  # fmt: skip
        for i, phone in enumerate(phone_numbers(self.resident_count, self.phone_prefix)):
            before = len(self.kannel.received())
            self.ok("POST", "/api/v1/auth/verification-codes", json={"phone": phone}, status=202)
            sms = wait_until(
                lambda b=before, p=phone: [m for m in self.kannel.received()[b:] if m.receiver == p],
                timeout=30, what=f"the verification code for resident {i}",
            )  # fmt: skip
            code = re.search(r"\d{6}", sms[0].text).group()
            username = f"fault-{self.phone_prefix}-{i}"
            display = names[i % len(names)]
            account = self.ok("POST", "/api/v1/auth/register", status=201, json={
                "phone": phone, "code": code, "username": username, "password": PASSWORD,
                "community_code": YANLIUYUAN, "display_name": display,
            })  # fmt: skip
            login = self.ok("POST", "/api/v1/auth/token", json={"username": username, "password": PASSWORD})
            # No quiet hours: the load's SMS go out at once, whatever the hour in Beijing.
            self.ok("PATCH", "/api/v1/notify/contacts/me", login["access_token"],
                    json={"quiet_start": "00:00", "quiet_end": "00:00"})  # fmt: skip
            self.residents.append(Resident(username, display, phone, account["id"], login["access_token"]))

    def relogin(self) -> None:
        """Fresh access tokens for the residents (they live 15 minutes; the soak runs longer)."""
        fresh = []
        for r in self.residents:
            login = self.ok("POST", "/api/v1/auth/token", json={"username": r.username, "password": PASSWORD})
            fresh.append(Resident(r.username, r.display_name, r.phone, r.account_id, login["access_token"]))
        self.residents[:] = fresh  # in place: a running load reads this list

    def _open_consultation(self) -> None:
        """An online consultation of 烟柳园 announced with one topic and a round open for hours."""
        worker = self.token("community_worker", subject="fault-organiser")
        proposal = self.ok("POST", "/api/v1/intake/proposals", self.residents[0].token, status=201, json={
            "community_code": YANLIUYUAN, "title": "杏花家园停车场建设", "description": "居民反映停车难",
            "category": "management",
        })  # fmt: skip
        self.ok("POST", f"/api/v1/intake/proposals/{proposal['id']}/accept", worker)
        starts = datetime.now(UTC) + timedelta(hours=2)
        consultation = self.ok("POST", CONSULTATIONS, worker, status=201, json={
            "division_code": YANLIUYUAN, "title": "杏花家园停车场线上协商", "form": "online",
            "mode": "online", "starts_at": starts.isoformat(), "online_link": "https://meet.example/xinghua",
            "materials": ["https://docs.example/parking.pdf"], "rule": {"method": "consensus"},
        })  # fmt: skip
        cid = consultation["id"]
        wait_until(lambda: self.call("POST", f"{CONSULTATIONS}/{cid}/topics", worker,
                                     {"proposal_id": proposal["id"]})[0] == 201,
                   timeout=30, interval=0.3, what="the accepted proposal in meetings")  # fmt: skip
        for r in self.residents[:3]:
            invitation = {"person_id": r.account_id, "category": "resident_representative"}
            wait_until(lambda i=invitation: self.call("POST", f"{CONSULTATIONS}/{cid}/participants", worker, i)[0]
                       == 201, timeout=30, interval=0.3, what="the contact in meetings' replica")  # fmt: skip
        self.ok("POST", f"{CONSULTATIONS}/{cid}/announce", worker)
        now = datetime.now(UTC)
        self.ok(
            "POST",
            f"{CONSULTATIONS}/{cid}/rounds",
            worker,
            status=201,
            json={"opens_at": now.isoformat(), "closes_at": (now + timedelta(hours=1, minutes=50)).isoformat()},
        )
        topic = self.ok("GET", f"{CONSULTATIONS}/{cid}", worker)["topics"][0]["id"]
        self.consultation = {"id": cid, "topic_id": topic, "proposal_id": proposal["id"]}
