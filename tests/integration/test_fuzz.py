"""Nothing a client sends breaks the platform on PostgreSQL and RabbitMQ: the fuzz run of
tests/fuzz (every operation of the merged OpenAPI document and of Open311, a token of each role)
through the gateway of the ``all`` assembly, on fresh databases and queue names."""

import pytest

from tests.fuzz.harness import report
from tests.fuzz.suite import FUZZ_ENV, fuzz_platform


@pytest.fixture
def env(env):
    return {**env, **FUZZ_ENV}


def test_no_request_breaks_the_platform_on_postgresql_and_rabbitmq(platform_all, gateway, keys, request):
    tally = fuzz_platform(platform_all, gateway, keys, "Fuzzing the platform on PostgreSQL and RabbitMQ")
    report(request.config, tally)
    if tally.failed():
        pytest.fail(tally.summary(), pytrace=False)
