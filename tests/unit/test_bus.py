"""The bus mechanisms on SQLite and the in-memory transport (the same code runs on RabbitMQ in
tests/integration)."""

import threading
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from shared.bus.broker import OutgoingMessage, Publisher, PublishError
from shared.bus.consumer import Consumer
from shared.bus.deadletters import list_dead_letters, replay_dead_letters
from shared.bus.outbox import Outbox, Relay
from shared.clock import utcnow
from shared.events import new_event
from shared.uow import unit_of_work
from tests.conftest import probe_topology
from tests.support import PROBE_EVENT, effect_count, probe_tables, record_effect, wait_until


def probe_event(n=1):
    return new_event(PROBE_EVENT, {"n": n}, producer="probe", division_code="341702001001")


def pending(db):
    table = probe_tables.outbox
    with db.sessions() as session:
        return session.scalar(select(func.count()).select_from(table).where(table.c.published_at.is_(None)))


@pytest.fixture
def topology(settings):
    return probe_topology(settings)


@pytest.fixture
def relay(probe_db, topology, settings):
    relay = Relay("probe", probe_db, probe_tables, Publisher(settings.amqp_url, topology), interval=0.1)
    yield relay
    relay.stop()


@pytest.fixture
def consumer(probe_db, topology, settings):
    consumer = Consumer("probe", probe_db, probe_tables, {PROBE_EVENT: record_effect}, topology, settings.amqp_url)
    yield consumer
    consumer.stop()


def test_event_and_state_change_commit_together(probe_db):
    outbox = Outbox(probe_db, probe_tables)
    with unit_of_work(probe_db, outbox, "probe") as uow:
        uow.emit(PROBE_EVENT, {"n": 1}, division_code=None)
    assert pending(probe_db) == 1


def test_a_rolled_back_transaction_leaves_no_event(probe_db):
    outbox = Outbox(probe_db, probe_tables)
    with pytest.raises(RuntimeError), unit_of_work(probe_db, outbox, "probe") as uow:
        uow.emit(PROBE_EVENT, {"n": 1}, division_code=None)
        raise RuntimeError("domain rule broken after the event was recorded")
    assert pending(probe_db) == 0


def test_deferred_work_is_resolved_once_per_flush_with_everything_collected(probe_db):
    resolved = []
    with unit_of_work(probe_db, Outbox(probe_db, probe_tables), "probe") as uow:
        for n in range(3):  # as three events of a burst would
            uow.deferred("look-up", resolved.append).append(n)
        assert resolved == []
        uow.flush()
        uow.deferred("look-up", resolved.append).append(3)
    assert resolved == [[0, 1, 2], [3]]  # one call per flush, the commit's included


def test_relay_publishes_pending_events_and_marks_them(probe_db, relay, consumer):
    outbox = Outbox(probe_db, probe_tables)
    with unit_of_work(probe_db, outbox, "probe") as uow:
        for n in range(5):
            uow.emit(PROBE_EVENT, {"n": n}, division_code=None)
    assert relay.drain() == 5
    assert pending(probe_db) == 0
    consumer.start()
    wait_until(lambda: effect_count(probe_db) == 5, what="5 effects")


def test_a_commit_wakes_the_relay_without_waiting_for_the_poll(probe_db, topology, settings, consumer):
    relay = Relay("probe", probe_db, probe_tables, Publisher(settings.amqp_url, topology), interval=3600)
    relay.start()
    consumer.start()
    try:
        outbox = Outbox(probe_db, probe_tables)
        with unit_of_work(probe_db, outbox, "probe") as uow:
            uow.emit(PROBE_EVENT, {"n": 1}, division_code=None)
        wait_until(lambda: effect_count(probe_db) == 1, timeout=5, what="effect")
    finally:
        relay.stop()


def test_publish_failure_keeps_events_pending_and_records_why(probe_db, topology):
    relay = Relay("probe", probe_db, probe_tables, Publisher("amqp://guest:guest@127.0.0.1:1//", topology, 0.5))
    with unit_of_work(probe_db, Outbox(probe_db, probe_tables), "probe") as uow:
        uow.emit(PROBE_EVENT, {"n": 1}, division_code=None)
    with pytest.raises(PublishError):
        relay.relay_once()
    assert pending(probe_db) == 1
    with probe_db.sessions() as session:
        row = session.execute(select(probe_tables.outbox)).mappings().one()
    assert row["attempts"] == 1 and row["last_error"]


def test_while_the_broker_refuses_the_backlog_gauges_still_follow_the_outbox(probe_db, topology):
    relay = Relay("probe", probe_db, probe_tables, Publisher("amqp://guest:guest@127.0.0.1:1//", topology, 0.5))
    with unit_of_work(probe_db, Outbox(probe_db, probe_tables), "probe") as uow:
        for n in range(3):
            uow.emit(PROBE_EVENT, {"n": n}, division_code=None)
    with pytest.raises(PublishError):
        relay.tick()  # the pass fails: the alert on the backlog must still see it
    assert REGISTRY.get_sample_value("xieshang_outbox_backlog", {"service": "probe"}) == 3
    assert REGISTRY.get_sample_value("xieshang_outbox_oldest_age_seconds", {"service": "probe"}) >= 0


