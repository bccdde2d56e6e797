"""What the platform did with the load's accepted writes, read from each service's database and
from what the carrier (Kannel's fakesmsc) received.

For every accepted submission: the matter stored once; one ``intake.proposal.submitted`` in intake's
outbox, published; that event in the inbox of every service that consumes it (``spec.handlers``);
one in-app message and one SMS of ``proposal_received`` for it in notify, the SMS sent; and the
carrier got that SMS once. For every accepted opinion: stored once. A write is *lost* when one of
these is missing, *duplicated* when one is there twice.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import create_engine, text

from tests.fault.load import Write
from tests.fault.stack import SERVICES
from xieshang.platform import load_specs

SUBMITTED = "intake.proposal.submitted"


@dataclass
class Check:
    accepted: int = 0
    lost: dict[str, list[str]] = field(default_factory=dict)  # marker -> what is missing
    duplicated: dict[str, list[str]] = field(default_factory=dict)  # marker -> what is there twice

    def summary(self, limit: int = 5) -> str:
        lines = [f"{len(self.lost)} lost, {len(self.duplicated)} duplicated of {self.accepted}"]
        lines += [f"  lost {m}: {', '.join(w)}" for m, w in list(self.lost.items())[:limit]]
        lines += [f"  duplicated {m}: {', '.join(w)}" for m, w in list(self.duplicated.items())[:limit]]
        return "\n".join(lines)


class Ledger:
    def __init__(self, stack):
        self.stack = stack
        self.engines = {s: create_engine(stack.databases.url(s), pool_pre_ping=True) for s in SERVICES}
        self.consumers = sorted(name for name, spec in load_specs().items() if SUBMITTED in spec.handlers)

    def close(self) -> None:
        for engine in self.engines.values():
            engine.dispose()

    def _rows(self, service: str, sql: str, **params) -> list:
        for attempt in (1, 2):  # the suite cuts these databases' connections too
            try:
                with self.engines[service].connect() as conn:
                    return list(conn.execute(text(sql), params))
            except Exception:  # one retry on a fresh connection
                if attempt == 2:
                    raise
                time.sleep(0.5)
        return []

    def inbox_size(self, service: str) -> int:
        return self._rows(service, "SELECT count(*) FROM inbox")[0][0]

    def check(self, writes: list[Write]) -> Check:
        result = Check(accepted=len(writes))
        proposals = [w for w in writes if w.kind == "proposal"]
        opinions = [w for w in writes if w.kind == "opinion"]
        found: dict[str, Counter] = {w.marker: Counter() for w in writes}
        titles = [w.marker for w in proposals]
        ids = {w.id: w.marker for w in proposals}
        if proposals:
            stored = "SELECT title, count(*) FROM proposal WHERE title = ANY(:t) GROUP BY title"
            for title, n in self._rows("intake", stored, t=titles):
                found[title]["stored"] += n
            event_of: dict[str, str] = {}
            for event_id, proposal_id, published in self._rows(
                "intake",
                "SELECT event_id, (body::json)->'payload'->>'proposal_id', published_at IS NOT NULL FROM outbox "
                "WHERE event_type = :type AND (body::json)->'payload'->>'proposal_id' = ANY(:ids)",
                type=SUBMITTED,
                ids=list(ids),
            ):
                marker = ids[proposal_id]
                found[marker]["event"] += 1
                found[marker]["event published"] += 1 if published else 0
                event_of[event_id] = marker
            events = list(event_of)
            for service in self.consumers:
                for (event_id,) in self._rows(service, "SELECT event_id FROM inbox WHERE event_id = ANY(:e)", e=events):
                    found[event_of[event_id]][f"consumed by {service}"] += 1
            for event_id, n in self._rows(
                "notify",
                "SELECT event_id, count(*) FROM notification WHERE template = 'proposal_received' "
                "AND event_id = ANY(:e) GROUP BY event_id",
                e=events,
            ):
                found[event_of[event_id]]["in-app message"] += n
            for event_id, n, sent in self._rows(
                "notify",
                "SELECT event_id, count(*), count(sent_at) FROM sms_message WHERE template = "
                "'proposal_received' AND event_id = ANY(:e) GROUP BY event_id",
                e=events,
            ):
                found[event_of[event_id]]["SMS queued"] += n
                found[event_of[event_id]]["SMS sent"] += sent
            received = [m.text for m in self.stack.kannel.received()]
            for title in titles:
                found[title]["SMS at the carrier"] += sum(1 for t in received if f"“{title}”" in t)
        if opinions:
            stored = "SELECT text, count(*) FROM opinion WHERE text = ANY(:t) GROUP BY text"
            for body, n in self._rows("meetings", stored, t=[w.marker for w in opinions]):
                found[body]["stored"] += n
        for w in writes:
            expected = self.expected(w.kind)
            missing = [what for what in expected if found[w.marker][what] < 1]
            twice = [what for what in expected if found[w.marker][what] > 1]
            if missing:
                result.lost[w.marker] = missing
            if twice:
                result.duplicated[w.marker] = twice
        return result

    def expected(self, kind: str) -> tuple[str, ...]:
        if kind == "opinion":
            return ("stored",)
        return (
            "stored",
            "event",
            "event published",
            *(f"consumed by {s}" for s in self.consumers),
            "in-app message",
            "SMS queued",
            "SMS sent",
            "SMS at the carrier",
        )

    def wait_complete(self, writes: list[Write], timeout: float) -> tuple[float, Check]:
        """Poll until nothing of ``writes`` is missing (or ``timeout``); (seconds waited, last check)."""
        started = time.monotonic()
        while True:
            check = self.check(writes)
            if not check.lost or time.monotonic() - started > timeout:
                return time.monotonic() - started, check
            time.sleep(0.5)
