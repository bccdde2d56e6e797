"""Run targets (like Loki's ``-target``): modules with declared dependencies.

A target names what one process runs. ``intake-api`` serves intake's HTTP routes and relays its
outbox; ``intake-worker`` consumes intake's events (and relays what its handlers emit);
``gateway`` routes to the service APIs; ``all`` is the union of every module and runs the whole
platform in one process, the gateway routing in-process. Resolving a target walks its
dependencies, so adding a module is one entry here, never another branch in the runner.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shared.config import SERVICES
from shared.periodic import Periodic

if TYPE_CHECKING:  # the registry itself stays import-light: `run` reads it before metrics are set up
    from xieshang.platform import Platform


@dataclass
class Assembly:
    """What a process runs once its modules are initialised."""

    platform: Platform
    apps: dict[str, Callable] = field(default_factory=dict)  # name -> WSGI app
    background: list[Periodic] = field(default_factory=list)
    http_entry: Callable | None = None  # the WSGI app the server serves
    ready_checks: dict[str, Callable[[], None]] = field(default_factory=dict)


@dataclass(frozen=True)
class Module:
    name: str
    init: Callable[[Assembly], None]
    deps: tuple[str, ...] = ()
    serves_http: bool = False


def _api(service: str) -> Callable[[Assembly], None]:
    def init(assembly: Assembly) -> None:
        runtime = assembly.platform.runtime(service)
        assembly.apps[service] = runtime.create_api()
        runtime.register_collectors()
        assembly.ready_checks.update({f"{service}.{k}": v for k, v in runtime.ready_checks().items()})
        _add_once(assembly, runtime.relay())

    return init


def _worker(service: str) -> Callable[[Assembly], None]:
    def init(assembly: Assembly) -> None:
        runtime = assembly.platform.runtime(service)
        if runtime.spec.handlers:  # a service that consumes nothing yet only relays its outbox
            consumer = runtime.consumer()
            _add_once(assembly, consumer)
            assembly.ready_checks[f"{service}.consumer"] = consumer.require_connected
        _add_once(assembly, runtime.relay())
        runtime.register_collectors()
        for part in runtime.background():
            _add_once(assembly, part)
        assembly.ready_checks.update({f"{service}.{k}": v for k, v in runtime.ready_checks().items()})

    return init


def _add_once(assembly: Assembly, component) -> None:
    if all(component is not existing for existing in assembly.background):
        assembly.background.append(component)


def _gateway(assembly: Assembly) -> None:
    from gateway.app import create_gateway
    from gateway.proxy import HttpUpstream

    settings = assembly.platform.settings
    upstreams: dict[str, Callable] = {}
    specs: dict[str, Callable[[], dict]] = {}
    checks: dict[str, Callable[[], None]] = {}
    for service in SERVICES:
        app = assembly.apps.get(service)
        if app is not None:  # same process: route in-process
            upstreams[service] = app
            specs[service] = app.extensions["xieshang.api"].spec.to_dict
            continue
        url = settings.service_url(service)
        if url:
            # The gateway holds a thread per stream it proxies: its streams count in the process's limits.
            upstream = HttpUpstream(
                service, url, read_timeout=settings.upstream_timeout, streams=assembly.platform.streams
            )
            upstreams[service], specs[service], checks[service] = upstream, upstream.openapi, upstream.ready
    checks.update(assembly.ready_checks)
    runtime = assembly.platform.gateway()
    gateway = create_gateway(runtime, upstreams, specs, checks)
    from web.app import create_web

    # The residents' web app at /: its pages ask the gateway's routes in this process.
    gateway.pages = create_web(gateway, settings.registration_area)
    assembly.http_entry = gateway


def _registry() -> dict[str, Module]:
    modules: dict[str, Module] = {}
    for service in SERVICES:
        modules[f"{service}-api"] = Module(f"{service}-api", _api(service), serves_http=True)
        modules[f"{service}-worker"] = Module(f"{service}-worker", _worker(service))
    modules["gateway"] = Module("gateway", _gateway, serves_http=True)
    # ``all`` needs every service module initialised before the gateway so routing is in-process.
    everything = tuple(name for name in modules if name != "gateway")
    modules["all"] = Module("all", _gateway, deps=everything, serves_http=True)
    return modules


MODULES = _registry()
TARGETS = tuple(MODULES)


def resolve(target: str) -> list[Module]:
    """The target's modules in dependency order (dependencies first)."""
    if target not in MODULES:
        raise KeyError(f"unknown target {target!r}; choose one of: {', '.join(TARGETS)}")
    ordered: list[Module] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in path:
            raise ValueError(f"dependency cycle: {' -> '.join((*path, name))}")
        module = MODULES[name]
        for dep in module.deps:
            visit(dep, (*path, name))
        if module not in ordered:
            ordered.append(module)

    visit(target, ())
    return ordered


def assemble(platform: Platform, target: str) -> Assembly:
    assembly = Assembly(platform)
    for module in resolve(target):
        module.init(assembly)
    if assembly.http_entry is None and len(assembly.apps) == 1:
        assembly.http_entry = next(iter(assembly.apps.values()))
    return assembly
