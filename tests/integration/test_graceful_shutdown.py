"""Across a SIGTERM under load nothing is lost or applied twice: every target in its own process,
RabbitMQ and PostgreSQL real.

Residents keep submitting matters to ``intake-api`` from several threads. Its event reaches two
consumers: ``intake-worker`` (the duplicate index) and ``notify-worker`` (the submitter's in-app
message). Mid-load each worker is sent SIGTERM, as the kubelet does, and started again; then
``intake-api`` is, and started again on its port while the residents keep trying. Each stopped
process exits 0 within its drain (a kill would be -9), having applied part of the load; its
successor applies the rest. In the end every matter a resident was told was accepted (201) is
stored, each once, nothing else is; each consumer applied every event exactly once across its
two lives (its log says ``processed`` once per event, never ``duplicate``: nothing was committed
and left unacked); every matter has its one in-app message; the API's outbox was empty when it
exited (its relay published what its last requests committed).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import uuid
from collections import Counter

import pytest
import requests
from sqlalchemy import create_engine, func, select

from services.intake.models import proposals
from services.notify.models import notifications
from tests.conftest import YANLIUYUAN
from tests.support import wait_until
from xieshang.server import API_DRAIN_SECONDS, WORKER_DRAIN_SECONDS

SUBMITTED = "intake.proposal.submitted"
CONSUMERS = ("intake-worker", "notify-worker")
RESIDENTS = 3  # threads submitting at once
PAUSE = 0.05  # seconds between one resident's submissions


class Residents:
    """Threads submitting matters until stopped; what each was answered."""

    def __init__(self, url: str, headers: dict[str, str]):
        self.url, self.headers = url, headers
        self.accepted: list[str] = []  # ids answered 201
        self.unreachable = 0  # connections refused or dropped while intake-api was down
        self.other: list[int] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(RESIDENTS)]

    def __enter__(self) -> Residents:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _run(self) -> None:
        while not self._stop.is_set():
            matter = {
                "community_code": YANLIUYUAN,
                "title": f"楼道杂物堆放{uuid.uuid4().hex[:6]}",
                "description": "三单元楼道堆放杂物,影响通行和消防安全",
                "category": "environment",
            }
            try:
                # A fresh connection each time: a refused one is the server's, not a stale keep-alive.
                response = requests.post(self.url, json=matter, headers=self.headers, timeout=30)
            except requests.ConnectionError:
                with self._lock:
                    self.unreachable += 1
                self._stop.wait(0.05)
                continue
            with self._lock:
                if response.status_code == 201:
                    self.accepted.append(response.json()["id"])
                else:
                    self.other.append(response.status_code)
            self._stop.wait(PAUSE)

    def count(self) -> int:
        with self._lock:
            return len(self.accepted)


def terminate(processes, name: str, drain: float) -> int:
    """SIGTERM to the target's main process (the kubelet's signal to PID 1), its exit status."""
    process = processes.running.pop(name)
    os.kill(process.pid, signal.SIGTERM)
    try:
        return process.wait(drain + 10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
        pytest.fail(f"{name} did not exit within its drain of {drain} s after SIGTERM")


def applied(lines: list[str]) -> list[tuple[str, str]]:
    """(event id, outcome) of every submission event these log lines of a consumer say it applied."""
    found = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("event_type") == SUBMITTED and entry.get("msg", "").startswith("event "):
            found.append((entry["event_id"], entry["msg"].removeprefix("event ")))
    return found


def lines(path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_a_sigterm_under_load_loses_nothing_and_applies_nothing_twice(env, processes, platform, with_divisions,
                                                                     auth, tmp_path):  # fmt: skip
    intake = processes.start("intake-api")
    for consumer in CONSUMERS:
        processes.start(consumer)
    notify = create_engine(env["XIESHANG_NOTIFY_DATABASE_URL"])
    intake_db = create_engine(env["XIESHANG_INTAKE_DATABASE_URL"])
    outbox = platform.specs["intake"].tables.outbox

    def messages() -> int:
        with notify.connect() as connection:
            return connection.scalar(select(func.count()).select_from(notifications))

    headers = auth("resident", YANLIUYUAN, subject="resident-7")
    first_lives = {}
    with Residents(f"{intake}/api/v1/intake/proposals", headers) as residents:
        wait_until(lambda: messages() >= 40, timeout=60, what="the load to reach notify")
        for consumer in CONSUMERS:
            log = tmp_path / f"{consumer}.log"
            assert terminate(processes, consumer, WORKER_DRAIN_SECONDS) == 0, log.read_text()[-3000:]
            first_lives[consumer] = len(lines(log))
            before = residents.count()
            processes.start(consumer)  # its log goes on in the same file
            wait_until(lambda b=before: residents.count() >= b + 30, timeout=60, what="the load to go on")

        port = processes.ports["intake-api"]
        assert terminate(processes, "intake-api", API_DRAIN_SECONDS) == 0
        with intake_db.connect() as connection:
            pending = connection.scalar(select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None)))
        assert pending == 0, "the relay's last pass publishes what the last requests committed"
        processes.start("intake-api", port=port)
        before = residents.count()
        wait_until(lambda: residents.count() >= before + 30, timeout=60, what="submissions after the restart")

    accepted = residents.accepted
    assert residents.other == [], "every answer was a 201 or no connection at all"
    assert residents.unreachable > 0, "residents kept trying while intake-api was down"
    with intake_db.connect() as connection:
        stored = list(connection.scalars(select(proposals.c.id)))
    assert sorted(stored) == sorted(accepted), "every accepted matter stored once, nothing else"

    wait_until(lambda: messages() >= len(accepted), timeout=120, what=f"{len(accepted)} in-app messages")
    for consumer in CONSUMERS:
        log = tmp_path / f"{consumer}.log"
        wait_until(
            lambda log=log: len(applied(lines(log))) >= len(accepted), timeout=120, what=f"{consumer} to catch up"
        )
        outcomes = applied(lines(log))
        assert {outcome for _, outcome in outcomes} == {"processed"}, f"{consumer} met an event it had applied"
        times = Counter(event_id for event_id, _ in outcomes)
        assert len(times) == len(accepted) and set(times.values()) == {1}, f"{consumer}: each event applied once"
        first_life = applied(lines(log)[: first_lives[consumer]])
        assert 0 < len(first_life) < len(accepted), f"{consumer} was stopped mid-load, its successor went on"
    with notify.connect() as connection:
        per_event = connection.execute(
            select(notifications.c.event_id, func.count()).group_by(notifications.c.event_id)
        ).all()
    assert len(per_event) == len(accepted) and {n for _, n in per_event} == {1}


def test_an_open_inbox_stream_is_ended_cleanly_when_its_api_is_told_to_stop(processes, auth):
    """The stream ends with its last chunk (a complete chunked response), not cut by a kill at the
    end of gunicorn's graceful timeout; the browser's EventSource then reconnects elsewhere."""
    notify = processes.start("notify-api")
    headers = {**auth("resident", YANLIUYUAN, subject="resident-8"), "Accept": "text/event-stream"}
    with requests.get(f"{notify}/api/v1/notify/inbox/stream", headers=headers, stream=True, timeout=60) as stream:
        assert stream.status_code == 200
        chunks = stream.iter_content(chunk_size=None)
        assert b"event: unread" in next(chunks)
        assert terminate(processes, "notify-api", API_DRAIN_SECONDS) == 0
        rest = b"".join(chunks)  # raises ChunkedEncodingError if the connection was cut mid-response
    assert b"event:" not in rest
