"""The five promises of the bus, against the real RabbitMQ and PostgreSQL."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from services.intake.models import bus as intake_bus
from shared.bus.broker import OutgoingMessage, Publisher
from shared.bus.consumer import Consumer
from shared.bus.deadletters import list_dead_letters, replay_dead_letters
from shared.bus.outbox import Outbox, Relay
from shared.events import new_event
from shared.uow import unit_of_work
from tests.conftest import YANLIUYUAN, probe_topology
from tests.integration.conftest import drain_queue
from tests.support import PROBE_EVENT, effect_count, probe_tables, record_effect, wait_until

ROOT = Path(__file__).resolve().parents[2]


def probe_event(n=1):
    return new_event(PROBE_EVENT, {"n": n}, producer="probe", division_code=YANLIUYUAN)


def pending(db, table=probe_tables.outbox):
    with db.sessions() as session:
        return session.scalar(select(func.count()).select_from(table).where(table.c.published_at.is_(None)))


class _declared:
    def __init__(self, url, topology):
        from shared.bus.broker import connect

        self.conn = connect(url)
        topology.declare(self.conn.channel())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.conn.release()


def publish_copies(url, topology, event, copies=1):
    publisher = Publisher(url, topology)
    body = json.dumps(event.to_dict())
    message = OutgoingMessage(topology.exchange.name, event.type, body, event.id, event.type)
    publisher.publish([message] * copies)
    publisher.close()


@pytest.fixture
def topology(settings):
    return probe_topology(settings, retry_delays=(0.2, 0.4))


# (1) ------------------------------------------------------------------------------------------------
def test_events_written_while_the_broker_is_unreachable_are_published_when_it_returns(
    pg_probe_db, topology, broker_proxy, amqp_url
):
    proxy, proxied_url = broker_proxy
    with _declared(amqp_url, topology):
        pass
    relay = Relay("probe", pg_probe_db, probe_tables, Publisher(proxied_url, topology, timeout=1.0), interval=0.2)
    relay.start()
    try:
        proxy.cut()
        outbox = Outbox(pg_probe_db, probe_tables)
        ids = []
        for batch in range(10):
            with unit_of_work(pg_probe_db, outbox, "probe") as uow:
                ids += [uow.emit(PROBE_EVENT, {"n": batch * 10 + i}, division_code=None).id for i in range(10)]
        # The relay tried and failed while the broker was away; nothing was marked published.
        wait_until(lambda: _attempted(pg_probe_db), what="a failed publish attempt")
        assert pending(pg_probe_db) == 100
        proxy.restore()
        wait_until(lambda: pending(pg_probe_db) == 0, timeout=30, what="outbox drained after the broker returned")
    finally:
        relay.stop()
    delivered = drain_queue(amqp_url, topology.queue_name("probe"))
    assert sorted(m.properties["message_id"] for m in delivered) == sorted(ids)


def _attempted(db):
    with db.sessions() as session:
        return session.scalar(select(func.max(probe_tables.outbox.c.attempts))) or 0


# (2) ------------------------------------------------------------------------------------------------
def test_a_message_delivered_twice_has_one_effect(pg_probe_db, topology, amqp_url):
    consumer = Consumer("probe", pg_probe_db, probe_tables, {PROBE_EVENT: record_effect}, topology, amqp_url)
    outcomes = []
    consumer.after_commit.append(lambda envelope, outcome: outcomes.append(outcome))
    consumer.start()
    try:
        wait_until(consumer.connected.is_set, what="consumer connected")
        event = probe_event()
        publish_copies(amqp_url, topology, event, copies=2)
        wait_until(lambda: len(outcomes) == 2, what="both deliveries handled")
    finally:
        consumer.stop()
    assert sorted(outcomes) == ["duplicate", "processed"]
    assert effect_count(pg_probe_db, event.id) == 1
    assert drain_queue(amqp_url, topology.queue_name("probe")) == []


# (3) ------------------------------------------------------------------------------------------------
def test_a_handler_that_keeps_failing_is_retried_then_dead_lettered_and_replay_delivers_it(
    pg_probe_db, topology, amqp_url
):
    attempts = []
    state = {"healthy": False}

    def flaky(uow, envelope):
        attempts.append(envelope.id)
        if not state["healthy"]:
            raise RuntimeError("部门系统不可用")
        record_effect(uow, envelope)

    consumer = Consumer("probe", pg_probe_db, probe_tables, {PROBE_EVENT: flaky}, topology, amqp_url)
    consumer.start()
    try:
        wait_until(consumer.connected.is_set, what="consumer connected")
        event = probe_event()
        publish_copies(amqp_url, topology, event)
        wait_until(lambda: list_dead_letters(amqp_url, topology, "probe"), what="dead letter")
        assert len(attempts) == 1 + len(topology.retry_delays)  # first delivery + one per back-off step
        [letter] = list_dead_letters(amqp_url, topology, "probe")
        assert letter.event_id == event.id
        assert "部门系统不可用" in letter.error
        assert effect_count(pg_probe_db) == 0
        state["healthy"] = True
        assert replay_dead_letters(amqp_url, topology, "probe") == [event.id]
        wait_until(lambda: effect_count(pg_probe_db, event.id) == 1, what="effect after replay")
    finally:
        consumer.stop()
    assert list_dead_letters(amqp_url, topology, "probe") == []


# (4) ------------------------------------------------------------------------------------------------
def _start_worker(db, amqp_url, topology, outcomes: Path, pause: bool) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "tests.integration.probe_worker",
        "--database-url", db.url, "--amqp-url", amqp_url, "--namespace", topology.namespace,
        "--outcomes", str(outcomes),
    ]  # fmt: skip
    if pause:
        command.append("--pause-after-commit")
    return subprocess.Popen(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})


def _outcomes(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def test_a_worker_killed_after_commit_before_ack_causes_a_redelivery_without_a_second_effect(
    pg_probe_db, topology, amqp_url, tmp_path
):
    with _declared(amqp_url, topology):
        pass
    event = probe_event()
    publish_copies(amqp_url, topology, event)
    first_log, second_log = tmp_path / "first.txt", tmp_path / "second.txt"

    first = _start_worker(pg_probe_db, amqp_url, topology, first_log, pause=True)
    try:
        wait_until(lambda: _outcomes(first_log) == [event.id, "processed"], timeout=30, what="commit")
        assert effect_count(pg_probe_db, event.id) == 1
        first.send_signal(signal.SIGKILL)  # committed, never acked
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()

    second = _start_worker(pg_probe_db, amqp_url, topology, second_log, pause=False)
    try:
        wait_until(lambda: _outcomes(second_log) == [event.id, "duplicate"], timeout=30, what="redelivery")
    finally:
        second.send_signal(signal.SIGTERM)
        second.kill()
        second.wait(10)
    assert effect_count(pg_probe_db, event.id) == 1
    assert drain_queue(amqp_url, topology.queue_name("probe")) == []


# (5) ------------------------------------------------------------------------------------------------
def test_http_writes_keep_succeeding_while_the_broker_is_down(env, broker_proxy, auth, amqp_url):
    from shared.config import load_settings
    from xieshang.platform import Platform

    proxy, proxied_url = broker_proxy
    settings = load_settings({**env, "XIESHANG_AMQP_URL": proxied_url, "XIESHANG_BROKER_TIMEOUT": "1"})
    platform = Platform(settings)
    platform.migrate(["intake"])
    from shared.division_registry import upsert
    from shared.divisions import REFERENCE_CSV, parse_csv

    intake = platform.runtime("intake")
    with intake.db.transaction() as session:
        upsert(session, intake.spec.metadata.tables["division"], parse_csv(REFERENCE_CSV.read_text("utf-8")))
    with _declared(amqp_url, platform.topology):
        pass
    client = intake.create_api().test_client()
    relay = intake.relay()
    relay.start()
    try:
        proxy.cut()
        headers = auth("resident", YANLIUYUAN)
        created = []
        for i in range(20):
            response = client.post(
                "/api/v1/intake/proposals",
                json={
                    "community_code": YANLIUYUAN,
                    "title": f"停车难问题 {i}",
                    "description": "杏花家园地块停车场建设",
                    "category": "management",
                },
                headers=headers,
            )
            assert response.status_code == 201, response.json
            created.append(response.json["id"])
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "broker" in ready.json["checks"]
        assert pending(intake.db, intake_bus.outbox) == 20
        proxy.restore()
        wait_until(lambda: pending(intake.db, intake_bus.outbox) == 0, timeout=30, what="outbox drained")
    finally:
        platform.stop()
    delivered = drain_queue(amqp_url, platform.topology.queue_name("notify"))
    proposal_ids = {json.loads(m.body)["payload"]["proposal_id"] for m in delivered}
    assert proposal_ids == set(created)
