"""Fan-out benchmark: one ``meetings.consultation.announced`` to the 35,000 subscribers of one community.

``python -m bench.fanout [--subscribers N] [--rounds R] [--profile] [--database-url URL]``

On the real PostgreSQL (``XIESHANG_BENCH_DATABASE_URL``) in a scratch database ``xs_fanout_<random>``,
migrated with notify's Alembic scripts (``Platform.migrate``) and dropped at the end:

1. load (untimed): N resident contacts of ONE community (35,000: the population of 池阳街道), written
   in bulk as the directory stores them (number encrypted with ``PhoneVault.encrypt`` under the
   contact's id, keyed hash from ``PhoneVault.digest``, the columns of ``repository._values``). Every
   contact has channel sms, ~70% also app with an app account; ~3% opted out of the ``community``
   category; ~1% replied 退订 (``sms_stop``). Quiet hours are off (start = end) so every SMS is
   queued, not deferred, whatever the time of day. The announcement invites 12 people: 10 residents
   of the directory (who also subscribe: told once, by the invitation) and 2 accounts without a
   contact entry (app only).
2. fan-out (timed, median of R rounds): ``consumer.apply(envelope)`` with notify's real consumer
   and handlers, one transaction, from the call until it returns (after commit): the inbox row, the
   invitees' rows (``uow.insert_once``), and the subscribers' in-app and queued SMS rows expanded
   inside the database (``INSERT … SELECT`` from the directory joined to ``sms_stop``, ON CONFLICT DO
   NOTHING; ``fan_out_app``/``fan_out_sms`` in services/notify/repository.py). The rows written
   are counted and checked against what the contact mix implies. Each round uses a new event id;
   between rounds the event's rows are deleted and the tables vacuumed.
3. raw (timed, median of R rounds, same run): N ready-made ``notification`` rows (the announcement's
   body, one per subscriber) inserted with SQLAlchemy Core ``session.execute(insert(notifications),
   rows)`` in one transaction, committed. For information also a psycopg ``COPY notification FROM
   STDIN`` of the same N rows (PostgreSQL only).

Goals (the issue): fan-out ≤ 2x raw, and under 10 s. Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from sqlalchemy import delete, func, insert, select, text

import services.notify.spec
from bench.infra import ScratchDatabases, add_database_url, run_id
from bench.results import record
from services.notify import domain, repository, sms
from services.notify.domain import Contact
from services.notify.models import contacts, notifications, sms_messages, sms_stops
from services.notify.phones import PhoneVault, vault_for
from shared.config import load_settings
from shared.events import Envelope, new_event
from shared.sql import insert_ignoring_duplicates
from xieshang.platform import Platform

COMMUNITY = "341702001001"  # 烟柳园社区 (sample code); 35,000 = the population of 池阳街道
SUBSCRIBERS = 35_000
EVENT_TYPE = "meetings.consultation.announced"
APP_SHARE, OPT_OUT_SHARE, STOP_SHARE = 0.70, 0.03, 0.01
INVITED_RESIDENTS, INVITED_OTHERS = 10, 2
QUIET_OFF = "00:00"  # quiet_start == quiet_end: no quiet hours (sms.quiet_until)
LOAD_BATCH = 5_000
GOAL_RATIO = 2.0
GOAL_SECONDS = 10.0
TITLE = "红光市场管网改造议事会"
STARTS_AT = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 12月1日 09:00 in Beijing
VENUE = "烟柳园社区党群服务中心"
# The inbox's columns, in table order (COPY writes them positionally).
NOTIFICATION_COLUMNS = tuple(column.name for column in notifications.columns)


def say(line: str = "") -> None:
    print(line, flush=True)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


@dataclass
class Expected:
    """What the announcement must write, worked out from the directory as loaded."""

    app: set[str] = field(default_factory=set)  # recipient ids of in-app rows
    sms: set[str] = field(default_factory=set)  # contact ids of SMS rows
    with_app: int = 0
    opted_out: int = 0
    stopped: int = 0


@dataclass
class Figures:
    subscribers: int
    rounds: int
    load_seconds: float = 0.0
    inbox_rows: int = 0
    sms_rows: int = 0
    fanout: list[float] = field(default_factory=list)
    raw: list[float] = field(default_factory=list)
    copy: list[float] = field(default_factory=list)
    same_rows: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return median(self.fanout) / median(self.raw)


def directory(vault: PhoneVault, n: int, rng: random.Random, now: datetime) -> tuple[list[dict], list[dict], list]:
    """N resident contacts of COMMUNITY as ``contact`` rows, the ``sms_stop`` rows of ~1% of their
    numbers, and the (contact, stopped) pairs for working out what must be written."""
    rows, stops, people = [], [], []
    numbers = rng.sample(range(10**9), n)
    for i, number in enumerate(numbers):
        phone = f"1{'3456789'[number % 7]}{number:09d}"
        app = rng.random() < APP_SHARE
        created = now - timedelta(seconds=n - i)
        contact = Contact(
            id=str(uuid.uuid4()),
            kind="resident",
            community_code=COMMUNITY,
            department_id=None,
            app_user_id=f"resident-{i:06d}" if app else None,
            channels=("sms", "app") if app else ("sms",),
            quiet_start=QUIET_OFF,
            quiet_end=QUIET_OFF,
            opt_outs=("community",) if rng.random() < OPT_OUT_SHARE else (),
            created_at=created,
            updated_at=created,
        )
        digest = vault.digest(phone)
        rows.append(
            {
                "id": contact.id,
                "phone_cipher": vault.encrypt(phone, contact.id),
                "phone_hash": digest,
                "created_at": contact.created_at,
                "removed_at": None,
                "live": True,
                **repository._values(contact),
            }
        )
        stopped = rng.random() < STOP_SHARE
        if stopped:
            stops.append({"phone_hash": digest, "keyword": "退订", "stopped_at": now})
        people.append((contact, stopped))
    return rows, stops, people


def expected_rows(people: list, invitees: list[str]) -> Expected:
    """In-app rows per account and SMS rows per contact (each once per event), by the routing rules:
    the invitees first (category consultation), then every subscriber (category community)."""
    expected = Expected()
    by_account = {contact.app_user_id: (contact, stopped) for contact, stopped in people if contact.app_user_id}
    told = [(by_account.get(who, (None, False)), who, "consultation") for who in invitees]
    told += [((contact, stopped), contact.app_user_id, "community") for contact, stopped in people]
    for (contact, stopped), account, category in told:
        if account and domain.wants(contact, "app", category):
            expected.app.add(account)
        if contact is not None and not stopped and domain.wants(contact, "sms", category):
            expected.sms.add(contact.id)
    for contact, stopped in people:
        expected.with_app += contact.app_user_id is not None
        expected.opted_out += "community" in contact.opt_outs
        expected.stopped += stopped
    return expected


def announcement(invitees: list[str]) -> Envelope:
    return new_event(
        EVENT_TYPE,
        {
            "consultation_id": str(uuid.uuid4()),
            "community_code": COMMUNITY,
            "proposal_ids": [str(uuid.uuid4())],
            "title": TITLE,
            "form": "community_council",
            "mode": "offline",
            "starts_at": STARTS_AT.isoformat(),
            "venue": VENUE,
            "invitee_ids": invitees,
        },
        producer="meetings",
        division_code=COMMUNITY,
    )


class FanoutBench:
    """Notify's database at ``notify_url`` (PostgreSQL, or SQLite for the smoke test), migrated and
    loaded with ``subscribers`` resident contacts of one community."""

    def __init__(self, notify_url: str, data_dir: Path, subscribers: int, rounds: int, seed: int = 20240601):
        self.rng = random.Random(seed)
        self.settings = load_settings(
            {
                "XIESHANG_DATA_DIR": str(data_dir),
                "XIESHANG_AMQP_URL": "memory://",
                "XIESHANG_BUS_NAMESPACE": f"xsfanout{run_id()}",
                "XIESHANG_NOTIFY_DATABASE_URL": notify_url,
                "XIESHANG_NOTIFY_PHONE_KEY": base64.b64encode(os.urandom(32)).decode(),
            }
        )
        self.platform = Platform(self.settings)
        self.platform.migrate(["notify"])
        self.notify = self.platform.runtime("notify")
        self.db = self.notify.db
        self.postgres = not self.db.is_sqlite
        self.vault = vault_for(self.settings)
        self.figures = Figures(subscribers, rounds)
        self.invitees: list[str] = []
        self.expected = Expected()
        self.raw_rows: list[dict] = []
        self.written: dict = {}  # table -> the rows the last fan-out wrote

    def close(self) -> None:
        self.platform.stop()
        self.db.engine.dispose()

    # -- setup (untimed) ----------------------------------------------------------------------------
    def load(self) -> None:
        started = time.perf_counter()
        now = datetime.now(UTC)
        rows, stops, people = directory(self.vault, self.figures.subscribers, self.rng, now)
        with self.db.transaction() as session:
            for first in range(0, len(rows), LOAD_BATCH):
                session.execute(insert(contacts), rows[first : first + LOAD_BATCH])
            if stops:
                session.execute(insert(sms_stops), stops)
        app_users = [contact.app_user_id for contact, _ in people if contact.app_user_id]
        residents = self.rng.sample(app_users, min(INVITED_RESIDENTS, len(app_users)))
        self.invitees = residents + [f"worker-{i}" for i in range(INVITED_OTHERS)]
        self.expected = expected_rows(people, self.invitees)
        self.vacuum()
        self.figures.load_seconds = time.perf_counter() - started
        body = domain.render(
            "community_announced",
            title=TITLE,
            form_name=domain.form_name("community_council"),
            starts_at=domain.local_time(STARTS_AT),
            place=VENUE,
        )
        event_id = str(uuid.uuid4())
        self.raw_rows = [
            {
                "id": str(uuid.uuid4()),
                "recipient_id": contact.app_user_id or contact.id,
                "channel": "app",
                "template": "community_announced",
                "body": body,
                "division_code": COMMUNITY,
                "event_id": event_id,
                "created_at": now,
                "read_at": None,
            }
            for contact, _ in people
        ]

    def vacuum(self) -> None:
        if not self.postgres:
            return
        with self.db.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))

    def count(self, table, event_id: str) -> int:
        with self.db.sessions() as session:
            return session.scalar(select(func.count()).select_from(table).where(table.c.event_id == event_id))

    def clear(self) -> None:
        """Remove every inbox notification, SMS and consumer inbox row: the next round starts as the first."""
        with self.db.transaction() as session:
            for table in (notifications, sms_messages, services.notify.spec.SPEC.tables.inbox):
                session.execute(delete(table))
        self.vacuum()

    # -- fan-out (timed) ------------------------------------------------------------------------------
    def fan_out(self, profiler: cProfile.Profile | None = None) -> float:
        envelope = announcement(self.invitees)
        body = envelope.to_dict()
        consumer = self.notify.consumer()
        if profiler is not None:
            profiler.enable()
        started = time.perf_counter()
        outcome = consumer.apply(body)
        elapsed = time.perf_counter() - started
        if profiler is not None:
            profiler.disable()
        if outcome != "processed":
            raise RuntimeError(f"the announcement was {outcome}, not processed")
        inbox, sms_rows = self.count(notifications, envelope.id), self.count(sms_messages, envelope.id)
        want_inbox, want_sms = len(self.expected.app), len(self.expected.sms)
        if (inbox, sms_rows) != (want_inbox, want_sms):
            raise RuntimeError(
                f"fan-out wrote {inbox} inbox rows and {sms_rows} SMS, expected {want_inbox} and {want_sms}"
            )
        with self.db.sessions() as session:
            deferred = session.scalar(
                select(func.count())
                .select_from(sms_messages)
                .where(sms_messages.c.event_id == envelope.id, sms_messages.c.status != sms.QUEUED)
            )
        if deferred:
            raise RuntimeError(f"{deferred} SMS were not queued (quiet hours are meant to be off)")
        self.figures.inbox_rows, self.figures.sms_rows = inbox, sms_rows
        self.written = {}
        with self.db.sessions() as session:
            for table in (notifications, sms_messages):
                query = select(table).where(table.c.event_id == envelope.id)
                self.written[table] = [dict(row) for row in session.execute(query).mappings()]
        return elapsed

    # -- raw (timed) -----------------------------------------------------------------------------------
    def raw_insert(self) -> float:
        started = time.perf_counter()
        with self.db.transaction() as session:
            session.execute(insert(notifications), self.raw_rows)
        elapsed = time.perf_counter() - started
        self._check_raw("raw insert")
        return elapsed

    def raw_copy(self) -> float:
        rows = [tuple(row[name] for name in NOTIFICATION_COLUMNS) for row in self.raw_rows]
        columns = ", ".join(NOTIFICATION_COLUMNS)
        url = self.db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(url) as conn:
            started = time.perf_counter()
            with conn.cursor() as cursor, cursor.copy(f"COPY notification ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            conn.commit()
            elapsed = time.perf_counter() - started
        self._check_raw("COPY")
        return elapsed

    def same_rows(self) -> float:
        """The rows the last fan-out wrote, prepared in Python and sent over the wire
        (``insert_ignoring_duplicates``: INSERT .. ON CONFLICT DO NOTHING, one statement per table):
        what expanding the subscribers inside the database saves."""
        started = time.perf_counter()
        with self.db.transaction() as session:
            for table, rows in self.written.items():
                insert_ignoring_duplicates(session, table, rows)
        elapsed = time.perf_counter() - started
        for table, rows in self.written.items():
            written = self.count(table, rows[0]["event_id"]) if rows else 0
            if written != len(rows):
                raise RuntimeError(f"same rows: {written} {table.name} rows written, expected {len(rows)}")
        return elapsed

    def _check_raw(self, what: str) -> None:
        written = self.count(notifications, self.raw_rows[0]["event_id"])
        if written != len(self.raw_rows):
            raise RuntimeError(f"{what} wrote {written} rows, expected {len(self.raw_rows)}")

    # ---------------------------------------------------------------------------------------------------
    def run(self) -> Figures:
        figures = self.figures
        for round_ in range(1, figures.rounds + 1):
            fanout = self.fan_out()
            figures.fanout.append(fanout)
            self.clear()
            same = self.same_rows()
            figures.same_rows.append(same)
            self.clear()
            raw = self.raw_insert()
            figures.raw.append(raw)
            self.clear()
            line = (
                f"  round {round_}/{figures.rounds}: fan-out {fanout:6.2f} s, its rows again {same:6.2f} s, "
                f"raw insert {raw:6.2f} s"
            )
            if self.postgres:
                copied = self.raw_copy()
                figures.copy.append(copied)
                self.clear()
                line += f", COPY {copied:6.2f} s"
            say(line)
        return figures

    def profile(self) -> None:
        from bench.bus import print_profile

        say("\nprofile: fan-out (cProfile, consumer.apply of one announcement)")
        profiler = cProfile.Profile()
        elapsed = self.fan_out(profiler)
        self.clear()
        say(f"(profiled fan-out: {elapsed:.2f} s, not comparable)")
        print_profile(profiler)


def report(figures: Figures, expected: Expected, postgres: str) -> str:
    n = figures.subscribers
    fanout, raw = median(figures.fanout), median(figures.raw)
    many = f"median of {figures.rounds}" if figures.rounds > 1 else "1 run"
    lines = [
        f"fan-out benchmark: one {EVENT_TYPE} to the {n:,} resident contacts of community {COMMUNITY}, "
        f"PostgreSQL {postgres}",
        f"subscribers       {n:>7,}  ({expected.with_app:,} with an app account, {expected.opted_out:,} opted out of "
        f"'community', {expected.stopped:,} on the sms_stop list; quiet hours off; "
        f"+{INVITED_RESIDENTS + INVITED_OTHERS} invitees, {INVITED_RESIDENTS} of them subscribers)",
        f"inbox rows        {figures.inbox_rows:>7,}  (notification, channel app)",
        f"SMS rows          {figures.sms_rows:>7,}  (sms_message, all queued)",
        f"fan-out           {fanout:7.2f} s  consumer.apply of the event, one transaction, until commit  [{many}]",
        f"raw               {raw:7.2f} s  {n:,} prepared notification rows, SQLAlchemy Core "
        f"session.execute(insert(notification), rows), one transaction, until commit  [{many}]",
    ]
    if figures.copy:
        lines.append(
            f"(for information: psycopg COPY notification FROM STDIN of the same {n:,} rows: "
            f"{median(figures.copy):.2f} s [{many}])"
        )
    lines.append(
        f"(for information: the fan-out's own {figures.inbox_rows + figures.sms_rows:,} rows, prepared in Python "
        f"and sent as INSERT .. ON CONFLICT DO NOTHING per table, one transaction: "
        f"{median(figures.same_rows):.2f} s [{many}]; the fan-out expands them inside the database instead)"
    )
    lines += [
        f"ratio             {figures.ratio:7.2f}x fan-out / raw",
        f"goal: fan-out <= {GOAL_RATIO:.0f}x raw: {verdict(figures.ratio <= GOAL_RATIO)}",
        f"goal: fan-out < {GOAL_SECONDS:.0f} s: {verdict(fanout < GOAL_SECONDS)}",
        f"(untimed load of the directory: {figures.load_seconds:.1f} s: numbers encrypted, bulk insert, "
        "VACUUM ANALYZE)",
    ]
    record("fanout", f"fan-out of one announcement to {n:,} residents against raw inserts", figures.ratio, "×",
           goal=GOAL_RATIO, note=f"{fanout:.2f} s against {raw:.2f} s")  # fmt: skip
    record("fanout", f"fan-out of one announcement to {n:,} residents", fanout, "s", goal=GOAL_SECONDS)
    return "\n".join(lines)


def run(*, subscribers: int = SUBSCRIBERS, rounds: int = 3, database_url: str, profile: bool = False) -> Figures:
    scratch = ScratchDatabases(database_url)
    started = time.perf_counter()
    name = f"xs_fanout_{run_id()}"
    try:
        url = scratch.create(name)
        with tempfile.TemporaryDirectory(prefix="xs-fanout-") as data_dir:
            say(
                f"fan-out benchmark: {subscribers:,} subscribers, {rounds} rounds, "
                f"PostgreSQL {scratch.server_version}, scratch database {name}"
            )
            bench = FanoutBench(url, Path(data_dir), subscribers, rounds)
            try:
                bench.load()
                say(f"  loaded {subscribers:,} contacts in {bench.figures.load_seconds:.1f} s (untimed)")
                figures = bench.run()
                say()
                say(report(figures, bench.expected, scratch.server_version))
                if profile:
                    bench.profile()
                elif figures.ratio > GOAL_RATIO:
                    say("(--profile shows where the fan-out's time goes)")
            finally:
                bench.close()
    finally:
        scratch.drop_all()
    say(f"(total {time.perf_counter() - started:.0f} s; scratch database dropped)")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fanout", description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=SUBSCRIBERS, help="resident contacts (35,000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; medians are reported (3)")
    parser.add_argument("--profile", action="store_true", help="profile one more fan-out under cProfile")
    add_database_url(parser)
    args = parser.parse_args(argv)
    if args.subscribers <= 0 or args.rounds <= 0:
        parser.error("--subscribers and --rounds must be positive")
    run(subscribers=args.subscribers, rounds=args.rounds, database_url=args.database_url, profile=args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
