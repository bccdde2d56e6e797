"""Names and arguments of the exchange and queues, declared the same way by every process.

Each consuming service has one durable queue bound to the topic exchange with the routing keys of
the events it handles, one retry queue per back-off step (messages wait there for their TTL, then
RabbitMQ dead-letters them back to the service queue) and one dead-letter queue an operator
inspects and replays. Publishers declare the whole topology too, so an event published before a
consumer first started is queued rather than dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from kombu import Exchange, Queue


@dataclass(frozen=True)
class Topology:
    namespace: str = "xieshang"
    subscriptions: Mapping[str, Sequence[str]] = field(default_factory=dict)
    retry_delays: Sequence[float] = (1.0, 5.0, 30.0)
    quorum: bool = False

    @property
    def exchange(self) -> Exchange:
        return Exchange(f"{self.namespace}.events", type="topic", durable=True)

    def queue_name(self, service: str) -> str:
        return f"{self.namespace}.{service}"

    def retry_queue_name(self, service: str, step: int) -> str:
        return f"{self.namespace}.{service}.retry.{step}"

    def dead_queue_name(self, service: str) -> str:
        return f"{self.namespace}.{service}.dead"

    def _arguments(self, **extra) -> dict:
        args = {"x-queue-type": "quorum"} if self.quorum else {}
        args.update(extra)
        return args

    def queue(self, service: str) -> Queue:
        keys = self.subscriptions.get(service, ())
        from kombu import binding

        return Queue(
            self.queue_name(service),
            bindings=[binding(self.exchange, routing_key=key) for key in keys],
            durable=True,
            queue_arguments=self._arguments(),
        )

    def retry_queue(self, service: str, step: int) -> Queue:
        delay_ms = int(self.retry_delays[step] * 1000)
        return Queue(
            self.retry_queue_name(service, step),
            durable=True,
            queue_arguments=self._arguments(
                **{
                    "x-message-ttl": delay_ms,
                    "x-dead-letter-exchange": "",
                    "x-dead-letter-routing-key": self.queue_name(service),
                }
            ),
        )

    def dead_queue(self, service: str) -> Queue:
        return Queue(self.dead_queue_name(service), durable=True, queue_arguments=self._arguments())

    def queues(self, service: str) -> list[Queue]:
        retries = [self.retry_queue(service, i) for i in range(len(self.retry_delays))]
        return [self.queue(service), *retries, self.dead_queue(service)]

    def declare(self, channel, services: Sequence[str] | None = None) -> None:
        self.exchange(channel).declare()
        for service in self.subscriptions if services is None else services:
            for queue in self.queues(service):
                queue(channel).declare()
