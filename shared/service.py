"""What a service is made of (``ServiceSpec``) and its running parts (``ServiceRuntime``).

Every service package exposes one ``SPEC`` in its ``spec`` module; the bootstrap in ``xieshang``
assembles runtimes from specs, so all services are wired the same way.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from flask import Flask
from sqlalchemy import MetaData

from shared import metrics
from shared.auth import TokenVerifier, jwks_keys
from shared.bus.broker import Publisher, connect
from shared.bus.consumer import Consumer, Handler
from shared.bus.outbox import Outbox, Relay
from shared.bus.tables import BusTables
from shared.bus.topology import Topology
from shared.clock import Clock, SystemClock
from shared.config import Settings
from shared.db import Database
from shared.group_commit import GroupCommit
from shared.http import create_app
from shared.keys import KeyStore
from shared.periodic import stop_all
from shared.streams import OpenStreams
from shared.uow import UnitOfWork, unit_of_work


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    metadata: MetaData
    tables: BusTables
    migrations: Path
    blueprints: Callable[[], Iterable] = tuple
    handlers: Mapping[str, Handler] = field(default_factory=dict)
    # The service's own background parts (objects with start()/stop()), run by its worker target.
    background: Callable[[ServiceRuntime], Iterable] = lambda runtime: ()
    # Collectors of the service's domain gauges, read from its tables at scrape time.
    collectors: Callable[[ServiceRuntime], Iterable] = lambda runtime: ()


def topology_for(specs: Iterable[ServiceSpec], settings: Settings) -> Topology:
    return Topology(
        namespace=settings.bus_namespace,
        subscriptions={spec.name: sorted(spec.handlers) for spec in specs if spec.handlers},
        retry_delays=settings.retry_delays,
        quorum=settings.quorum_queues,
    )


def token_verifier(settings: Settings) -> TokenVerifier:
    """Verify with the gateway's JWKS when configured (separate hosts), else its keys directory."""
    source = jwks_keys(settings.jwks_url) if settings.jwks_url else KeyStore(settings.keys_dir).public_keys
    return TokenVerifier(source)


class ServiceRuntime:
    def __init__(self, spec: ServiceSpec, settings: Settings, topology: Topology, streams: OpenStreams | None = None):
        self.spec = spec
        self.name = spec.name
        self.settings = settings
        self.topology = topology
        self.db = Database(settings.database_url(spec.name), spec.name)
        self.outbox = Outbox(self.db, spec.tables)
        self.division_table = spec.metadata.tables.get("division")  # the service's registry replica
        self.clock: Clock = SystemClock()  # tests and tracking's escalation checks may set another
        # The process's open event streams (shared with the other runtimes and the gateway of the process).
        self.streams = streams or OpenStreams.for_settings(settings)
        self._relay: Relay | None = None
        self._consumer: Consumer | None = None
        self._background: list | None = None
        self._collectors: list[str] = []
        self._group_commits: dict[Callable, GroupCommit] = {}
        self._group_commits_lock = threading.Lock()

    @contextlib.contextmanager
    def unit_of_work(self, *, read_only: bool = False) -> Iterator[UnitOfWork]:
        with unit_of_work(self.db, self.outbox, self.name, self.division_table, read_only=read_only) as uow:
            yield uow

    def now(self) -> datetime:
        return self.clock.now()

    def group_commit(self, use_case: Callable[..., None]) -> GroupCommit:
        """The process's group commit (``shared.group_commit``) of a use case ``(uow, items, *, now)``:
        the items of requests that arrive together applied in one unit of work."""
        with self._group_commits_lock:
            if use_case not in self._group_commits:

                def apply(items) -> None:
                    with self.unit_of_work() as uow:
                        use_case(uow, items, now=self.now())

                self._group_commits[use_case] = GroupCommit(apply)
            return self._group_commits[use_case]

    def relay(self) -> Relay:
        if self._relay is None:
            publisher = Publisher(self.settings.amqp_url, self.topology, self.settings.broker_timeout)
            self._relay = Relay(
                self.name,
                self.db,
                self.spec.tables,
                publisher,
                batch_size=self.settings.relay_batch,
                interval=self.settings.relay_interval,
                inbox_retention=timedelta(days=self.settings.inbox_retention_days),
            )
        return self._relay

    def consumer(self) -> Consumer:
        if self._consumer is None:
            self._consumer = Consumer(
                self.name,
                self.db,
                self.spec.tables,
                self.spec.handlers,
                self.topology,
                self.settings.amqp_url,
                prefetch=self.settings.prefetch,
                timeout=self.settings.broker_timeout,
                division_table=self.division_table,
            )
        return self._consumer

    def register_collectors(self) -> None:
        """Make the service's domain gauges part of this process's ``/metrics`` (replacing those of an
        earlier runtime of the same service; removed again by ``stop``), each served from its last
        reading (``metrics.Snapshot``)."""
        collectors = list(self.spec.collectors(self))
        self._collectors = [f"{self.name}.{index}" for index in range(len(collectors))]
        for name, collector in zip(self._collectors, collectors, strict=True):
            metrics.add_live_collector(name, metrics.Snapshot(collector, self.settings.gauges_max_age))

    def background(self) -> list:
        if self._background is None:
            self._background = list(self.spec.background(self))
        return self._background

    def check_broker(self) -> None:
        if self.settings.uses_broker:
            with connect(self.settings.amqp_url, timeout=2.0):
                pass

    def ready_checks(self) -> dict[str, Callable[[], None]]:
        return {"database": self.db.ping, "broker": self.check_broker}

    def verifier(self) -> TokenVerifier:
        return token_verifier(self.settings)

    def create_api(self) -> Flask:
        app = create_app(
            self.name,
            verifier=self.verifier(),
            blueprints=self.spec.blueprints(),
            ready_checks=self.ready_checks(),
        )
        app.extensions["xieshang.runtime"] = self
        return app

    def stop(self) -> None:
        for name in self._collectors:
            metrics.remove_live_collector(name)
        parts = [self._relay, self._consumer, *(self._background or ())]
        stop_all(part for part in parts if part is not None)
        self.db.dispose()


def current_runtime() -> ServiceRuntime:
    from flask import current_app

    return current_app.extensions["xieshang.runtime"]
