"""The fault suite (``make test-fault``): every target in its own process on a RabbitMQ node the
suite owns and on its own PostgreSQL databases, SMS through a real Kannel, under a steady load
through the gateway while each fault is applied (``test_faults.py``); then everything the run
produced is scanned for personal data (``test_personal_data.py``). One stack serves the package, so
the scan reads what the faults left. Under ``CI=true`` a missing server or tool fails the run."""

from __future__ import annotations

import pytest

from tests.fault import report
from tests.fault.broker import OwnBroker, rabbitmq_available
from tests.fault.ledger import Ledger
from tests.fault.load import Load
from tests.fault.stack import Stack
from tests.integration.conftest import _unavailable, postgres_url  # noqa: F401 - the session's PostgreSQL
from tests.kannel import kannel_available

RESIDENTS = 10  # twenty registrations an hour per address is the gateway's limit
PHONE_PREFIX = "1391919"
RATES = {"submissions": 4.0, "opinions": 2.0, "accepts": 1.0, "reads": 2.0}  # per second


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/fault/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


def pytest_terminal_summary(terminalreporter):
    if report.ROWS:
        terminalreporter.section("fault suite: writes under each fault")
        for line in report.table(report.ROWS):
            terminalreporter.write_line(line)


@pytest.fixture(scope="package")
def own_broker(tmp_path_factory):
    reason = rabbitmq_available()
    if reason:
        _unavailable("RabbitMQ (a node of the fault suite's own)", FileNotFoundError(reason))
    broker = OwnBroker(tmp_path_factory.mktemp("rabbitmq")).start()
    yield broker
    broker.stop()


@pytest.fixture(scope="package")
def stack(own_broker, postgres_url, tmp_path_factory):
    reason = kannel_available()
    if reason:
        _unavailable("Kannel", FileNotFoundError(reason))
    stack = Stack(tmp_path_factory.mktemp("stack"), own_broker, postgres_url, residents=RESIDENTS,
                  phone_prefix=PHONE_PREFIX)  # fmt: skip
    try:
        yield stack.start()
    finally:
        stack.stop()


@pytest.fixture(scope="package")
def ledger(stack):
    ledger = Ledger(stack)
    yield ledger
    ledger.close()


@pytest.fixture
def load(stack):
    """The steady load, running for the test."""
    worker = stack.token("community_worker", subject="fault-organiser")
    load = Load(stack.gateways, stack.residents, stack.consultation, worker, **RATES).start()
    yield load
    load.stop()
