"""Bus benchmark: the outbox relay against raw publishing, the inbox consumer against raw consuming.

Four phases on the real RabbitMQ and PostgreSQL, each moving N real ``intake.proposal.submitted``
envelopes through the queue ``<namespace>.notify``:

1. publish, raw: ``Publisher.publish`` in windows of ``XIESHANG_RELAY_BATCH`` (500) messages,
   i.e. publish a window, then wait for all its confirms. This is the floor the relay builds on.
2. consume, raw: a kombu consumer (prefetch ``XIESHANG_PREFETCH``, 32) that only acks; it empties
   the queue phase 1 filled.
3. publish, relay: N events written (untimed) to intake's outbox with ``UnitOfWork.emit`` in
   transactions of 1,000, then ``Relay.drain()`` timed until every row is published and marked.
4. consume, inbox: notify's ``Consumer`` with its real handler (an inbox row plus a notification
   row per event, one transaction each) empties the queue phase 3 filled.

The phases are noisy (RabbitMQ's fsyncs on a small machine), so they run ``rounds`` times,
interleaved, and the median is reported; each round's inbox consumer empties what its relay published.
The raw publisher and the relay each keep one channel for all rounds, as a long-running relay does.
Publishing is timed from the first window to the last confirm; consuming from the first handled
message to the N-th (steady state, without connection set-up). Before each publish phase a small
warm-up (connection, topology declaration, SQL compilation) is published and purged.
"""

from __future__ import annotations

import contextlib
import cProfile
import io
import json
import pstats
import re
import socket
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from kombu import Connection
from kombu import Consumer as KombuConsumer
from sqlalchemy import func, select

import services.intake.spec
import services.notify.spec
from bench.infra import BusAdmin, ScratchDatabases, bus_admin, run_id
from bench.results import RESULTS, record
from services.notify.models import notifications
from shared.bus.broker import OutgoingMessage, Publisher
from shared.bus.consumer import Consumer
from shared.bus.topology import Topology
from shared.config import Settings, load_settings
from shared.events import Envelope, new_event
from shared.service import ServiceRuntime

PROJECT_ROOT = str(Path(__file__).resolve().parents[1])
EVENT_TYPE = "intake.proposal.submitted"
SUBSCRIPTIONS = {"notify": [EVENT_TYPE]}
WRITE_BATCH = 1000
WARMUP = 200
PUBLISH_GOAL = 0.5
CONSUME_GOAL = 0.3

# Sample communities of 池州市 (shared/reference/divisions_chizhou.csv).
COMMUNITIES = ("341702001001", "341702001002", "341702001003")
CHANNELS = ("app", "web", "sms", "district_system", "hotline", "offline")
TITLES = (
    "小区{n}号楼门前路灯不亮,夜间出行不便",
    "建议在{n}号楼旁增设电动自行车集中充电桩",
    "菜市场周边早高峰占道经营,希望协商解决",
    "老旧小区加装电梯费用如何分摊,请社区组织议事",
)
CATEGORIES = ("公共设施", "停车与交通", "环境卫生", "老旧小区改造")


# -- events ----------------------------------------------------------------------------------------


def proposal_payload(i: int) -> dict:
    return {
        "proposal_id": str(uuid.uuid4()),
        "community_code": COMMUNITIES[i % len(COMMUNITIES)],
        "submitter_id": str(uuid.uuid4()),
        "title": TITLES[i % len(TITLES)].format(n=i % 40 + 1),
        "category": CATEGORIES[i % len(CATEGORIES)],
        "channel": CHANNELS[i % len(CHANNELS)],
        "origin": "resident",
        "submitted_at": datetime.now(UTC).isoformat(),
    }


def proposal_event(i: int) -> Envelope:
    payload = proposal_payload(i)
    return new_event(EVENT_TYPE, payload, producer="intake", division_code=payload["community_code"])


def outgoing(envelope: Envelope, topology: Topology) -> OutgoingMessage:
    """The message the relay would build from this envelope's outbox row (same body, same size)."""
    return OutgoingMessage(
        exchange=topology.exchange.name,
        routing_key=envelope.type,
        body=json.dumps(envelope.to_dict(), ensure_ascii=False),
        message_id=envelope.id,
        event_type=envelope.type,
    )


