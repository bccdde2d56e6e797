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

from tests.fault import report
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
    wait_until(lambda: load.tally.last_ok > lifted, timeout=60, what=f"a write accepted after {name}")
    recovery = max(lifted + waited, load.tally.last_ok) - lifted
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
