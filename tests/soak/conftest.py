"""The soak (``tests/soak``): the platform of the fault suite (every target in its own process, the
suite's own RabbitMQ node, PostgreSQL, Kannel) under a steady 20 submissions a second. The short
profile runs in ``make test``; ``XIESHANG_SOAK_PROFILE=full`` runs the 30 minutes of issue #19
(``XIESHANG_SOAK_SECONDS`` sets any other length)."""

from __future__ import annotations

import pytest

from tests.fault import report
from tests.fault.broker import OwnBroker, rabbitmq_available
from tests.fault.ledger import Ledger
from tests.fault.stack import Stack
from tests.integration.conftest import _unavailable, postgres_url  # noqa: F401 - the session's PostgreSQL
from tests.kannel import kannel_available


def pytest_terminal_summary(terminalreporter):
    if report.SOAK:
        terminalreporter.section("soak: memory per process and the bus tables")
        for line in report.SOAK:
            terminalreporter.write_line(line)


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/soak/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="package")
def soak_stack(postgres_url, tmp_path_factory):
    for reason in (rabbitmq_available(), kannel_available()):
        if reason:
            _unavailable("the soak's servers", FileNotFoundError(reason))
    broker = OwnBroker(tmp_path_factory.mktemp("soak-rabbitmq")).start()
    stack = Stack(tmp_path_factory.mktemp("soak"), broker, postgres_url, residents=10, phone_prefix="1392929")
    try:
        yield stack.start()
    finally:
        stack.stop()
        broker.stop()


@pytest.fixture(scope="package")
def soak_ledger(soak_stack):
    ledger = Ledger(soak_stack)
    yield ledger
    ledger.close()
