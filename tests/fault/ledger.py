"""What the platform did with the load's accepted writes, read from each service's database and
from what the carrier (Kannel's fakesmsc) received.

For every accepted submission: the matter stored once; one ``intake.proposal.submitted`` in intake's
outbox, published; that event in the inbox of every service that consumes it (``spec.handlers``);
one in-app message and one SMS of ``proposal_received`` for it in notify, the SMS sent; and the
carrier got that SMS's text once. The same for a matter accepted by the community
(``intake.proposal.accepted``, ``proposal_accepted``). For every accepted opinion: stored once.
A write is *lost* when one of these is missing, *duplicated* when one is there twice.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import create_engine, text

from tests.fault.load import Write
from tests.fault.stack import SERVICES
from xieshang.platform import load_specs

# What each kind of write sets off: the event intake emits, the template notify sends for it, and
# words of that template's text that tell its SMS at the carrier from the other one about the matter.
QUOTED = re.compile(r"“([^”]*)”")  # a matter's title in an SMS
EFFECTS = {
    "proposal": ("intake.proposal.submitted", "proposal_received", "已收到"),
    "accept": ("intake.proposal.accepted", "proposal_accepted", "已被列为协商议题"),
}


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
        specs = load_specs()
        self.consumers = {
            event_type: sorted(name for name, spec in specs.items() if event_type in spec.handlers)
            for event_type, _template, _words in EFFECTS.values()
        }

    def close(self) -> None:
        for engine in self.engines.values():
            engine.dispose()

    def rows(self, service: str, sql: str, **params) -> list:
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
        return self.rows(service, "SELECT count(*) FROM inbox")[0][0]

    def check(self, writes: list[Write]) -> Check:
        result = Check(accepted=len(writes))
        found: dict[tuple[str, str], Counter] = {(w.kind, w.marker): Counter() for w in writes}
        received = [m.text for m in self.stack.kannel.received()]
        proposals = [w for w in writes if w.kind == "proposal"]
        if proposals:
            stored = "SELECT title, count(*) FROM proposal WHERE title = ANY(:t) GROUP BY title"
            for title, n in self.rows("intake", stored, t=[w.marker for w in proposals]):
                found[("proposal", title)]["stored"] += n
        opinions = [w for w in writes if w.kind == "opinion"]
        if opinions:
            stored = "SELECT text, count(*) FROM opinion WHERE text = ANY(:t) GROUP BY text"
            for body, n in self.rows("meetings", stored, t=[w.marker for w in opinions]):
                found[("opinion", body)]["stored"] += n
        for kind, (event_type, template, words) in EFFECTS.items():
            of_kind = {w.id: found[(kind, w.marker)] for w in writes if w.kind == kind}
            if of_kind:
                self._effects(event_type, template, of_kind)
            at_carrier = Counter(title for text in received if words in text for title in QUOTED.findall(text))
            for w in writes:
                if w.kind == kind:  # the matter's title is the write's marker, and no other write's
                    found[(kind, w.marker)]["SMS at the carrier"] += at_carrier[w.marker]
        for w in writes:
            counts, expected = found[(w.kind, w.marker)], self.expected(w.kind)
            missing = [what for what in expected if counts[what] < 1]
            twice = [what for what in expected if counts[what] > 1]
            if missing:
                result.lost[f"{w.kind} {w.marker}"] = missing
            if twice:
                result.duplicated[f"{w.kind} {w.marker}"] = twice
        return result

    def _effects(self, event_type: str, template: str, counts: dict[str, Counter]) -> None:
        """Count, for each proposal id of ``counts``, its ``event_type`` in intake's outbox, the event in
        the consumers' inboxes, notify's in-app message and SMS of ``template``."""
        event_of: dict[str, Counter] = {}
        for event_id, proposal_id, published in self.rows(
            "intake",
            "SELECT event_id, (body::json)->'payload'->>'proposal_id', published_at IS NOT NULL FROM outbox "
            "WHERE event_type = :type AND (body::json)->'payload'->>'proposal_id' = ANY(:ids)",
            type=event_type,
            ids=list(counts),
        ):
            counts[proposal_id]["event"] += 1
            counts[proposal_id]["event published"] += 1 if published else 0
            event_of[event_id] = counts[proposal_id]
        events = list(event_of)
        for service in self.consumers[event_type]:
            for (event_id,) in self.rows(service, "SELECT event_id FROM inbox WHERE event_id = ANY(:e)", e=events):
                event_of[event_id][f"consumed by {service}"] += 1
        messages = "SELECT event_id, count(*) FROM notification WHERE template = :t AND event_id = ANY(:e) GROUP BY 1"
        for event_id, n in self.rows("notify", messages, t=template, e=events):
            event_of[event_id]["in-app message"] += n
        sms = "SELECT event_id, sent_at IS NOT NULL FROM sms_message WHERE template = :t AND event_id = ANY(:e)"
        for event_id, sent in self.rows("notify", sms, t=template, e=events):
            event_of[event_id]["SMS queued"] += 1
            event_of[event_id]["SMS sent"] += 1 if sent else 0

    def expected(self, kind: str) -> tuple[str, ...]:
        stored = ("stored",) if kind in {"proposal", "opinion"} else ()
        if kind not in EFFECTS:
            return stored
        consumers = tuple(f"consumed by {s}" for s in self.consumers[EFFECTS[kind][0]])
        return (*stored, "event", "event published", *consumers, "in-app message", "SMS queued", "SMS sent",
                "SMS at the carrier")  # fmt: skip

    def wait_complete(self, writes: list[Write], timeout: float) -> tuple[float, Check]:
        """Poll until nothing of ``writes`` is missing (or ``timeout``); (seconds waited, last check)."""
        started = time.monotonic()
        while True:
            check = self.check(writes)
            if not check.lost or time.monotonic() - started > timeout:
                return time.monotonic() - started, check
            time.sleep(0.5)
