"""SMS providers' answers mapped to outcomes (services/notify/providers.py), and the HTTP platform's
callbacks (sms_api.py). The generic HTTP provider talks to a real HTTP server standing in for a
city's SMS platform; Kannel itself is exercised in tests/integration."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import insert, select

from services.notify.models import sms_messages, sms_stops
from services.notify.phones import vault_for
from services.notify.providers import HttpProvider, KannelProvider, Outgoing, ProviderError, provider_for
from tests.support import free_port

MESSAGE = Outgoing(
    "m-1", "13800138000", "【池州社区协商】社区通知:周六清理楼道", 1, "https://xs.example/r?id=m-1&sig=s"
)


@pytest.fixture
def platform_server():
    """A stand-in SMS platform answering each POST with the next (status, body) of ``answers``."""
    answers: list[tuple[int, dict]] = []
    received: list[tuple[dict, dict]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append((body, dict(self.headers)))
            status, answer = answers.pop(0)
            data = json.dumps(answer, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/sms/send", answers, received
    server.shutdown()


def test_the_http_provider_posts_json_with_its_token_and_keeps_the_reference(platform_server):
    url, answers, received = platform_server
    answers.append((200, {"id": "p-77"}))
    accepted = HttpProvider(url, "token-1").send(MESSAGE)
    assert accepted.reference == "p-77" and not accepted.delivered
    body, headers = received[0]
    assert body == {
        "id": "m-1",
        "to": "13800138000",
        "text": MESSAGE.text,
        "parts": 1,
        "report_url": MESSAGE.report_url,
    }
    assert headers["Authorization"] == "Bearer token-1"


@pytest.mark.parametrize(
    ("status", "answer", "permanent", "reason"),
    [(400, {"message": "号码无效"}, True, "短信平台 400: 号码无效"), (429, {}, False, "短信平台 429"),
     (503, {"message": "维护中"}, False, "短信平台 503: 维护中")],
)  # fmt: skip
def test_the_http_providers_refusals_are_permanent_or_worth_a_retry(platform_server, status, answer, permanent, reason):
    url, answers, _ = platform_server
    answers.append((status, answer))
    with pytest.raises(ProviderError) as refused:
        HttpProvider(url, None).send(MESSAGE)
    assert refused.value.permanent is permanent and refused.value.reason.startswith(reason)


def test_an_unreachable_provider_is_worth_a_retry():
    for provider in (
        HttpProvider(f"http://127.0.0.1:{free_port()}/send", None),
        KannelProvider(f"http://127.0.0.1:{free_port()}/cgi-bin/sendsms", "u", "p", "106900"),
    ):
        with pytest.raises(ProviderError) as refused:
            provider.send(MESSAGE)
        assert not refused.value.permanent and "13800138000" not in refused.value.reason


def test_the_provider_follows_the_settings(settings, tmp_path):
    assert provider_for(settings).name == "file"
    with pytest.raises(ValueError, match="XIESHANG_SMS_URL"):
        provider_for(settings.replace(sms_provider="kannel"))
    kannel = settings.replace(sms_provider="kannel", sms_url="http://k:13013/cgi-bin/sendsms", sms_username="u",
                              sms_password="p")  # fmt: skip
    assert provider_for(kannel).name == "kannel"


# -- the HTTP platform's callbacks --------------------------------------------------------------------


@pytest.fixture
def notify(platform, with_divisions):
    return platform.runtime("notify")


def test_the_platforms_report_and_reply_callbacks(notify):
    client = notify.create_api().test_client()
    vault = vault_for(notify.settings)
    now = datetime.now(UTC)
    with notify.db.transaction() as session:
        session.execute(
            insert(sms_messages).values(
                id="m-1", event_id="e-1", contact_id="c-1", template="community_notice", category="community",
                variables={"content": "x"}, urgent=False, status="sent", not_before=now, attempts=1,
                created_at=now, updated_at=now,
            )
        )  # fmt: skip
    path = f"/api/v1/notify/sms/reports/http?id=m-1&sig={vault.sign('report:m-1')}"
    assert client.post(path, json={"status": "failed", "reason": "空号"}).status_code == 204
    assert client.post(path, json={"status": "sent"}).status_code == 422  # not a report the platform makes
    with notify.db.sessions() as session:
        assert session.execute(select(sms_messages.c.status, sms_messages.c.error)).one() == ("failed", "空号")

    replies = f"/api/v1/notify/sms/replies/http?sig={vault.sign('replies:http')}"
    assert client.post(replies, json={"from": "8613800138000", "text": "T"}).json == {"action": "stop"}
    assert client.post(replies.replace("sig=", "sig=x"), json={"from": "13800138000", "text": "T"}).status_code == 403
    with notify.db.sessions() as session:
        assert session.execute(select(sms_stops.c.phone_hash)).scalar() == vault.digest("13800138000")
