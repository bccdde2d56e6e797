"""Quorum queues for a cluster, and the operator's dead-letter commands, on the real broker."""

import json

from shared.bus.consumer import Consumer
from shared.bus.topology import Topology
from tests.integration.test_bus_mechanisms import probe_event, publish_copies
from tests.support import PROBE_EVENT, effect_count, probe_tables, record_effect, wait_until


def test_quorum_queues_carry_events_and_retries(pg_probe_db, settings, amqp_url):
    topology = Topology(
        namespace=settings.bus_namespace, subscriptions={"probe": [PROBE_EVENT]}, retry_delays=(0.2,), quorum=True
    )
    failures = []

    def fails_once(uow, envelope):
        if not failures:
            failures.append(envelope.id)
            raise RuntimeError("first try fails")
        record_effect(uow, envelope)

    consumer = Consumer("probe", pg_probe_db, probe_tables, {PROBE_EVENT: fails_once}, topology, amqp_url)
    consumer.start()
    try:
        wait_until(consumer.connected.is_set, what="consumer connected")
        event = probe_event()
        publish_copies(amqp_url, topology, event)
        wait_until(lambda: effect_count(pg_probe_db, event.id) == 1, what="effect after one retry")
    finally:
        consumer.stop()
    assert failures == [event.id]


def test_operators_list_and_replay_dead_letters_from_the_cli(platform, env, cli):
    notify = platform.runtime("notify")
    topology = platform.topology
    # A valid event whose handler breaks: it ends in notify's dead-letter queue.
    consumer = notify.consumer()
    consumer.handlers = {"intake.proposal.submitted": _broken}
    consumer.start()
    try:
        wait_until(consumer.connected.is_set, what="consumer connected")
        from shared.events import new_event

        event = new_event(
            "intake.proposal.submitted",
            {
                "proposal_id": "p-1",
                "community_code": "341702001001",
                "submitter_id": "u-1",
                "title": "门栋自治",
                "category": "management",
                "channel": "app",
                "origin": "resident",
                "submitted_at": "2026-11-26T08:00:00+00:00",
            },
            producer="intake",
            division_code="341702001001",
        )
        publish_copies(env["XIESHANG_AMQP_URL"], topology, event)
        wait_until(lambda: json.loads(cli("events", "dead-letters", "--service", "notify", "--json")[1]), timeout=20)
    finally:
        consumer.stop()
    code, out = cli("events", "dead-letters", "--service", "notify", "--json")
    [listed] = json.loads(out)
    assert listed["event_id"] == event.id and "broken on purpose" in listed["error"]
    code, out = cli("events", "replay", "--service", "notify")
    assert code == 0 and "1 message(s) re-queued" in out
    consumer = notify.consumer()
    consumer.handlers = dict(notify.spec.handlers)
    consumer.start()
    try:
        from sqlalchemy import select

        from services.notify.models import notifications

        def delivered():
            with notify.db.sessions() as session:
                return session.execute(select(notifications.c.body)).scalars().all()

        assert wait_until(delivered, what="notification after replay") == [
            "您提交的建议“门栋自治”已收到,社区将尽快处理。"
        ]
    finally:
        consumer.stop()


def _broken(uow, envelope):
    raise RuntimeError("broken on purpose")
