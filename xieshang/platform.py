"""Bootstrap: one place that turns settings into running parts (cosmicpython's bootstrap).

A ``Platform`` creates each service's runtime at most once per process, so when one process runs
a service's API and its worker (``all`` mode) both share one database engine and one relay.
"""

from __future__ import annotations

import importlib
import threading

from shared.bus.topology import Topology
from shared.config import SERVICES, Settings
from shared.migrations import upgrade
from shared.service import ServiceRuntime, ServiceSpec, topology_for


def load_specs() -> dict[str, ServiceSpec]:
    return {name: importlib.import_module(f"services.{name}").SPEC for name in SERVICES}


class Platform:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.specs = load_specs()
        self.topology: Topology = topology_for(self.specs.values(), settings)
        self._runtimes: dict[str, ServiceRuntime] = {}
        self._lock = threading.Lock()

    def runtime(self, service: str) -> ServiceRuntime:
        with self._lock:
            if service not in self._runtimes:
                self._runtimes[service] = ServiceRuntime(self.specs[service], self.settings, self.topology)
            return self._runtimes[service]

    def migrate(self, services: list[str] | None = None) -> None:
        for name in services or list(self.specs):
            spec = self.specs[name]
            upgrade(str(spec.migrations), self.settings.database_url(name), spec.metadata)

    def stop(self) -> None:
        for runtime in self._runtimes.values():
            runtime.stop()
