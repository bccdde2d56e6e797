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
