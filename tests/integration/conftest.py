"""Integration tests: the real RabbitMQ and PostgreSQL this machine runs.

URLs come from ``XIESHANG_TEST_AMQP_URL`` and ``XIESHANG_TEST_DATABASE_URL`` (defaulting to the
local servers). Where no such server answers but a Docker engine does, testcontainers starts one
for the session. Each test gets fresh databases (one per service) and its own exchange and queue
names, removed afterwards. Under ``CI=true`` an unreachable server fails the run; elsewhere the
tests are skipped with the reason.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from urllib.parse import urlsplit

import psycopg
import pytest
from kombu import Connection
from sqlalchemy.engine import make_url

from shared.db import Database
from tests.support import probe_metadata

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"
DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"
SERVICES = ("intake", "meetings", "tracking", "notify", "gateway")


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


def _unavailable(what: str, exc: Exception):
    message = f"{what} is unreachable: {exc!r}"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"{message} (CI=true: integration tests must not be skipped)", pytrace=False)
    pytest.skip(message)


def _psycopg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _check_amqp(url: str) -> None:
    with Connection(url, connect_timeout=3) as conn:
        conn.ensure_connection(max_retries=1, timeout=3)


def _check_postgres(url: str) -> None:
    with psycopg.connect(_psycopg_dsn(url), connect_timeout=3):
        pass


def _docker_available() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception:  # noqa: BLE001 - no engine, no socket, no permission: all mean "no Docker"
        return False
    return True


def _server(request, what: str, env_var: str, default: str, check, start_container) -> str:
    url = os.environ.get(env_var, default)
    try:
        check(url)
        return url
    except Exception as exc:  # noqa: BLE001 - any failure to connect
        if env_var in os.environ or not _docker_available():
            _unavailable(what, exc)
    container, url = start_container()
    request.addfinalizer(container.stop)
    check(url)
    return url


def _rabbitmq_container():
    from testcontainers.rabbitmq import RabbitMqContainer

    container = RabbitMqContainer("rabbitmq:3.13").start()
    params = container.get_connection_params()
    return container, f"amqp://guest:guest@{params.host}:{params.port}//"


def _postgres_container():
    from testcontainers.postgres import PostgresContainer

    container = PostgresContainer("postgres:16", driver=None).start()
    return container, container.get_connection_url()


@pytest.fixture(scope="session")
def amqp_url(request):
    return _server(request, "RabbitMQ", "XIESHANG_TEST_AMQP_URL", AMQP_URL, _check_amqp, _rabbitmq_container)


@pytest.fixture(scope="session")
def postgres_url(request):
    return _server(
        request, "PostgreSQL", "XIESHANG_TEST_DATABASE_URL", DATABASE_URL, _check_postgres, _postgres_container
    )


@pytest.fixture
def make_database(postgres_url):
    """Create fresh PostgreSQL databases for this test; all are dropped afterwards."""
    created = []
    admin = psycopg.connect(_psycopg_dsn(postgres_url), autocommit=True)

    def make(label: str = "db") -> str:
        name = f"xs_{label}_{uuid.uuid4().hex[:10]}"
        admin.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return make_url(postgres_url).set(drivername="postgresql+psycopg", database=name).render_as_string(False)

    yield make
    for name in created:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture
def env(env, amqp_url, make_database):
    env = {**env, "XIESHANG_AMQP_URL": amqp_url, "XIESHANG_RETRY_DELAYS": "0.2,0.4"}
    for service in SERVICES:
        env[f"XIESHANG_{service.upper()}_DATABASE_URL"] = make_database(service)
    yield env
    _delete_bus_names(amqp_url, env["XIESHANG_BUS_NAMESPACE"])


def _delete_bus_names(url: str, namespace: str) -> None:
    with Connection(url) as conn:
        channel = conn.channel()
        for service in (*SERVICES, "probe"):
            base = f"{namespace}.{service}"
            for name in (base, f"{base}.dead", *(f"{base}.retry.{i}" for i in range(5))):
                with contextlib.suppress(Exception):
                    channel.queue_delete(name)
        with contextlib.suppress(Exception):
            channel.exchange_delete(f"{namespace}.events")


@pytest.fixture
def pg_probe_db(make_database):
    db = Database(make_database("probe"), "probe")
    probe_metadata.create_all(db.engine)
    yield db
    db.dispose()


@pytest.fixture
def broker_proxy(amqp_url):
    """A cuttable TCP path to the real broker, and the AMQP URL that goes through it."""
    from tests.support import TcpProxy

    parts = urlsplit(amqp_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5672)
    proxied = parts._replace(netloc=f"{parts.username}:{parts.password}@127.0.0.1:{proxy.port}").geturl()
    yield proxy, proxied
    proxy.close()


def drain_queue(url: str, queue_name: str) -> list:
    """Take every message off a queue on the real broker (bypassing the code under test)."""
    messages = []
    with Connection(url) as conn:
        channel = conn.channel()
        while True:
            message = channel.basic_get(queue_name, no_ack=True)
            if message is None:
                return messages
            messages.append(message)


@pytest.fixture
def observed_events(env, amqp_url):
    """A queue bound to every event of this test's exchange, read straight off the real broker."""
    from kombu import Exchange, Queue

    name = f"{env['XIESHANG_BUS_NAMESPACE']}.observer"
    with Connection(amqp_url) as conn:
        channel = conn.channel()
        exchange = Exchange(f"{env['XIESHANG_BUS_NAMESPACE']}.events", type="topic", durable=True)
        exchange(channel).declare()
        Queue(name, exchange, routing_key="#", durable=False, auto_delete=False)(channel).declare()

    def read() -> list[str]:
        return [m.properties["type"] for m in drain_queue(amqp_url, name)]

    yield read
    with Connection(amqp_url) as conn, contextlib.suppress(Exception):
        conn.channel().queue_delete(name)


@pytest.fixture
def processes(env, platform, tmp_path):
    """Targets started as real processes on this test's databases and bus names, stopped afterwards."""
    from tests.integration.processes import Processes

    procs = Processes(env, tmp_path)
    yield procs
    procs.stop_all()


@pytest.fixture
def start_kannel(tmp_path):
    """Start a real Kannel (bearerbox, smsbox, fakesmsc carrier) whose sms-service calls ``mo_url``:
    ``start_kannel(mo_url) -> tests.kannel.Kannel``. Everything started is stopped afterwards.
    Without the Kannel packages the test fails under ``CI=true`` and is skipped elsewhere."""
    from tests.kannel import Kannel, kannel_available

    reason = kannel_available()
    if reason:
        _unavailable("Kannel", FileNotFoundError(reason))
    started: list[Kannel] = []

    def start(mo_url: str) -> Kannel:
        kannel = Kannel(tmp_path / f"kannel{len(started)}", mo_url)
        started.append(kannel)
        return kannel.start()

    yield start
    for kannel in reversed(started):
        kannel.stop()
