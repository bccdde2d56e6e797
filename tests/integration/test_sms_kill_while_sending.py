"""A sender killed while sending neither loses nor repeats an SMS: real Kannel, PostgreSQL, RabbitMQ.

A community notice queues an SMS for each of 120 subscribers; notify's worker sends them through
Kannel at 20 parts a second and is killed with SIGKILL twice mid-batch, then started again. A batch
is 60 messages (the rate times half the 6 s lease), of which the rate's one-second burst (20) goes
at once and the rest over 2 s; the kill comes once 15 more have reached the carrier than before the
worker started (its start takes about a second, so counting after it would kill late), well inside
the batch. (At 30 a second, a 3 s lease and counting after the start, a batch of 45 was sometimes
all handed over before the kill, which then proved nothing.) Each kill leaves claimed messages
``sending``: those it had handed to Kannel are settled by Kannel's delivery reports (received by
notify's API, which stays up), the others are sent by the restarted worker once their lease ends.
The carrier (fakesmsc) gets every message exactly once.
"""

from __future__ import annotations

import base64
import os
import time
from collections import Counter

import pytest
from sqlalchemy import create_engine, func, select

from services.notify import sms
from services.notify.models import sms_messages
from tests.conftest import YANLIUYUAN
from tests.integration.processes import Http
from tests.kannel import SERVICE_NUMBER
from tests.support import wait_until

SUBSCRIBERS = 120
PHONES = [f"1390000{i:04d}" for i in range(SUBSCRIBERS)]
WORRYING = ('"level": "error"', '"level": "warning"', "ERROR:", "WARNING:")  # JSON logs, Kannel's


@pytest.fixture
def env(env):
    key = base64.b64encode(os.urandom(32)).decode()
    sms_settings = {"XIESHANG_SMS_POLL_SECONDS": "0.2", "XIESHANG_SMS_LEASE_SECONDS": "6", "XIESHANG_SMS_RATE": "20"}
    return {**env, "XIESHANG_RATE_LIMIT": "100000", "XIESHANG_NOTIFY_PHONE_KEY": key, **sms_settings}


def test_a_worker_killed_while_sending_loses_and_repeats_nothing(env, processes, with_divisions, auth, start_kannel):
    kannel = start_kannel("http://127.0.0.1:9/unused")  # replies are not part of this test
    notify_api = processes.start("notify-api")
    gateway = processes.start("gateway", XIESHANG_NOTIFY_URL=notify_api)
    sending = {
        "XIESHANG_SMS_PROVIDER": "kannel",
        "XIESHANG_SMS_URL": kannel.sendsms_url,
        "XIESHANG_SMS_USERNAME": kannel.username,
        "XIESHANG_SMS_PASSWORD": kannel.password,
        "XIESHANG_SMS_SENDER": SERVICE_NUMBER,
        "XIESHANG_SMS_CALLBACK_URL": f"{gateway}/api/v1/notify/sms",
    }
    http = Http(base_url=gateway)
    worker = auth("community_worker", YANLIUYUAN, subject="worker")
    rows = "\n".join(f"{phone},{YANLIUYUAN},resident,sms,00:00,00:00" for phone in PHONES)
    csv_text = f"phone,community_code,kind,channels,quiet_start,quiet_end\n{rows}\n"
    status, imported = http.call("POST", "/api/v1/notify/contacts/import", worker, {"csv": csv_text})
    assert status == 200 and imported["imported"] == SUBSCRIBERS, imported
    notice = {"community_code": YANLIUYUAN, "variables": {"content": "本周六上午9点清理楼道杂物,请配合"}}
    status, sent = http.call("POST", "/api/v1/notify/sms/notices", worker, notice)
    assert status == 202 and sent["sms"] == SUBSCRIBERS, sent

    engine = create_engine(env["XIESHANG_NOTIFY_DATABASE_URL"])

    def count(*statuses: str) -> int:
        with engine.connect() as connection:
            query = select(func.count()).select_from(sms_messages).where(sms_messages.c.status.in_(statuses))
            return connection.scalar(query)

    try:
        left_sending = []
        for _ in range(2):
            before = len(kannel.received())
            processes.start("notify-worker", **sending)
            wait_until(lambda b=before: len(kannel.received()) >= b + 15, timeout=30, what="sending under way")
            processes.kill("notify-worker")  # SIGKILL, mid-batch
            left_sending.append(count(sms.SENDING))
        assert all(left_sending), f"each kill left claimed messages: {left_sending}"
        assert len(kannel.received()) < SUBSCRIBERS

        processes.start("notify-worker", **sending)

        def diagnosis() -> str:
            """Where the messages are, and what the parts said, should they not all arrive."""
            states = {status: count(status) for status in sms.STATUSES}
            logs = [processes.logs / f"{name}.log" for name in ("notify-worker", "notify-api", "gateway")]
            logs.append(kannel.logs / "smsbox.log")
            said = {}
            for log in logs:
                lines = log.read_text(errors="replace").splitlines() if log.exists() else []
                said[log.name] = [line[:300] for line in lines if any(mark in line for mark in WORRYING)][-8:]
            return f"all delivered: {states}, carrier got {len(kannel.received())}, errors logged: {said}"

        try:
            wait_until(lambda: count(sms.DELIVERED) == SUBSCRIBERS, timeout=90, what="all delivered")
        except AssertionError:
            raise AssertionError(diagnosis()) from None
        time.sleep(1.0)  # a repeated message would have reached the carrier by now
    finally:
        engine.dispose()

    received = Counter(message.receiver for message in kannel.received())
    assert set(received) == set(PHONES), "none lost"
    assert [phone for phone, times in received.items() if times > 1] == [], "none repeated"
    assert {message.text for message in kannel.received()} == {
        "【池州社区协商】社区通知:本周六上午9点清理楼道杂物,请配合"
    }
