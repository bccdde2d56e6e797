"""The dead-letter watch: operators hear when events pile up in a service's dead-letter queue.

Every ``XIESHANG_NOTIFY_CLOCK_SECONDS`` the watch reads how many messages wait in each consuming
service's dead-letter queue (``<namespace>.<service>.dead``, passively declared: a queue nobody
declared yet holds none) and publishes the depth as the gauge ``xieshang_bus_dead_letters``, which
the Prometheus rule ``XieshangDeadLettersPilingUp`` alerts on. Where a queue holds at least
``XIESHANG_DEAD_LETTER_ALERT`` messages, the operator contacts are told (``routing.DEAD_LETTERS``,
``services.alert_dead_letters``) under an id derived from the service and the current UTC hour
(``domain.alert_id``), so they hear of one queue at most once an hour however many workers watch.

With the in-memory bus (``memory://``) the watch does nothing: dead letters there live only in the
memory of the one process that moved them, lost when it stops, and no other process can count them;
that process's log and ``xieshang_bus_dead_lettered_total`` already show each one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime

from services.notify import domain, services
from shared import metrics
from shared.bus.broker import connect
from shared.bus.topology import Topology
from shared.clock import Clock
from shared.periodic import Periodic
from shared.uow import UnitOfWork

# Counts the dead letters of each of the given services.
DeadLetterCounter = Callable[[Sequence[str]], dict[str, int]]


def broker_dead_letters(url: str, topology: Topology, names: Iterable[str], timeout: float = 5.0) -> dict[str, int]:
    """The depth of each named service's dead-letter queue on RabbitMQ (0 for a queue not declared yet)."""
    counts: dict[str, int] = {}
    with connect(url, timeout) as conn:
        channel = conn.channel()
        for service in names:
            try:
                declared = channel.queue_declare(queue=topology.dead_queue_name(service), passive=True)
            except conn.channel_errors:  # 404: no such queue; the broker closed the channel
                counts[service] = 0
                channel = conn.channel()
                continue
            counts[service] = declared.message_count
    return counts


class DeadLetterWatch(Periodic):
    name = "dead-letter-watch"

    def __init__(
        self,
        settings,
        topology: Topology,
        unit_of_work: Callable[[], AbstractContextManager[UnitOfWork]],
        clock: Clock,
        count_dead_letters: DeadLetterCounter | None = None,
    ):
        super().__init__(settings.notify_clock_seconds)
        if count_dead_letters is None and settings.uses_broker:
            count_dead_letters = functools.partial(
                broker_dead_letters, settings.amqp_url, topology, timeout=settings.broker_timeout
            )
        self.count_dead_letters = count_dead_letters  # None: the in-memory bus, nothing to watch
        self.services = sorted(topology.subscriptions)
        self.unit_of_work = unit_of_work
        self.clock = clock
        self.threshold = settings.dead_letter_alert

    # -- one look -----------------------------------------------------------------------------------

    def check(self, now: datetime | None = None) -> dict[str, int]:
        """Count the dead letters, set the gauge and tell the operators of every queue that piled up
        (once per hour); return those queues' counts. ``now``: the clock's time unless given."""
        if self.count_dead_letters is None or not self.services:
            return {}
        now = now or self.clock.now()
        counts = self.count_dead_letters(self.services)
        for service, count in counts.items():
            metrics.DEAD_LETTERS.labels(service).set(count)
        piled = domain.piled_up(counts, self.threshold)
        if piled:
            with self.unit_of_work() as uow:
                services.alert_dead_letters(uow, piled, now)
        return piled

    def start(self) -> None:
        if self.count_dead_letters is not None:  # nothing to watch on the in-memory bus
            super().start()

    def tick(self) -> None:
        self.check()
