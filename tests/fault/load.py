"""The steady load through the gateway: residents' submissions, their opinions in the open online
consultation and reads of their matters, each at a fixed arrival rate from a pool of client threads.

Every answer is classified. A write answered 2xx is *accepted* and recorded with the marker that
makes it findable (a serial in its title or text) and the phase it was sent in; a 503 with
``Retry-After`` is an allowed refusal; anything else — a 500 or another status, a 503 without
``Retry-After``, a refused or dropped connection, a timeout — is a *violation*. Each request goes on
a fresh connection (``Connection: close``): a connection refused or cut is then the platform's drop,
not a stale keep-alive of the client's. The clients do not retry: what a refused write would have
been is not counted as accepted.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import requests

from tests.conftest import YANLIUYUAN

SUBJECTS = ("楼道灯不亮", "垃圾分类点异味", "电动车充电桩不够", "健身器材损坏", "井盖松动", "绿化带被占", "路灯不亮")
STANCES = ("support", "concern", "proposal")
SERIALS = itertools.count(100001)  # one numbering for every load of the run: markers never repeat


@dataclass(frozen=True)
class Write:
    kind: str  # "proposal", "opinion" or "accept" (the community accepts a submitted matter)
    marker: str  # a title (proposal, accept) or text (opinion) no other write of the run has
    phase: str
    at: float  # time.monotonic() of the answer
    id: str
    resident: str  # the account that wrote it


@dataclass
class Tally:
    """What the load saw: writes accepted, answers by phase and status, violations."""

    writes: list[Write] = field(default_factory=list)
    answers: Counter = field(default_factory=Counter)  # (phase, kind, status) -> count
    violations: list[str] = field(default_factory=list)

    def accepted(self, phase: str | None = None, before: float | None = None) -> list[Write]:
        return [w for w in self.writes if (phase is None or w.phase == phase) and (before is None or w.at <= before)]


class Load:
    """``Load(gateways, residents, consultation, rates).start()``; ``phase = "…"``; ``stop()``.

    ``gateways`` is a list the driver reads at every request (round robin), so a rollout can put a
    new gateway in and take the old one out, as a load balancer does before stopping it."""

    def __init__(self, gateways: list[str], residents, consultation: dict, worker_token: str, *,
                 submissions: float, opinions: float, accepts: float, reads: float, threads: int = 12,
                 timeout: float = 30.0):  # fmt: skip
        self.gateways = gateways
        self.residents = residents
        self.consultation = consultation
        self.worker_token = worker_token
        self.rates = {"proposal": submissions, "opinion": opinions, "accept": accepts, "read": reads}
        self._to_accept: list[Write] = []  # submitted matters the community has not accepted yet
        self.threads = threads
        self.timeout = timeout
        self.phase = "warm-up"
        self.tally = Tally()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pool: list[threading.Thread] = []
        self._slots: list[tuple[float, str]] = []
        self._rng = random.Random(19)
        self._spread = itertools.count()

    # -- running ---------------------------------------------------------------------------------------

    def start(self) -> Load:
        self._stop.clear()
        self._started = time.monotonic()
        self._issued = {kind: 0 for kind in self.rates}
        self._pool = [threading.Thread(target=self._client, daemon=True, name=f"load-{i}") for i in range(self.threads)]
        for thread in self._pool:
            thread.start()
        return self

    def stop(self) -> Tally:
        self._stop.set()
        for thread in self._pool:
            thread.join(self.timeout + 5)
        return self.tally

    def _next(self) -> tuple[float, str] | None:
        """The next request due (its slot, its kind): the kind furthest behind its rate goes first."""
        with self._lock:
            best = None
            for kind, rate in self.rates.items():
                if rate <= 0:
                    continue
                slot = self._started + self._issued[kind] / rate
                if best is None or slot < best[0]:
                    best = (slot, kind)
            if best is not None:
                self._issued[best[1]] += 1
            return best

    def _client(self) -> None:
        while not self._stop.is_set():
            due = self._next()
            if due is None:
                return
            slot, kind = due
            delay = slot - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                return
            self._send(kind)

    def burst(self, count: int, kind: str = "proposal", threads: int = 8) -> threading.Thread:
        """``count`` writes of ``kind`` at once on top of the steady load (in the background); join the
        returned thread to wait for their answers."""
        tickets = iter(range(count))
        lock = threading.Lock()

        def send() -> None:
            while True:
                with lock:
                    if next(tickets, None) is None:
                        return
                self._send(kind)

        def run() -> None:
            senders = [threading.Thread(target=send, daemon=True) for _ in range(threads)]
            for sender in senders:
                sender.start()
            for sender in senders:
                sender.join()

        runner = threading.Thread(target=run, daemon=True, name="burst")
        runner.start()
        return runner

    # -- requests --------------------------------------------------------------------------------------

    def _resident(self):
        return self.residents[next(self._spread) % len(self.residents)]

    def _request(self, kind: str):
        serial = next(SERIALS)
        resident = self._resident()
        cid = self.consultation["id"]
        if kind == "proposal":
            marker = f"{self._rng.choice(SUBJECTS)} 编号{serial}"
            body = {"community_code": YANLIUYUAN, "title": marker, "description": f"居民反映:{marker},请尽快处理",
                    "category": "environment"}  # fmt: skip
            return "POST", "/api/v1/intake/proposals", body, marker, resident
        if kind == "opinion":
            marker = f"建议分时段收费,优先本小区居民 意见{serial}"
            body = {"topic_id": self.consultation["topic_id"], "stance": self._rng.choice(STANCES), "text": marker}
            return "POST", f"/api/v1/meetings/consultations/{cid}/opinions", body, marker, resident
        if kind == "accept":
            with self._lock:
                matter = self._to_accept.pop(0) if self._to_accept else None
            if matter is not None:
                return "POST", f"/api/v1/intake/proposals/{matter.id}/accept", {}, matter.marker, None
        mine = [w for w in self.tally.writes[-50:] if w.kind == "proposal"]
        target = f"/api/v1/intake/proposals/{mine[-1].id}" if mine else f"/api/v1/meetings/consultations/{cid}"
        return "GET", target, None, "", resident

    def _send(self, kind: str) -> None:
        method, path, body, marker, resident = self._request(kind)
        phase = self.phase
        gateways = list(self.gateways)
        base = gateways[next(self._spread) % len(gateways)]
        token = resident.token if resident is not None else self.worker_token
        headers = {"Authorization": f"Bearer {token}", "Connection": "close"}
        try:
            response = requests.request(method, base + path, json=body, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            self._violation(phase, kind, "dropped", f"{method} {path} via {base}: {exc!r}")
            return
        status = response.status_code
        with self._lock:
            self.tally.answers[(phase, kind, status)] += 1
        if 200 <= status < 300:
            if method == "POST":
                author = resident.account_id if resident is not None else "community worker"
                write = Write(kind, marker, phase, time.monotonic(), response.json()["id"], author)
                with self._lock:
                    self.tally.writes.append(write)
                    if kind == "proposal":
                        self._to_accept.append(write)
            return
        if status == 503 and response.headers.get("Retry-After"):
            return
        self._violation(phase, kind, str(status), f"{method} {path}: {status} {response.text[:300]}")

    def _violation(self, phase: str, kind: str, what: str, detail: str) -> None:
        with self._lock:
            self.tally.answers[(phase, kind, what)] += 1
            self.tally.violations.append(f"[{phase}] {detail}")
