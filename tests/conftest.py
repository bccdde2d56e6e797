"""Fixtures shared by unit and integration tests.

Unit tests run the real code on SQLite files in a temporary directory and kombu's in-memory bus;
every test gets its own directory and its own bus namespace, so tests never see each other's data.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable

import pytest

from shared.auth import TokenIssuer
from shared.config import Settings, load_settings
from shared.divisions import REFERENCE_CSV, parse_csv
from shared.keys import KeyStore
from shared.principal import Principal
from xieshang.platform import Platform

CHIYANG = "341702001"  # 池阳街道
YANLIUYUAN = "341702001001"  # 烟柳园社区 (sample code)
XIJIE = "341702001002"  # 西街社区 (sample)
QIUPU_COMMUNITY = "341702002001"  # a community of another street


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "var"


@pytest.fixture
def env(data_dir) -> dict[str, str]:
    """Environment of a platform under test; tests may add to it before ``settings`` is built."""
    return {
        "XIESHANG_DATA_DIR": str(data_dir),
        "XIESHANG_AMQP_URL": "memory://",
        "XIESHANG_BUS_NAMESPACE": f"t{uuid.uuid4().hex[:10]}",
        "XIESHANG_RETRY_DELAYS": "0.05,0.1",
        "XIESHANG_RELAY_INTERVAL": "0.2",
    }


@pytest.fixture
def settings(env):
    return load_settings(env)


@pytest.fixture
def keys(settings) -> KeyStore:
    store = KeyStore(settings.keys_dir)
    store.current()
    return store


@pytest.fixture
def token(keys) -> Callable[..., str]:
    issuer = TokenIssuer(keys)

    def make(role: str = "resident", scope: str = YANLIUYUAN, subject: str | None = None, ttl: int = 600) -> str:
        return issuer.issue(Principal(subject or f"{role}-{uuid.uuid4().hex[:6]}", role, scope), ttl=ttl)

    return make


@pytest.fixture
def auth(token) -> Callable[..., dict[str, str]]:
    def headers(*args, **kwargs) -> dict[str, str]:
        return {"Authorization": f"Bearer {token(*args, **kwargs)}"}

    return headers


@pytest.fixture
def divisions():
    return parse_csv(REFERENCE_CSV.read_text(encoding="utf-8"))


@pytest.fixture
def clock():
    """A clock standing at a fixed moment (2026-12-01 10:00 Beijing time) until moved."""
    from datetime import UTC, datetime

    from shared.clock import FixedClock

    return FixedClock(datetime(2026, 12, 1, 2, 0, tzinfo=UTC))


@pytest.fixture
def memory_service(divisions):
    """``memory_service("intake")``: the service's use cases on an in-memory database (no HTTP)."""
    from tests.memory import InMemoryService
    from xieshang.platform import load_spec

    made: list[InMemoryService] = []

    def make(name: str) -> InMemoryService:
        made.append(InMemoryService(load_spec(name), divisions))
        return made[-1]

    yield make
    for service in made:
        service.close()


@pytest.fixture(scope="session")
def migrated(tmp_path_factory):
    """Every database migrated once per test run, as SQLite files that each test copies: migrating
    five databases for every test was most of the suite's time."""
    directory = tmp_path_factory.mktemp("migrated")
    template = Platform(load_settings({"XIESHANG_DATA_DIR": str(directory)}))
    template.migrate()
    template.stop()
    return directory


@pytest.fixture
def platform(settings, keys, migrated):
    """The platform's parts with migrated databases: SQLite ones copied from the migrated templates,
    the others (PostgreSQL in integration tests) migrated here."""
    platform = Platform(settings)
    to_migrate = []
    for owner in platform.migrations():
        if settings.database_url(owner) == Settings.sqlite_url(settings.data_dir, owner):
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(migrated / f"{owner}.db", settings.data_dir / f"{owner}.db")
        else:
            to_migrate.append(owner)
    if to_migrate:
        platform.migrate(to_migrate)
    yield platform
    platform.stop()


@pytest.fixture
def probe_db(tmp_path):
    """A database with the bus tables and a probe effect table, for tests of the bus itself."""
    from shared.db import Database
    from tests.support import probe_metadata

    db = Database(f"sqlite:///{tmp_path / 'probe.db'}", "probe")
    probe_metadata.create_all(db.engine)
    yield db
    db.dispose()


def probe_topology(settings, retry_delays=None):
    from shared.bus.topology import Topology
    from tests.support import PROBE_EVENT

    return Topology(
        namespace=settings.bus_namespace,
        subscriptions={"probe": [PROBE_EVENT]},
        retry_delays=retry_delays or settings.retry_delays,
    )


@pytest.fixture
def with_divisions(platform, divisions):
    """Every service's replica of the registry filled, as replication would leave it."""
    from services.tracking import services as tracking
    from shared.division_registry import upsert

    for name, spec in platform.specs.items():
        if name == "tracking":  # the owner loads it (and counts the communities per area), as the CLI does
            with platform.runtime(name).unit_of_work() as uow:
                tracking.load_divisions(uow, divisions)
            continue
        with platform.runtime(name).db.transaction() as session:
            upsert(session, spec.metadata.tables["division"], divisions)
    return divisions


@pytest.fixture
def platform_all(settings, keys, with_divisions):
    """The whole platform in this process (``--target all``), background parts running."""
    from xieshang.server import build, shutdown

    assembly = build(settings, "all")
    yield assembly
    shutdown(assembly)


@pytest.fixture
def gateway(platform_all):
    """A client of the gateway of the in-process platform."""
    from werkzeug.test import Client

    return Client(platform_all.http_entry)


@pytest.fixture
def cli(env, monkeypatch, capsys):
    """Run ``xieshang`` commands in this process against the test's platform; returns (code, stdout)."""
    from xieshang.cli import main

    for key, value in env.items():
        monkeypatch.setenv(key, value)

    def run(*args: str) -> tuple[int, str]:
        code = main(list(args))
        return code, capsys.readouterr().out

    return run
