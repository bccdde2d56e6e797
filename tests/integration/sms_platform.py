"""The whole platform in one real process sending through a real Kannel and hearing its MOs, for
the SMS end-to-end tests (import the fixtures ``env`` and ``platform_with_kannel``)."""

from __future__ import annotations

import base64
import os

import pytest

from services.notify.phones import PhoneVault
from tests.kannel import SERVICE_NUMBER
from tests.support import free_port

SIGNATURE = "池州社区协商"
PHONE_KEY = base64.b64encode(os.urandom(32)).decode()


@pytest.fixture
def env(env):
    return {**env, "XIESHANG_NOTICE_DAYS": "0", "XIESHANG_RATE_LIMIT": "100000", "XIESHANG_NOTIFY_PHONE_KEY": PHONE_KEY,
            "XIESHANG_SMS_POLL_SECONDS": "0.2", "XIESHANG_SMS_SIGNATURE": SIGNATURE}  # fmt: skip


@pytest.fixture
def platform_with_kannel(env, processes, with_divisions, start_kannel):
    """Kannel, and the platform sending through it and hearing its MOs; (gateway URL, Kannel)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    vault = PhoneVault(base64.b64decode(PHONE_KEY))
    replies = f"{base}/api/v1/notify/sms/replies/kannel?sig={vault.sign('replies:kannel')}&from=%p&to=%P&text=%a"
    kannel = start_kannel(replies)
    processes.start(
        "all",
        port=port,
        XIESHANG_SMS_PROVIDER="kannel",
        XIESHANG_SMS_URL=kannel.sendsms_url,
        XIESHANG_SMS_USERNAME=kannel.username,
        XIESHANG_SMS_PASSWORD=kannel.password,
        XIESHANG_SMS_SENDER=SERVICE_NUMBER,
        XIESHANG_SMS_CALLBACK_URL=f"{base}/api/v1/notify/sms",
    )
    return base, kannel


def ok(result, status=200):
    code, body = result
    assert code == status, body
    return body
