"""Nothing a client sends breaks the embedded platform (SQLite, in-memory bus): every operation of
the merged OpenAPI document and of Open311, positive and negative data, a token of each role.
``XIESHANG_FUZZ_PROFILE=full`` (``make test-fuzz``) runs many more cases than ``make test``."""

import pytest

from tests.fuzz.harness import report
from tests.fuzz.suite import FUZZ_ENV, fuzz_platform


@pytest.fixture
def env(env):
    return {**env, **FUZZ_ENV}


def test_no_request_breaks_the_embedded_platform(platform_all, gateway, keys, request):
    tally = fuzz_platform(platform_all, gateway, keys, "Fuzzing the embedded platform (SQLite, in-memory bus)")
    report(request.config, tally)
    if tally.failed():
        pytest.fail(tally.summary(), pytrace=False)
