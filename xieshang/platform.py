"""Bootstrap: one place that turns settings into running parts (cosmicpython's bootstrap).

A ``Platform`` creates each service's runtime at most once per process, so when one process runs
a service's API and its worker (``all`` mode) both share one database engine and one relay.
"""

from __future__ import annotations

import importlib
import threading

from sqlalchemy import MetaData

from shared.bus.topology import Topology
from shared.config import SERVICES, Settings
from shared.migrations import upgrade
from shared.service import ServiceRuntime, ServiceSpec, topology_for
from shared.streams import OpenStreams


def load_spec(service: str) -> ServiceSpec:
    return importlib.import_module(f"services.{service}.spec").SPEC


def load_specs() -> dict[str, ServiceSpec]:
    return {name: load_spec(name) for name in SERVICES}


class Platform:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.specs = load_specs()
        self.topology: Topology = topology_for(self.specs.values(), settings)
        # The process's open event streams, whoever serves them (a service's route, the gateway's proxy).
        self.streams = OpenStreams.for_settings(settings)
        self._runtimes: dict[str, ServiceRuntime] = {}
        self._gateway = None
        self._lock = threading.Lock()

    def runtime(self, service: str) -> ServiceRuntime:
        with self._lock:
            if service not in self._runtimes:
                self._runtimes[service] = ServiceRuntime(
                    self.specs[service], self.settings, self.topology, streams=self.streams
                )
            return self._runtimes[service]

    def gateway(self):
        from gateway.runtime import GatewayRuntime

        with self._lock:
            if self._gateway is None:
                self._gateway = GatewayRuntime(self.settings)
            return self._gateway

    def migrations(self) -> dict[str, tuple[str, MetaData]]:
        """Alembic script directory and models of every database, by owner."""
        from gateway import models as gateway_models
        from gateway.runtime import MIGRATIONS

        found = {name: (str(spec.migrations), spec.metadata) for name, spec in self.specs.items()}
        found["gateway"] = (str(MIGRATIONS), gateway_models.metadata)
        return found

    def migrate(self, owners: list[str] | None = None) -> None:
        migrations = self.migrations()
        for name in owners or list(migrations):
            script_location, metadata = migrations[name]
            upgrade(script_location, self.settings.database_url(name), metadata)

    def stop(self) -> None:
        for runtime in self._runtimes.values():
            runtime.stop()
        if self._gateway is not None:
            self._gateway.stop()
