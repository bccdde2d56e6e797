"""Notify's dead-letter watch reads the depth of the real RabbitMQ dead-letter queues."""

from __future__ import annotations

from datetime import UTC, datetime

from kombu import Connection
from sqlalchemy import select

from services.notify.models import notifications
from services.notify.periodic.dead_letters import DeadLetterWatch, broker_dead_letters


def fill_dead_queue(url: str, topology, service: str, count: int) -> None:
    """Declare the service's queues as every process does, then put ``count`` messages in its dead queue."""
    with Connection(url, transport_options={"confirm_publish": True}) as conn:  # queued once published
        topology.declare(conn.channel(), [service])
        producer = conn.Producer()
        for n in range(count):
            producer.publish({"n": n}, exchange="", routing_key=topology.dead_queue_name(service), serializer="json")


def test_the_broker_counter_reads_each_dead_queues_depth(platform, amqp_url):
    topology = platform.topology
    fill_dead_queue(amqp_url, topology, "intake", 12)
    fill_dead_queue(amqp_url, topology, "meetings", 0)
    # tracking's queues were never declared here: a passive declare finds none, which counts as empty.
    assert broker_dead_letters(amqp_url, topology, ["intake", "meetings", "tracking"]) == {
        "intake": 12,
        "meetings": 0,
        "tracking": 0,
    }


def test_the_watch_tells_operators_from_the_real_queue(platform, amqp_url):
    notify = platform.runtime("notify")
    fill_dead_queue(amqp_url, platform.topology, "intake", 10)
    watch = DeadLetterWatch(notify.settings, notify.topology, notify.unit_of_work, notify.clock)
    assert watch.count_dead_letters is not None  # a real broker: the default counter
    assert watch.check(datetime.now(UTC))["intake"] == 10
    with notify.db.sessions() as session:  # no operator contacts in this test: nobody to tell
        assert session.execute(select(notifications)).all() == []
