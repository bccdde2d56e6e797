"""Forwarding over HTTP: bodies both ways, headers, and the gateway's own 503/504 answers."""

import socket
import threading

import pytest
from werkzeug.serving import make_server
from werkzeug.test import Client
from werkzeug.wrappers import Request, Response

from gateway.proxy import HttpUpstream
from shared.problems import PROBLEM_JSON
from tests.support import free_port


@pytest.fixture
def echo_server():
    @Request.application
    def echo(request):
        return Response(
            request.get_data(),
            headers={"X-Seen-Request-Id": request.headers.get("X-Request-Id", ""), "X-Seen-Path": request.full_path},
            content_type=request.content_type,
        )

    server = make_server("127.0.0.1", free_port(), echo, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_bodies_headers_and_query_are_forwarded(echo_server):
    client = Client(HttpUpstream("intake", echo_server))
    body = "百姓点事".encode() * 50_000  # ~600 KB, streamed through
    response = client.post(
        "/api/v1/intake/x?a=1&b=二", data=body, headers={"X-Request-Id": "r-1", "Content-Type": "text/plain"}
    )
    assert response.status_code == 200
    assert response.get_data() == body
    assert response.headers["X-Seen-Request-Id"] == "r-1"
    assert response.headers["X-Seen-Path"].startswith("/api/v1/intake/x?a=1")


def test_an_unreachable_service_is_a_503_problem_with_retry_after():
    client = Client(HttpUpstream("notify", f"http://127.0.0.1:{free_port()}"))
    response = client.get("/api/v1/notify/inbox")
    assert response.status_code == 503
    assert response.mimetype == PROBLEM_JSON
    assert response.headers["Retry-After"] == "5"
    assert "notify" in response.json["detail"]


def test_a_service_that_does_not_answer_in_time_is_a_504_problem():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts connections, never answers
    try:
        upstream = HttpUpstream("meetings", f"http://127.0.0.1:{listener.getsockname()[1]}", read_timeout=0.3)
        response = Client(upstream).get("/api/v1/meetings/anything")
        assert response.status_code == 504
        assert response.mimetype == PROBLEM_JSON
    finally:
        listener.close()


@pytest.fixture
def keep_alive_server():
    """An HTTP/1.1 server that keeps connections open, counting those it accepted."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    class Counting(ThreadingHTTPServer):
        daemon_threads = True
        accepted = 0

        def get_request(self):
            Counting.accepted += 1
            return super().get_request()

    server = Counting(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_pooled_connection_is_reused_until_it_has_idled_nearly_as_long_as_the_service_keeps_it(
    keep_alive_server, monkeypatch
):
    from gateway import proxy

    client = Client(HttpUpstream("intake", f"http://127.0.0.1:{keep_alive_server.server_port}"))
    assert client.get("/a").status_code == 200 and client.get("/b").status_code == 200
    assert keep_alive_server.accepted == 1

    now = proxy._clock()
    monkeypatch.setattr(proxy, "_clock", lambda: now + proxy.UPSTREAM_IDLE_SECONDS)
    assert client.get("/c").status_code == 200
    assert keep_alive_server.accepted == 2, "closed before the service would, and opened anew"
    assert proxy.UPSTREAM_IDLE_SECONDS < proxy.KEEPALIVE_SECONDS
