"""notify's SMS sender on PostgreSQL, several messages in flight at once (``XIESHANG_SMS_CONCURRENCY``):
a batch's messages are handed over together and each once; a stop mid-batch puts back exactly those
not handed over; messages queued while a pass runs are claimed by that pass as messages in flight are done.
(On SQLite the sender goes one message at a time: ``tests/unit/test_notify_sms.py``.)"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import update

from services.notify import services, sms
from services.notify.models import sms_messages
from tests.unit.conftest import add_contact, notify  # noqa: F401 - notify's fixtures, on PostgreSQL here
from tests.unit.notify_events import SUBMITTER, announced, apply, submitted
from tests.unit.test_notify_sms import DAYTIME, Carrier, daytime, queued, sender  # noqa: F401 - the sender's fixtures

IN_FLIGHT = 4


class Together(Carrier):
    """A carrier that answers only once ``IN_FLIGHT`` messages are with it at the same time: a sender
    handing over fewer at once fails on the barrier's timeout."""

    def __init__(self):
        super().__init__()
        self.together = threading.Barrier(IN_FLIGHT, timeout=10)
        self.lock = threading.Lock()

    def send(self, message):
        self.together.wait()
        with self.lock:
            return super().send(message)


@pytest.fixture
def subscribers(notify, add_contact):
    """Twelve subscribers of the community and an announcement queued for each."""
    for i in range(3 * IN_FLIGHT):
        add_contact(f"138000002{i:02d}")
    apply(notify, announced([]))
    return 3 * IN_FLIGHT


def test_a_batch_is_handed_over_several_at_once_and_each_message_once(notify, sender, subscribers):
    carrier = Together()
    assert sender(carrier, sms_concurrency=IN_FLIGHT).send_due() == subscribers
    assert len({message.message_id for message in carrier.sent}) == len(carrier.sent) == subscribers
    assert {(row["status"], row["attempts"]) for row in queued(notify)} == {(sms.SENT, 1)}


def test_a_sender_stopped_mid_batch_puts_back_exactly_what_it_had_not_handed_over(notify, sender, subscribers):
    class StopOnFirst(Carrier):
        def send(self, message):
            sending.signal_stop()
            return super().send(message)

    carrier = StopOnFirst()
    sending = sender(carrier, sms_concurrency=IN_FLIGHT)
    sending.send_due()
    handed_over = {message.message_id for message in carrier.sent}
    assert 1 <= len(handed_over) <= IN_FLIGHT  # those already past the stop's check when it came
    rows = {row["id"]: row for row in queued(notify)}
    assert {(rows[i]["status"], rows[i]["attempts"]) for i in handed_over} == {(sms.SENT, 1)}
    put_back = [row for i, row in rows.items() if i not in handed_over]
    assert len(put_back) == subscribers - len(handed_over)
    assert {(row["status"], row["lease_until"], row["attempts"]) for row in put_back} == {(sms.QUEUED, None, 0)}


def test_messages_queued_while_a_pass_runs_are_claimed_by_it(notify, sender, add_contact, subscribers):
    add_contact("13900139000", app_user_id=SUBMITTER)
    later = submitted("p-2")  # committed mid-pass: the commit wakes the sender

    class QueuesMore(Carrier):
        def __init__(self):
            super().__init__()
            self.first = threading.Lock()

        def send(self, message):
            if self.first.acquire(blocking=False):
                apply(notify, later)
            return super().send(message)

    assert sender(QueuesMore(), sms_concurrency=IN_FLIGHT).send_due() == subscribers + 1
    assert {(row["status"], row["attempts"]) for row in queued(notify)} == {(sms.SENT, 1)}
    assert {row["template"] for row in queued(notify)} == {"community_announced", "proposal_received"}


def test_report_batches_crossing_each_other_never_deadlock(notify, sender, subscribers):
    """Two API processes' batches of reports, each with the same messages' reports in the opposite
    order (one's "accepted" where the other has "delivered"), applied at the same time, round after
    round: each batch takes its rows in id order, so neither holds a row the other waits for while
    it waits for one the other holds (PostgreSQL would fail one of them after a second)."""
    sender(Carrier(), sms_concurrency=IN_FLIGHT).send_due()
    ids = sorted(row["id"] for row in queued(notify))
    by_turns = [(i, sms.DELIVERED if n % 2 else sms.SENT) for n, i in enumerate(ids)]
    crossed = [(i, sms.SENT if status == sms.DELIVERED else sms.DELIVERED) for i, status in reversed(by_turns)]
    rounds, start, end, failures = 10, threading.Barrier(3, timeout=30), threading.Barrier(3, timeout=30), []

    def apply_rounds(order):
        for _ in range(rounds):
            start.wait()
            try:
                with notify.unit_of_work() as uow:
                    services.apply_reports(uow, [services.DeliveryReport(i, s) for i, s in order], now=DAYTIME)
            except Exception as exc:  # noqa: BLE001 - a deadlock is what this test looks for
                failures.append(exc)
            end.wait()

    threads = [threading.Thread(target=apply_rounds, args=(order,)) for order in (by_turns, crossed)]
    for thread in threads:
        thread.start()
    for _ in range(rounds):
        with notify.unit_of_work() as uow:  # every message back to "handed over", for both to move on
            uow.session.execute(update(sms_messages).values(status=sms.SENDING))
        start.wait()
        end.wait()
    for thread in threads:
        thread.join(10)
    assert failures == []
    assert {row["status"] for row in queued(notify)} == {sms.DELIVERED}