def test_an_event_delivered_twice_has_one_effect(probe_db, consumer):
    event = probe_event()
    assert consumer.apply(event.to_dict()) == "processed"
    assert consumer.apply(event.to_dict()) == "duplicate"
    assert effect_count(probe_db) == 1


def test_a_failing_handler_rolls_back_its_inbox_row_too(probe_db, topology, settings):
    def broken(uow, envelope):
        record_effect(uow, envelope)
        raise RuntimeError("department system down")

    consumer = Consumer("probe", probe_db, probe_tables, {PROBE_EVENT: broken}, topology, settings.amqp_url)
    event = probe_event()
    with pytest.raises(RuntimeError):
        consumer.apply(event.to_dict())
    assert effect_count(probe_db) == 0
    consumer.handlers[PROBE_EVENT] = record_effect
    assert consumer.apply(event.to_dict()) == "processed"


def _publish_raw(settings, topology, body: str, message_id: str = "m1"):
    publisher = Publisher(settings.amqp_url, topology)
    publisher.publish([OutgoingMessage(topology.exchange.name, PROBE_EVENT, body, message_id, PROBE_EVENT)])
    publisher.close()


def test_failing_handler_is_retried_then_dead_lettered_and_replay_delivers(probe_db, topology, settings):
    attempts = []
    healthy = threading.Event()

    def flaky(uow, envelope):
        attempts.append(envelope.id)
        if not healthy.is_set():
            raise RuntimeError("downstream unavailable")
        record_effect(uow, envelope)

    consumer = Consumer("probe", probe_db, probe_tables, {PROBE_EVENT: flaky}, topology, settings.amqp_url)
    consumer.start()
    try:
        event = probe_event()
        _publish_raw(settings, topology, __import__("json").dumps(event.to_dict()), event.id)
        # one delivery plus one per retry delay, then the dead-letter queue
        wait_until(lambda: len(list_dead_letters(settings.amqp_url, topology, "probe")) == 1, what="dead letter")
        assert len(attempts) == 1 + len(topology.retry_delays)
        [letter] = list_dead_letters(settings.amqp_url, topology, "probe")
        assert letter.event_id == event.id and "downstream unavailable" in letter.error
        healthy.set()
        assert replay_dead_letters(settings.amqp_url, topology, "probe") == [event.id]
        wait_until(lambda: effect_count(probe_db) == 1, what="effect after replay")
        assert list_dead_letters(settings.amqp_url, topology, "probe") == []
    finally:
        consumer.stop()


def test_an_invalid_message_goes_straight_to_dead_letters(probe_db, consumer, topology, settings):
    consumer.start()
    _publish_raw(settings, topology, '{"type": "probe.sample.sent", "payload": {}}')
    wait_until(lambda: list_dead_letters(settings.amqp_url, topology, "probe"), what="dead letter")
    [letter] = list_dead_letters(settings.amqp_url, topology, "probe")
    assert letter.error.startswith("invalid") and letter.retries == 0
    assert effect_count(probe_db) == 0


def test_a_burst_is_applied_together_and_one_bad_event_does_not_hold_back_the_others(probe_db, topology, settings):
    def refuses_three(uow, envelope):
        if envelope.payload["n"] == 3:
            raise RuntimeError("event 3 cannot be applied")
        record_effect(uow, envelope)

    outbox = Outbox(probe_db, probe_tables)
    with unit_of_work(probe_db, outbox, "probe") as uow:
        for n in range(6):
            uow.emit(PROBE_EVENT, {"n": n}, division_code=None)
    Relay("probe", probe_db, probe_tables, Publisher(settings.amqp_url, topology)).drain()
    consumer = Consumer("probe", probe_db, probe_tables, {PROBE_EVENT: refuses_three}, topology, settings.amqp_url)
    consumer.start()
    try:
        wait_until(lambda: list_dead_letters(settings.amqp_url, topology, "probe"), what="event 3 dead-lettered")
    finally:
        consumer.stop()
    assert effect_count(probe_db) == 5
    [letter] = list_dead_letters(settings.amqp_url, topology, "probe")
    assert letter.body["payload"] == {"n": 3}


def test_two_copies_in_one_burst_have_one_effect(probe_db, consumer):
    event = probe_event()
    assert consumer.apply_all([event, event]) == ["processed", "duplicate"]
    assert effect_count(probe_db) == 1


def test_retention_takes_old_published_events_and_old_inbox_rows_and_keeps_the_rest(probe_db, relay, consumer):
    outbox = Outbox(probe_db, probe_tables)
    with unit_of_work(probe_db, outbox, "probe") as uow:
        for n in range(3):
            uow.emit(PROBE_EVENT, {"n": n}, division_code=None)
    relay.drain()
    with unit_of_work(probe_db, outbox, "probe") as uow:
        uow.emit(PROBE_EVENT, {"n": 9}, division_code=None)  # not published yet: stays whatever its age
    assert consumer.apply(probe_event(5).to_dict()) == "processed"

    assert relay.purge(now=utcnow() + timedelta(hours=1)) == (0, 0)  # nothing old enough yet
    assert relay.purge(now=utcnow() + timedelta(days=2)) == (3, 0)  # published a day ago and more
    assert pending(probe_db) == 1
    assert relay.purge(now=utcnow() + timedelta(days=8)) == (0, 1)  # consumed a week ago and more
    with probe_db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(probe_tables.inbox)) == 0