def windows(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# -- results ----------------------------------------------------------------------------------------


@dataclass
class Figures:
    events: int
    rounds: int
    body_bytes: float = 0.0
    raw_publish: list[float] = field(default_factory=list)
    relay_publish: list[float] = field(default_factory=list)
    raw_consume: list[float] = field(default_factory=list)
    inbox_consume: list[float] = field(default_factory=list)
    outbox_write: list[float] = field(default_factory=list)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def say(text: str) -> None:
    print(text, flush=True)


class Counter:
    """Counts handled messages from any thread; notes when the first and the target-th were handled."""

    def __init__(self, target: int):
        self.target = target
        self.count = 0
        self.first = 0.0
        self.last = 0.0
        self.done = threading.Event()
        self._lock = threading.Lock()

    def tick(self, *_args) -> None:
        now = time.perf_counter()
        with self._lock:
            self.count += 1
            if self.count == 1:
                self.first = now
            if self.count == self.target:
                self.last = now
                self.done.set()

    @property
    def seconds(self) -> float:
        return self.last - self.first

    def steady_rate(self) -> float:
        # From the first handled message to the last: count - 1 intervals.
        return rate(self.target - 1, self.seconds) if self.target > 1 else float("inf")


def wait_for(counter: Counter, timeout: float, what: str) -> None:
    if not counter.done.wait(timeout):
        raise RuntimeError(f"{what}: only {counter.count} of {counter.target} messages handled in {timeout:.0f}s")


def consume_timeout(events: int) -> float:
    return 60.0 + events / 100.0


# -- the bench ----------------------------------------------------------------------------------------


class BusBench:
    def __init__(self, events: int, rounds: int, settings: Settings, topology: Topology, admin: BusAdmin):
        self.events = events
        self.settings = settings
        self.topology = topology
        self.admin = admin
        self.queue = topology.queue_name("notify")
        self.intake = ServiceRuntime(services.intake.spec.SPEC, settings, topology)
        self.notify = ServiceRuntime(services.notify.spec.SPEC, settings, topology)
        services.intake.spec.SPEC.metadata.create_all(self.intake.db.engine)
        services.notify.spec.SPEC.metadata.create_all(self.notify.db.engine)
        self.figures = Figures(events, rounds)
        self.messages: list[OutgoingMessage] = []
        self.publisher = Publisher(settings.amqp_url, topology, settings.broker_timeout)

    def close(self) -> None:
        self.publisher.close()
        for runtime in (self.intake, self.notify):
            with contextlib.suppress(Exception):
                runtime.stop()

    def expect_depth(self, expected: int, what: str) -> None:
        depth = self.admin.depth(self.queue)
        if depth != expected:
            raise RuntimeError(f"{what}: {self.queue} holds {depth} messages, expected {expected}")

    def build_messages(self) -> None:
        started = time.perf_counter()
        self.messages = [outgoing(proposal_event(i), self.topology) for i in range(self.events)]
        sizes = [len(m.body.encode()) for m in self.messages]
        self.figures.body_bytes = sum(sizes) / len(sizes)
        say(
            f"built {self.events} envelopes ({self.figures.body_bytes:.0f} bytes of JSON each) "
            f"in {time.perf_counter() - started:.1f}s"
        )

    # 1. ------------------------------------------------------------------------------------------
    def raw_publish(self) -> float:
        self.publisher.publish(self.messages[:WARMUP])
        self.admin.purge(self.queue)
        started = time.perf_counter()
        for window in windows(self.messages, self.settings.relay_batch):
            self.publisher.publish(window)
        elapsed = time.perf_counter() - started
        self.expect_depth(self.events, "raw publish")
        published = rate(self.events, elapsed)
        say(f"  publish  raw windowed confirms  {self.events} in {elapsed:5.2f}s = {published:8,.0f} ev/s")
        return published

    # 2. ------------------------------------------------------------------------------------------
    def raw_consume(self) -> float:
        counter = Counter(self.events)

        def on_message(message) -> None:
            message.ack()
            counter.tick()

        deadline = time.monotonic() + consume_timeout(self.events)
        with Connection(self.settings.amqp_url, connect_timeout=5, heartbeat=0) as conn:
            channel = conn.channel()
            consumer = KombuConsumer(
                channel,
                queues=[self.topology.queue("notify")],
                on_message=on_message,
                accept=["json"],
                auto_declare=False,
            )
            consumer.qos(prefetch_count=self.settings.prefetch)
            with consumer:
                while not counter.done.is_set() and time.monotonic() < deadline:
                    with contextlib.suppress(TimeoutError, socket.timeout):
                        conn.drain_events(timeout=1.0)
        wait_for(counter, 0, "raw consume")
        self.expect_depth(0, "raw consume")
        consumed = counter.steady_rate()
        say(f"  consume  raw consume+ack        {self.events} in {counter.seconds:5.2f}s = {consumed:8,.0f} ev/s")
        return consumed

    # 3. ------------------------------------------------------------------------------------------
    def write_outbox(self, count: int) -> float:
        started = time.perf_counter()
        for first in range(0, count, WRITE_BATCH):
            with self.intake.unit_of_work() as uow:
                for i in range(first, min(first + WRITE_BATCH, count)):
                    payload = proposal_payload(i)
                    uow.emit(EVENT_TYPE, payload, division_code=payload["community_code"])
        return time.perf_counter() - started

    def relay_publish(self, profiler: cProfile.Profile | None = None) -> float:
        relay = self.intake.relay()
        self.write_outbox(WARMUP)
        relay.drain()
        self.admin.purge(self.queue)

        written = self.write_outbox(self.events)
        self.figures.outbox_write.append(rate(self.events, written))
        say(f"  (wrote {self.events} events to intake's outbox, untimed, in {written:.1f}s)")

        if profiler is not None:
            profiler.enable()
        started = time.perf_counter()
        published = relay.drain()
        elapsed = time.perf_counter() - started
        if profiler is not None:
            profiler.disable()
        if published != self.events:
            raise RuntimeError(f"relay published {published} events, expected {self.events}")
        backlog = self.intake.outbox.backlog()
        if backlog:
            raise RuntimeError(f"relay left {backlog} events unpublished")
        self.expect_depth(self.events, "relay publish")
        relayed = rate(self.events, elapsed)
        say(f"  publish  outbox relay           {self.events} in {elapsed:5.2f}s = {relayed:8,.0f} ev/s")
        return relayed

    # 4. ------------------------------------------------------------------------------------------
    def inbox_consume(self, consumer: Consumer, run: Callable[[], None] | None = None) -> float:
        """Let ``consumer`` empty the queue; ``run`` replaces ``consumer.start()`` (for profiling)."""
        inbox = services.notify.spec.SPEC.tables.inbox
        recorded, notified = self._count(inbox), self._count(notifications)
        counter = Counter(self.events)
        consumer.after_commit.append(counter.tick)
        thread = None
        try:
            if run is None:
                consumer.start()
            else:
                thread = threading.Thread(target=run, name="bench-consumer", daemon=True)
                thread.start()
            wait_for(counter, consume_timeout(self.events), "inbox consumer")
        finally:
            consumer.stop()
            if thread is not None:
                thread.join(10)
        recorded, notified = self._count(inbox) - recorded, self._count(notifications) - notified
        if recorded != self.events:
            raise RuntimeError(f"inbox consumer recorded {recorded} events, expected {self.events}")
        if notified != self.events:
            # The inbox took the events but the handler did not run: the figure would be meaningless.
            raise RuntimeError(f"notify stored {notified} notifications for {self.events} events")
        self.expect_depth(0, "inbox consumer")
        consumed = counter.steady_rate()
        say(f"  consume  inbox consumer         {self.events} in {counter.seconds:5.2f}s = {consumed:8,.0f} ev/s")
        return consumed

    def _count(self, table) -> int:
        with self.notify.db.sessions() as session:
            return session.scalar(select(func.count()).select_from(table))

    def new_consumer(self) -> Consumer:
        """A notify consumer built the way ``ServiceRuntime.consumer`` builds it."""
        spec = services.notify.spec.SPEC
        return Consumer(
            spec.name,
            self.notify.db,
            spec.tables,
            spec.handlers,
            self.topology,
            self.settings.amqp_url,
            prefetch=self.settings.prefetch,
            timeout=self.settings.broker_timeout,
        )

    # ---------------------------------------------------------------------------------------------
    def run(self) -> Figures:
        self.build_messages()
        figures = self.figures
        for round_ in range(1, figures.rounds + 1):
            say(f"round {round_}/{figures.rounds}")
            figures.raw_publish.append(self.raw_publish())
            figures.raw_consume.append(self.raw_consume())
            figures.relay_publish.append(self.relay_publish())
            figures.inbox_consume.append(self.inbox_consume(self.new_consumer()))
        return figures

    def profile(self) -> None:
        """Run the relay and the inbox consumer again under cProfile and print the hot spots."""
        say("\nprofile: outbox relay (cProfile, this thread)")
        self.admin.purge(self.queue)
        profiler = cProfile.Profile()
        self.relay_publish(profiler)
        print_profile(profiler)

        say("\nprofile: inbox consumer (cProfile, consumer thread)")
        # The queue holds the relay's events again; they are new to notify's inbox.
        consumer = self.new_consumer()
        profiler = cProfile.Profile()

        def run() -> None:
            profiler.enable()
            try:
                consumer.run()
            finally:
                profiler.disable()

        self.inbox_consume(consumer, run)
        print_profile(profiler)


def print_profile(profiler: cProfile.Profile, limit: int = 25) -> None:
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats(order).print_stats(limit)
        text = out.getvalue()
        # Keep the table, drop pstats' preamble; shorten library and project paths.
        table = text[text.find("   ncalls") :] if "   ncalls" in text else text
        say(f"-- by {order} --")
        say(re.sub(r"\S*/site-packages/", "", table.rstrip()).replace(f"{PROJECT_ROOT}/", ""))


# -- report ---------------------------------------------------------------------------------------------


def _verdict(ratio: float, goal: float) -> str:
    return "" if ratio >= goal else "  BELOW GOAL"


def report(figures: Figures, postgres: str, rabbitmq: str) -> str:
    raw_publish, relay_publish = median(figures.raw_publish), median(figures.relay_publish)
    raw_consume, inbox_consume = median(figures.raw_consume), median(figures.inbox_consume)
    publish_ratio = relay_publish / raw_publish
    consume_ratio = inbox_consume / raw_consume
    many = f"median of {figures.rounds}" if figures.rounds > 1 else "1 run"
    lines = [
        f"bus benchmark (N={figures.events}, {figures.body_bytes:.0f}-byte envelopes, "
        f"PostgreSQL {postgres} + RabbitMQ {rabbitmq} on this machine)",
        f"publish  raw windowed confirms  {raw_publish:8,.0f} ev/s                                [{many}]",
        f"publish  outbox relay           {relay_publish:8,.0f} ev/s   ratio {publish_ratio:.2f}x  "
        f"(goal >= {PUBLISH_GOAL}x)  [{many}]{_verdict(publish_ratio, PUBLISH_GOAL)}",
        f"consume  raw consume+ack        {raw_consume:8,.0f} ev/s                                [{many}]",
        f"consume  inbox consumer         {inbox_consume:8,.0f} ev/s   ratio {consume_ratio:.2f}x  "
        f"(goal >= {CONSUME_GOAL}x)  [{many}]{_verdict(consume_ratio, CONSUME_GOAL)}",
        f"(untimed outbox writes: {median(figures.outbox_write):,.0f} ev/s with UnitOfWork.emit, "
        f"{WRITE_BATCH} per transaction)",
    ]
    record("bus", "publish: outbox relay against raw windowed confirms", publish_ratio, "×", goal=PUBLISH_GOAL,
           better="higher", note=f"{relay_publish:,.0f} against {raw_publish:,.0f} events/s")  # fmt: skip
    record("bus", "consume: inbox consumer against raw consume+ack", consume_ratio, "×", goal=CONSUME_GOAL,
           better="higher", note=f"{inbox_consume:,.0f} against {raw_consume:,.0f} events/s")  # fmt: skip
    return "\n".join(lines)


def run(*, events: int, rounds: int, amqp_url: str, database_url: str, profile: bool = False) -> Figures:
    rid = run_id()
    namespace = f"xsbench{rid}"
    scratch = ScratchDatabases(database_url)
    started = time.perf_counter()
    try:
        intake_url = scratch.create(f"xs_bench_{rid}_intake")
        notify_url = scratch.create(f"xs_bench_{rid}_notify")
        settings = load_settings(
            {
                "XIESHANG_AMQP_URL": amqp_url,
                "XIESHANG_BUS_NAMESPACE": namespace,
                "XIESHANG_INTAKE_DATABASE_URL": intake_url,
                "XIESHANG_NOTIFY_DATABASE_URL": notify_url,
            }
        )
        topology = Topology(
            namespace=settings.bus_namespace,
            subscriptions=SUBSCRIPTIONS,
            retry_delays=settings.retry_delays,
            quorum=settings.quorum_queues,
        )
        say(
            f"bus benchmark: N={events}, {rounds} rounds, namespace {namespace}, "
            f"databases xs_bench_{rid}_intake/_notify"
        )
        # Exit order: the bench's connections close, then its queues and exchange go, then its databases.
        with bus_admin(amqp_url, topology) as admin:
            bench = BusBench(events, rounds, settings, topology, admin)
            try:
                figures = bench.run()
                say("")
                say(report(figures, scratch.server_version, admin.server_version))
                RESULTS.versions.update(postgresql_version=scratch.server_version,
                                        rabbitmq_version=admin.server_version)  # fmt: skip
                if profile:
                    bench.profile()
            finally:
                bench.close()
    finally:
        scratch.drop_all()
    say(f"(total {time.perf_counter() - started:.0f}s; scratch databases and bus names removed)")
    return figures
