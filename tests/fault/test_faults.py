"""Under a steady load through the gateway, each fault in turn, every target in its own process:
nothing accepted is lost or doubled, and the platform recovers by itself.

Each test sends the load (submissions, opinions in the open online consultation, reads), applies
its fault, lifts it, and measures the recovery: the seconds from lifting the fault until every
write accepted so far has all its effects (stored, its event published and consumed by each
consumer, the in-app message and the SMS at the carrier) and a new write was accepted. Then the
load runs on a little, stops, and every write of the test is checked once its effects had time to
land. During the fault, a request gets a 2xx or a 503 with ``Retry-After``, never another 5xx, a
dropped connection or a timeout. The table at the end of the output shows each fault's writes
accepted, lost and duplicated and its recovery time.
"""

from __future__ import annotations

import os
import time

import pytest

from tests.fault import report
from tests.fault.stack import APIS, WORKERS
from tests.support import wait_until

BROKER_DOWN_SECONDS = float(os.environ.get("XIESHANG_FAULT_BROKER_SECONDS", "30"))
STEADY_SECONDS = 4.0  # of load before a fault and after its recovery
SETTLE_SECONDS = 120.0  # at most this long for the effects of the last writes


def under_fault(stack, ledger, load, name: str, fault) -> report.Row:
    """Run ``fault()`` (which applies and lifts the fault, returning the monotonic time it was
    lifted) under the load; check the writes of the test; record and return the table's row."""
    load.phase = name
    time.sleep(STEADY_SECONDS)
    lifted = fault()
    pending = load.tally.accepted(phase=name, before=lifted)
    waited, check = ledger.wait_complete(pending, timeout=SETTLE_SECONDS)
    assert not check.lost, f"{name}: the effects of writes accepted before the fault was lifted\n{check.summary()}"
    first_ok = wait_until(lambda: next((w.at for w in load.tally.writes if w.at > lifted), None), timeout=60,
                          what=f"a write accepted after {name}")  # fmt: skip
    recovery = max(waited, first_ok - lifted)
    time.sleep(STEADY_SECONDS)
    load.phase = f"after {name}"
    writes = load.tally.accepted(phase=name)
    _, check = ledger.wait_complete(writes, timeout=SETTLE_SECONDS)
    answers = load.tally.answers
    row = report.Row(
        fault=name,
        accepted=len(writes),
        lost=len(check.lost),
        duplicated=len(check.duplicated),
        refused=sum(n for (phase, _kind, status), n in answers.items() if phase == name and status == 503),
        violations=sum(1 for v in load.tally.violations if v.startswith(f"[{name}]")),
        recovery_seconds=recovery,
    )
    report.ROWS.append(row)
    violations = [v for v in load.tally.violations if v.startswith(f"[{name}]")]
    assert not violations, f"{name}: {len(violations)} answers neither 2xx nor 503 + Retry-After:\n" + "\n".join(
        violations[:10]
    )
    assert row.accepted > 0, f"{name}: no write accepted"
    assert (row.lost, row.duplicated) == (0, 0), f"{name}: {check.summary()}"
    return row


def test_steady_load_without_a_fault(stack, ledger, load):
    under_fault(stack, ledger, load, "none (baseline)", time.monotonic)


def test_broker_stopped_and_restarted(stack, ledger, load):
    """The suite's RabbitMQ node stops its broker for 30 s (connections closed, port shut): the APIs
    keep accepting (the outbox holds the events), relays and consumers reconnect when it is back."""

    def fault() -> float:
        stack.broker.stop_app()
        time.sleep(BROKER_DOWN_SECONDS)
        stack.broker.start_app()
        return time.monotonic()

    under_fault(stack, ledger, load, f"broker down {BROKER_DOWN_SECONDS:.0f} s", fault)


@pytest.mark.parametrize("worker", WORKERS)
def test_worker_killed_mid_burst_and_restarted(stack, ledger, load, worker):
    """A burst of submissions, and the worker SIGKILLed while it consumes them: what it had not
    committed is redelivered to the restarted worker, what it had committed is not applied twice.
    Meetings' worker consumes matters accepted by the community (the others, submissions too)."""
    service = worker.removesuffix("-worker")

    def fault() -> float:
        before = ledger.inbox_size(service)
        burst = load.burst(20, "accept") if service == "meetings" else load.burst(40)
        wait_until(lambda: ledger.inbox_size(service) > before, timeout=30, interval=0.05,
                   what=f"{worker} consuming the burst")  # fmt: skip
        stack.kill(worker)
        burst.join(60)
        stack.start_target(worker)
        return time.monotonic()

    under_fault(stack, ledger, load, f"SIGKILL {worker}", fault)


def test_database_connections_cut(stack, ledger, load):
    """``pg_terminate_backend`` on every connection to the suite's databases, three times a second
    apart: requests that were using one are answered 503 with Retry-After, the rest reconnect."""

    def fault() -> float:
        cut = 0
        for _ in range(3):
            time.sleep(1)
            cut += stack.databases.cut_connections()
        assert cut > 0, "there were connections to cut"
        return time.monotonic()

    under_fault(stack, ledger, load, "PostgreSQL connections cut", fault)


@pytest.mark.parametrize("api", ["intake-api", "meetings-api"])
def test_service_api_killed_behind_the_gateway(stack, ledger, load, api):
    """The service answering the load's writes SIGKILLed for three seconds: the gateway answers 503
    with Retry-After meanwhile and routes to it again once it is back on its port."""

    def fault() -> float:
        stack.kill(api)
        time.sleep(3)
        stack.start_target(api)
        return time.monotonic()

    under_fault(stack, ledger, load, f"SIGKILL {api}", fault)


def test_sigterm_rollout_of_every_target(stack, ledger, load):
    """Every target stopped with SIGTERM and started again, one after the other, as a rolling
    deployment does: each finishes what it was doing and exits 0. The gateway's new instance starts
    beside the old one and takes the load before the old one is stopped (a load balancer's drain)."""
    exits = {}

    def fault() -> float:
        for target in (*APIS, *WORKERS):
            exits[target] = stack.processes.terminate(target)
            stack.start_target(target)
        old = stack.gateways[0]
        new = stack.start_gateway()
        stack.gateways[:] = [new]
        time.sleep(1)  # requests already sent to the old one are in flight
        name = next(n for n, url in stack.urls.items() if url == old)
        exits[name] = stack.processes.terminate(name)
        return time.monotonic()

    under_fault(stack, ledger, load, "SIGTERM rollout", fault)
    assert exits == dict.fromkeys(exits, 0), f"exit status after SIGTERM: {exits}"
