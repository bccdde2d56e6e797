"""The drain of a stopping process (xieshang/server.py), on SQLite and the in-memory bus: the
relay's last pass publishes what another part committed after being told to stop, and open event
streams end at their next chunk. Across real processes and RabbitMQ:
tests/integration/test_graceful_shutdown.py."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import func, select

from shared.bus.broker import Publisher
from shared.bus.consumer import Consumer
from shared.bus.outbox import Outbox, Relay
from shared.periodic import Periodic, stop_all
from shared.streams import OpenStreams
from shared.uow import unit_of_work
from tests.conftest import probe_topology
from tests.support import PROBE_EVENT, effect_count, probe_tables, record_effect, wait_until


class LastBurst(Periodic):
    """A part whose pass under way when the stop comes still commits an event (a consumer's burst)."""

    name = "last-burst"

    def __init__(self, db):
        super().__init__(0.0)
        self.db = db
        self.outbox = Outbox(db, probe_tables)

    def tick(self) -> None:
        self.stopping.wait()
        with unit_of_work(self.db, self.outbox, "probe") as uow:
            uow.emit(PROBE_EVENT, {"n": 1}, division_code=None)


def pending(db) -> int:
    table = probe_tables.outbox
    with db.sessions() as session:
        return session.scalar(select(func.count()).select_from(table).where(table.c.published_at.is_(None)))


def test_the_relays_last_pass_publishes_what_the_last_burst_committed(probe_db, settings):
    topology = probe_topology(settings)
    relay = Relay("probe", probe_db, probe_tables, Publisher(settings.amqp_url, topology), interval=3600)
    burst = LastBurst(probe_db)
    relay.start()
    burst.start()
    stop_all([relay, burst])  # the relay's loop ends at once; the burst commits after the stop
    assert pending(probe_db) == 0
    consumer = Consumer("probe", probe_db, probe_tables, {PROBE_EVENT: record_effect}, topology, settings.amqp_url)
    consumer.start()
    try:
        wait_until(lambda: effect_count(probe_db) == 1, timeout=10, what="the event published at the stop")
    finally:
        consumer.stop()


def test_an_open_event_stream_ends_at_its_next_chunk_once_the_process_stops():
    streams = OpenStreams(per_subject=2, total=4)
    slot = streams.admit("resident-7")
    body = slot.hold(f": keep-alive {n}\n\n".encode() for n in itertools.count())
    assert next(body) == b": keep-alive 0\n\n"
    streams.close()
    with pytest.raises(StopIteration):
        next(body)
    assert streams.count() == 0, "the stream's slot is given back"
