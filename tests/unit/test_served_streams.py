"""The whole platform served as ``xieshang run --target all`` serves it (one gunicorn ``gthread``
worker): open event streams take only their share of the worker's threads, so ``/healthz`` and
Open311 still answer however many streams one resident, or several, ask for."""

from __future__ import annotations

import pytest
import requests

from shared.problems import PROBLEM_JSON
from tests.conftest import YANLIUYUAN
from tests.integration.processes import Processes

STREAM = "/api/v1/notify/inbox/stream"
THREADS = 6  # half of them, 3, may be streams; 2 per account


@pytest.fixture
def served(env, platform, tmp_path):
    """``xieshang run --target all`` on this test's databases and keys, with ``THREADS`` threads."""
    processes = Processes({**env, "XIESHANG_WEB_THREADS": str(THREADS)}, tmp_path)
    try:
        yield processes.start("all")
    finally:
        for target in list(processes.running):
            processes.kill(target)  # a graceful stop would wait for the streams' next keep-alive to end them


def test_streams_leave_threads_for_health_checks_and_open311(served, auth):
    first, second, third = (auth("resident", YANLIUYUAN, subject=f"resident-served-{n}") for n in range(3))
    asked = [first, first, first, second, second, third]  # as many streams as the worker has threads
    responses: list[requests.Response] = []
    try:
        for headers in asked:
            responses.append(requests.get(served + STREAM, headers=headers, stream=True, timeout=10))
        served_streams = [r for r in responses if r.status_code == 200]
        refusals = [r for r in responses if r.status_code != 200]
        for response in served_streams:  # each is live: a thread is writing it
            assert next(response.iter_lines()) == b"event: unread"
        assert [r.status_code for r in refusals] == [429, 429, 429]
        assert all(r.headers["Content-Type"] == PROBLEM_JSON and int(r.headers["Retry-After"]) > 0 for r in refusals)
        details = [r.json()["detail"] for r in refusals]
        assert "每个账号最多2个" in details[0]  # the first resident's third
        assert all("实时消息连接已满" in detail for detail in details[1:])  # the worker's share is taken

        # While the streams stay open, the threads left answer everything else (a liveness bound,
        # not a speed goal: without the limits these waited for minutes).
        health = requests.get(served + "/healthz", timeout=10)
        assert health.status_code == 200
        assert health.json()["status"] == "ok"
        services = requests.get(served + "/open311/v2/services.json", timeout=10)
        assert services.status_code == 200
        assert services.headers["Content-Type"].startswith("application/json")
        assert requests.get(served + "/api/v1/notify/inbox", headers=third, timeout=10).status_code == 200
    finally:
        for response in responses:
            response.close()
