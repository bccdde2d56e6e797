"""The SMS sender: hands due messages to the provider, at its rate, retrying with back-off.

A pass claims a batch of due messages (``queued``/``deferred`` whose time has come, and ``sending``
ones whose lease ran out) with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several senders share
the work. In the claim's transaction, committed before anything is sent, each message is checked
again: the stop list, opt-outs and quiet hours (a reply may have come since it was queued), its
text composed with the signature (and the board's link, ``XIESHANG_PUBLIC_URL``) in force and the
number decrypted (``services.claim_ready_sms``; one transaction a batch, not one a message: the
sender's share of a submission's CPU). A batch is sent within seconds of its claim (see
``batch``), so a reply that lands meanwhile is as late as one still in the carrier's hands. The
provider is called outside any transaction, and its answer is committed at once (``services.sms_accepted``, in
one transaction with the answers other threads got meanwhile, ``shared.group_commit``;
``sms_refused``). Up to ``XIESHANG_SMS_CONCURRENCY`` messages are in flight at once, each in a
thread of the pass with transactions of its own, all within one rate (``RateLimit``): a provider's
answer takes milliseconds to tens of them, and one message at a time capped a sender at ~40 SMS/s
whatever the rate allowed. Messages queued while a pass runs (a commit woke the sender) are claimed
as soon as a message in flight is done, up to a batch a pass, rather than after the pass. On SQLite, whose
writers queue for one lock anyway (and an in-memory database is one connection), messages go one
at a time.

A sender stopped mid-batch (SIGTERM) puts back at once, in one transaction, the claimed messages it
had not handed to the provider (``queued``/``deferred`` as they were, lease cleared,
``services.release_sms``), when its pass notices the stop and again from ``finish`` for a pass
still blocked when ``stop_all`` gave up waiting; the one it is handing over is left to its delivery
report. A message is handed over only if it is still in hand, under a lock ``release`` also holds,
so none is both put back and sent.

A sender killed mid-batch (SIGKILL) leaves its claimed messages ``sending``. Those it had not handed over are
sent by the next pass once their lease ends: nothing is lost. One it had handed over is not sent
again: the provider's delivery report (Kannel reports "accepted by the SMSC" within moments)
reaches notify's API, which marks it ``sent`` before the lease ends. The lease
(``XIESHANG_SMS_LEASE_SECONDS``) must therefore outlast the provider's report latency; a provider
without reports (the file provider) may repeat a message handed over just before a kill.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager
from datetime import datetime, timedelta

from services.notify import services, sms
from services.notify.phones import PhoneVault
from services.notify.providers import Outgoing, ProviderError, SmsProvider
from shared.clock import Clock
from shared.db import Database
from shared.group_commit import GroupCommit
from shared.periodic import Periodic
from shared.uow import UnitOfWork


class RateLimit:
    """A token bucket of parts per second (a burst of one second's worth), shared by a pass's threads."""

    def __init__(self, rate: float, clock=time.monotonic):
        self.rate = rate
        self.tokens = rate
        self.clock = clock
        self.updated = clock()
        self._lock = threading.Lock()

    def wait_time(self, parts: int) -> float:
        with self._lock:
            return self._take(parts)

    def _take(self, parts: int) -> float:
        now = self.clock()
        self.tokens = min(self.rate, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= parts or self.tokens >= self.rate:  # a message longer than a burst goes alone
            self.tokens -= parts
            return 0.0
        return (min(parts, self.rate) - self.tokens) / self.rate


class SmsSender(Periodic):
    name = "sms-sender"

    def __init__(
        self,
        db: Database,
        unit_of_work: Callable[[], AbstractContextManager[UnitOfWork]],
        provider: SmsProvider,
        vault: PhoneVault,
        settings,
        clock: Clock,
    ):
        super().__init__(settings.sms_poll_seconds)
        self.unit_of_work = unit_of_work
        self.provider = provider
        self.vault = vault
        self.clock = clock
        self.signature = settings.sms_signature
        self.max_parts = settings.sms_max_parts
        self.public_url = settings.public_url
        self.delays = settings.sms_retry_delays
        self.lease = timedelta(seconds=settings.sms_lease_seconds)
        self.callback_url = settings.sms_callback_url
        self.limit = RateLimit(settings.sms_rate)
        self.concurrency = 1 if db.is_sqlite else settings.sms_concurrency
        # A batch is sent well within its lease, or another sender could take it over mid-batch.
        self.batch = max(1, min(200, int(settings.sms_rate * min(5.0, settings.sms_lease_seconds / 2))))
        self.retention = timedelta(days=settings.sms_retention_days)
        self._last_gauge = self._last_purge = 0.0
        self._hand_lock = threading.Lock()
        self._in_hand: dict[str, tuple] = {}  # (message, claimed at) claimed, not handed over nor settled, by id
        # The provider's answers that come while one is being committed are committed together.
        self.accepted: GroupCommit[services.Accepted] = GroupCommit(self._record_accepted)
        db.on_commit(sms.COMMIT_MARK, self.wake)  # a commit that queued SMS wakes this sender

    # -- one pass -----------------------------------------------------------------------------------

    def send_due(self) -> int:
        """Claim and send a batch of due messages; return how many were claimed."""
        with self._hand_lock:
            self._in_hand = {}
        claimed = self._claim(self.batch)
        if self.concurrency == 1:
            for message, ready in claimed:
                self._send(message, ready)
            total = len(claimed)
        else:
            total = self._send_concurrently(claimed)
        if self.stopping.is_set():
            self.release()
        return total

    def _claim(self, limit: int) -> list[tuple]:
        """Claim up to ``limit`` due messages, each with its number and text (None: settled)."""
        now = self.clock.now()
        with self.unit_of_work() as uow:
            ready = services.claim_ready_sms(
                uow, self.vault, batch=limit, lease=self.lease, signature=self.signature,
                max_parts=self.max_parts, public_url=self.public_url, now=now,
            )  # fmt: skip
        with self._hand_lock:
            self._in_hand.update((message.id, (message, now)) for message, one in ready if one is not None)
        return ready

    def _send_concurrently(self, claimed: list) -> int:
        """Send with up to ``concurrency`` in flight, claiming what a commit queued meanwhile whenever
        a message is done (until the pass has claimed a batch); how many were claimed. A claim takes
        all that is due, not only as many as threads are free: a thread is held until its answer
        is committed, so claims sized by free threads capped a sender near ``concurrency`` a commit
        (~100 SMS/s under load) however long the queue grew."""
        total = len(claimed)
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix=self.name) as pool:
            sending = {pool.submit(self._send, *one) for one in claimed}
            while sending:
                done, sending = wait(sending, return_when=FIRST_COMPLETED)
                for future in done:
                    future.result()  # a failure fails the pass, once those in flight have ended
                room = self.batch - total
                if room > 0 and not self.stopping.is_set() and self.take_wake():
                    more = self._claim(room)
                    if len(more) == room:
                        self.wake()  # there may be more than this pass had room for
                    total += len(more)
                    sending |= {pool.submit(self._send, *one) for one in more}
        return total

    def release(self) -> int:
        """Put back the claimed messages not handed over (stopping); how many were."""
        with self._hand_lock:
            claims, self._in_hand = list(self._in_hand.values()), {}
            if not claims:
                return 0
            with self.unit_of_work() as uow:
                return services.release_sms(uow, claims, lease=self.lease, now=self.clock.now())

    def _out_of_hand(self, message) -> bool:
        """Take a message out of hand (settled, or to give it to the provider); False if ``release``
        put it back meanwhile."""
        with self._hand_lock:
            return self._in_hand.pop(message.id, None) is not None

    def finish(self) -> None:
        self.release()  # a pass blocked past the stop's timeout (a slow provider) left its claims

    def drain(self) -> int:
        total = 0
        while not self.stopping.is_set():
            claimed = self.send_due()
            total += claimed
            if claimed < self.batch:
                break
        return total

    def _send(self, message, ready: services.Ready | None) -> None:
        if ready is None or self.stopping.is_set():
            return  # settled by the claim (not in hand), or stopping: still in hand, put back by ``release``
        text = ready.text
        while wait := self.limit.wait_time(text.parts):  # the provider's rate, in parts
            if self.stopping.wait(wait):
                return  # stopping: still in hand, put back by ``release``
        if not self._out_of_hand(message):
            return
        outgoing = Outgoing(message.id, ready.phone, text.body, text.parts, self._report_url(message.id))
        try:
            accepted = self.provider.send(outgoing)
        except ProviderError as exc:
            with self.unit_of_work() as uow:
                services.sms_refused(
                    uow, message, reason=exc.reason, permanent=exc.permanent, retry_delays=self.delays, text=text,
                    provider=self.provider.name, now=self.clock.now(),
                )  # fmt: skip
            return
        self.accepted(services.Accepted(message.id, text, self.provider.name, accepted.reference, accepted.delivered))

    def _record_accepted(self, accepted: list) -> None:
        with self.unit_of_work() as uow:
            services.sms_accepted(uow, accepted, now=self.clock.now())

    def _report_url(self, message_id: str) -> str | None:
        if not self.callback_url:
            return None
        signature = self.vault.sign(f"report:{message_id}")
        return f"{self.callback_url.rstrip('/')}/reports/{self.provider.name}?id={message_id}&sig={signature}"

    def observe(self) -> None:
        with self.unit_of_work() as uow:
            services.observe_sms_queue(uow)

    def purge(self, now: datetime | None = None) -> int:
        """Retention: settled messages older than ``XIESHANG_SMS_RETENTION_DAYS`` leave the log."""
        with self.unit_of_work() as uow:
            return services.purge_sms(uow, retention=self.retention, now=now or self.clock.now())

    def _housekeeping(self) -> None:
        if time.monotonic() - self._last_gauge > 15:
            self._last_gauge = time.monotonic()
            self.observe()
        if time.monotonic() - self._last_purge > 3600:
            self._last_purge = time.monotonic()
            self.purge()

    def tick(self) -> None:
        self.drain()
        self._housekeeping()
