"""The Kannel harness against the real bearerbox, smsbox and fakesmsc.

A small local HTTP server stands in for the application Kannel calls back (MOs, DLRs).
"""

from __future__ import annotations

import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.kannel import SERVICE_NUMBER, Sms
from tests.support import wait_until

NOTICE = "【池州社区协商】您提交的建议“绣春巷开水炉”已收到,社区将尽快处理。"
LONG = ("社区协商会议将于本周六上午九点在绣春巷社区活动室召开,请各位居民代表准时参加。" * 4)[:150]


class Recorder:
    """An HTTP server on a free port recording every GET as (path, query parameters)."""

    def __init__(self):
        self.requests: list[tuple[str, dict[str, str]]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                parts = urllib.parse.urlsplit(self.path)
                recorder.requests.append((parts.path, dict(urllib.parse.parse_qsl(parts.query))))
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def at(self, path: str) -> list[dict[str, str]]:
        return [query for p, query in list(self.requests) if p == path]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def app():
    recorder = Recorder()
    yield recorder
    recorder.close()


@pytest.fixture
def kannel(start_kannel, app):
    return start_kannel(f"{app.url}/mo?from=%p&to=%P&text=%a&id=%I")


def test_chinese_sms_reach_the_carrier_decoded_with_their_part_counts(kannel):
    assert len(NOTICE) == 34 and len(LONG) == 150
    exactly_one = "协" * 70
    two_parts = "商" * 71
    sent = [
        ("13800138000", NOTICE, 1),
        ("13800138001", LONG, 3),
        ("13800138002", exactly_one, 1),
        ("13800138003", two_parts, 2),
    ]
    for receiver, text, _ in sent:
        assert kannel.send(receiver, text) == (202, "0: Accepted for delivery")
    # The same texts as UTF-16BE bytes put the same UCS-2 on the wire.
    for receiver, text, _ in sent[:2]:
        status_body = kannel.send(receiver.replace("13800", "13900"), text.encode("utf-16-be"), charset="UTF-16BE")
        assert status_body == (202, "0: Accepted for delivery")

    # 7-bit (no coding=2): ASCII is split into parts of 153 characters, Chinese is lost.
    english = "Reply TD to unsubscribe. " * 10
    assert kannel.send("13700137000", english, coding="0")[0] == 202
    assert kannel.send("13700137001", "退订回复TD", coding="0")[0] == 202

    received = kannel.wait_for(8)

    expected = [Sms(SERVICE_NUMBER, receiver, text, parts) for receiver, text, parts in sent]
    expected += [Sms(SERVICE_NUMBER, r.replace("13800", "13900"), t, p) for r, t, p in sent[:2]]
    expected += [Sms(SERVICE_NUMBER, "13700137000", english, 2), Sms(SERVICE_NUMBER, "13700137001", "????TD", 1)]
    assert sorted(received, key=lambda sms: sms.receiver) == sorted(expected, key=lambda sms: sms.receiver)


def test_delivery_reports_call_the_dlr_url_with_accepted_and_delivered(kannel, app):
    dlr_url = f"{app.url}/dlr?id=abc&status=%d&answer=%A"
    assert kannel.send("13800138000", NOTICE, **{"dlr-mask": "31", "dlr-url": dlr_url})[0] == 202

    reports = wait_until(lambda: len(app.at("/dlr")) >= 2 and app.at("/dlr"), what="two delivery reports")

    assert sorted(report["status"] for report in reports) == ["1", "8"]
    assert {report["id"] for report in reports} == {"abc"}
    assert next(r for r in reports if r["status"] == "8")["answer"] == "ACK/"
    assert kannel.wait_for(1) == [Sms(SERVICE_NUMBER, "13800138000", NOTICE, 1)]


def test_replies_reach_the_mo_url_as_sent(kannel, app):
    kannel.reply("13800138000", "退订")
    kannel.reply("13800138001", "TD")

    mos = wait_until(lambda: len(app.at("/mo")) >= 2 and app.at("/mo"), what="two MOs at the mo_url")

    assert sorted((mo["from"], mo["to"], mo["text"]) for mo in mos) == [
        ("13800138000", SERVICE_NUMBER, "退订"),
        ("13800138001", SERVICE_NUMBER, "TD"),
    ]
    assert all(mo["id"] for mo in mos)
    # max-messages = 0: Kannel sends nothing back by itself (here it would send the "ok" body);
    # after a grace period only the application's own message reaches the carrier.
    time.sleep(1)
    assert kannel.send("13800138000", "已退订")[0] == 202
    assert kannel.wait_for(1) == [Sms(SERVICE_NUMBER, "13800138000", "已退订", 1)]
    time.sleep(0.5)
    assert len(kannel.received()) == 1
