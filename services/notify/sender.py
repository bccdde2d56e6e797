"""The SMS sender: hands due messages to the provider, at its rate, retrying with back-off.

A pass claims a batch of due messages (``queued``/``deferred`` whose time has come, and ``sending``
ones whose lease ran out) with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several senders share
the work, and commits the claim (status ``sending``, a lease) before anything is sent. Then, one
message at a time: the number is decrypted, the stop list, opt-outs and quiet hours are checked
again (a reply may have come since the message was queued), the text is composed with the
signature in force, the provider is called, and the outcome is committed at once.

A sender killed mid-batch leaves its claimed messages ``sending``. Those it had not handed over are
sent by the next pass once their lease ends: nothing is lost. One it had handed over is not sent
again: the provider's delivery report (Kannel reports "accepted by the SMSC" within moments)
reaches notify's API, which marks it ``sent`` before the lease ends. The lease
(``XIESHANG_SMS_LEASE_SECONDS``) must therefore outlast the provider's report latency; a provider
without reports (the file provider) may repeat a message handed over just before a kill.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import case, func, select, update

from services.notify import domain, sms
from services.notify.models import contacts, sms_messages, sms_stops
from services.notify.phones import PhoneVault
from services.notify.providers import Outgoing, ProviderError, SmsProvider
from shared import metrics
from shared.db import Database
from shared.periodic import Periodic

log = logging.getLogger(__name__)
m = sms_messages.c


class RateLimit:
    """A token bucket of parts per second (a burst of one second's worth)."""

    def __init__(self, rate: float, clock=time.monotonic):
        self.rate = rate
        self.tokens = rate
        self.clock = clock
        self.updated = clock()

    def wait_time(self, parts: int) -> float:
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
        provider: SmsProvider,
        vault: PhoneVault,
        settings,
    ):
        super().__init__(settings.sms_poll_seconds)
        self.db = db
        self.provider = provider
        self.vault = vault
        self.signature = settings.sms_signature
        self.max_parts = settings.sms_max_parts
        self.delays = settings.sms_retry_delays
        self.lease = timedelta(seconds=settings.sms_lease_seconds)
        self.callback_url = settings.sms_callback_url
        self.limit = RateLimit(settings.sms_rate)
        # A batch is sent well within its lease, or another sender could take it over mid-batch.
        self.batch = max(1, min(200, int(settings.sms_rate * min(5.0, settings.sms_lease_seconds / 2))))
        self.retention = timedelta(days=settings.sms_retention_days)
        self._last_gauge = self._last_purge = 0.0
        db.on_commit(sms.COMMIT_MARK, self.wake)

    # -- one pass -----------------------------------------------------------------------------------

    def send_due(self) -> int:
        """Claim and send one batch of due messages; return how many were claimed."""
        claimed = self._claim(datetime.now(UTC))
        for row in claimed:
            if self.stopping.is_set():
                break  # the rest stay claimed; their lease ends and the next pass takes them
            self._send(row)
        return len(claimed)

    def drain(self) -> int:
        total = 0
        while not self.stopping.is_set():
            claimed = self.send_due()
            total += claimed
            if claimed < self.batch:
                break
        return total

    def _claim(self, now: datetime) -> list:
        due = (m.status.in_(sms.WAITING) & (m.not_before <= now)) | ((m.status == sms.SENDING) & (m.lease_until < now))
        with self.db.transaction() as session:
            query = (
                select(m.id, m.contact_id, m.template, m.category, m.variables, m.urgent, m.attempts)
                .where(due)
                .order_by(m.not_before)
                .limit(self.batch)
            )
            if not self.db.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            rows = session.execute(query).all()
            if rows:
                session.execute(
                    update(sms_messages)
                    .where(m.id.in_([row.id for row in rows]))
                    .values(status=sms.SENDING, lease_until=now + self.lease, attempts=m.attempts + 1, updated_at=now)
                )
        return rows

    def _send(self, row) -> None:
        now = datetime.now(UTC)
        with self.db.sessions() as session:
            k = contacts.c
            contact = session.execute(
                select(k.id, k.phone_cipher, k.channels, k.opt_outs, k.quiet_start, k.quiet_end, sms_stops.c.phone_hash)
                .select_from(contacts.outerjoin(sms_stops, sms_stops.c.phone_hash == k.phone_hash))
                .where(k.id == row.contact_id, k.live.is_(True))
            ).first()
        if contact is None or contact.phone_cipher is None:
            return self._finish(row.id, sms.SUPPRESSED, error="联系人已删除")
        if contact.phone_hash is not None:
            return self._finish(row.id, sms.SUPPRESSED, error="该号码已回复退订")
        if not domain.wants(contact, "sms", row.category):
            return self._finish(row.id, sms.SUPPRESSED, error="联系人已退订此类通知")
        until = None if row.urgent else sms.quiet_until(contact.quiet_start, contact.quiet_end, now)
        if until:  # a retry that fell into quiet hours waits for the morning, without counting as a try
            return self._put_back(row.id, sms.DEFERRED, until, attempts=row.attempts)
        try:
            text = sms.compose_fitted(
                domain.TEMPLATES[row.template],
                row.variables,
                signature=self.signature,
                max_parts=self.max_parts,
                shortenable=domain.SHORTENABLE,
            )
        except (sms.TooLong, domain.TemplateError, KeyError) as exc:
            return self._finish(row.id, sms.FAILED, error=f"无法生成短信:{exc}")
        phone = self.vault.decrypt(contact.phone_cipher, contact.id)
        while wait := self.limit.wait_time(text.parts):  # the provider's rate, in parts
            if self.stopping.wait(wait):
                return None  # stopping: the claim's lease ends and another pass sends it
        outgoing = Outgoing(row.id, phone, text.body, text.parts, self._report_url(row.id))
        try:
            accepted = self.provider.send(outgoing)
        except ProviderError as exc:
            attempts = row.attempts + 1
            again = None if exc.permanent else sms.retry_at(attempts, self.delays, datetime.now(UTC))
            if again is None:
                log.warning("sms failed", extra={"message_id": row.id, "reason": exc.reason})
                return self._finish(row.id, sms.FAILED, error=exc.reason, text=text)
            metrics.NOTIFY_MESSAGES.labels("sms", "retried").inc()
            return self._put_back(row.id, sms.QUEUED, again, attempts=attempts, error=exc.reason)
        self._finish(
            row.id,
            sms.DELIVERED if accepted.delivered else sms.SENT,
            text=text,
            reference=accepted.reference,
        )

    def _report_url(self, message_id: str) -> str | None:
        if not self.callback_url:
            return None
        signature = self.vault.sign(f"report:{message_id}")
        return f"{self.callback_url.rstrip('/')}/reports/{self.provider.name}?id={message_id}&sig={signature}"

    def _finish(self, message_id: str, status: str, *, error=None, text=None, reference=None) -> None:
        """Record a claimed message's outcome; a report that already moved it further wins."""
        now = datetime.now(UTC)
        values = {
            "status": case((m.status == sms.SENDING, status), else_=m.status),
            "lease_until": None,
            "updated_at": now,
        }
        if text is not None:
            values |= {"body": text.body, "parts": text.parts, "provider": self.provider.name}
        if status in (sms.SENT, sms.DELIVERED):
            values |= {"sent_at": func.coalesce(m.sent_at, now), "provider_reference": reference}
        if status == sms.DELIVERED:
            values["delivered_at"] = func.coalesce(m.delivered_at, now)
        if error is not None:
            values["error"] = error[:500]
        with self.db.transaction() as session:
            session.execute(update(sms_messages).where(m.id == message_id).values(**values))
        metrics.NOTIFY_MESSAGES.labels("sms", status).inc()
        if status == sms.DELIVERED:
            metrics.NOTIFY_MESSAGES.labels("sms", sms.SENT).inc()

    def _put_back(self, message_id: str, status: str, when: datetime, *, attempts: int, error=None) -> None:
        with self.db.transaction() as session:
            session.execute(
                update(sms_messages)
                .where(m.id == message_id, m.status == sms.SENDING)
                .values(
                    status=status,
                    not_before=when,
                    lease_until=None,
                    attempts=attempts,
                    error=error[:500] if error else m.error,
                    updated_at=datetime.now(UTC),
                )
            )
        if status == sms.DEFERRED:
            metrics.NOTIFY_MESSAGES.labels("sms", sms.DEFERRED).inc()

    def observe(self) -> None:
        with self.db.sessions() as session:
            counts = dict(
                session.execute(
                    select(m.status, func.count()).where(m.status.in_((*sms.WAITING, sms.SENDING))).group_by(m.status)
                ).all()
            )
        for status in (*sms.WAITING, sms.SENDING):
            metrics.NOTIFY_SMS_WAITING.labels(status).set(counts.get(status, 0))

    def purge(self, now: datetime | None = None) -> int:
        """Retention: settled messages (delivered, failed, suppressed) older than the retention go;
        the log keeps no number, but a title and a time still say who was told what."""
        cutoff = (now or datetime.now(UTC)) - self.retention
        with self.db.transaction() as session:
            gone = session.execute(sms_messages.delete().where(m.status.in_(sms.FINAL), m.updated_at < cutoff)).rowcount
        return gone or 0

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
