"""Upstreams the gateway routes to: a service app in the same process, or one over HTTP.

Over HTTP the gateway keeps pooled keep-alive connections per upstream, streams bodies both ways,
and answers 503 (upstream unreachable) or 504 (upstream too slow) as problem+json itself. A response
is passed on as it arrives, never gathered first: an event stream's events reach the client when the
service writes them. Passing a stream on holds one of the gateway's threads as long as the stream is
open, so every proxied event stream takes a slot of the process's ``OpenStreams`` (per client and in
total, ``shared.streams``) and one refused there is answered 429 instead.
"""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from http import HTTPStatus
from urllib.parse import urlsplit

import urllib3

from shared.http import KEEPALIVE_SECONDS
from shared.problems import PROBLEM_JSON, TooManyRequests, problem_body
from shared.streams import OpenStreams

# Hop-by-hop headers (RFC 9110 §7.6.1) are never forwarded.
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}
# A response keeps its Content-Length (the body is passed on byte for byte, never re-encoded).
_RESPONSE_HOP_BY_HOP = _HOP_BY_HOP - {"content-length"}


def problem_wsgi(
    start_response, status: int, detail: str | None, retry_after: int | None = None, title: str | None = None
) -> Iterable[bytes]:
    """A problem+json response straight from WSGI (the gateway answers these without a service)."""
    body = json.dumps(problem_body(status, title, detail), ensure_ascii=False).encode()
    headers = [("Content-Type", PROBLEM_JSON), ("Content-Length", str(len(body)))]
    if retry_after is not None:
        headers.append(("Retry-After", str(retry_after)))
    start_response(f"{status} {HTTPStatus(status).phrase}", headers)
    return [body]


def open311_error_wsgi(
    start_response, path: str, status: int, description: str, retry_after: int | None = None
) -> Iterable[bytes]:
    """An error in GeoReport v2's format: ``[{"code", "description"}]`` or ``<errors>`` XML. A
    missing or refused ``api_key`` is a 403 there."""
    status = 403 if status == 401 else status
    if path.endswith(".json"):
        body, content_type = (
            json.dumps([{"code": status, "description": description}], ensure_ascii=False),
            "application/json",
        )
    else:
        root = ET.Element("errors")
        error = ET.SubElement(root, "error")
        ET.SubElement(error, "code").text = str(status)
        ET.SubElement(error, "description").text = description
        body = '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
        content_type = "text/xml; charset=utf-8"
    data = body.encode("utf-8")
    headers = [("Content-Type", content_type), ("Content-Length", str(len(data)))]
    if retry_after is not None:
        headers.append(("Retry-After", str(retry_after)))
    start_response(f"{status} {HTTPStatus(status).phrase}", headers)
    return [data]


# A pooled connection idle this long is closed and opened anew rather than reused: the service
# closes idle ones after KEEPALIVE_SECONDS, and a request sent on one at the moment it closes fails
# without an answer (the gateway's 503; it cannot tell whether the service acted on a POST, so it
# does not retry). urllib3 already drops a pooled connection the service has closed; this closes
# it before the service does.
UPSTREAM_IDLE_SECONDS = KEEPALIVE_SECONDS - 1
_clock = time.monotonic


class _FreshConnections:
    """A urllib3 connection pool whose connections go no longer idle than ``UPSTREAM_IDLE_SECONDS``."""

    def _put_conn(self, conn) -> None:
        if conn is not None:
            conn.xieshang_idle_since = _clock()
        super()._put_conn(conn)

    def _get_conn(self, timeout=None):
        conn = super()._get_conn(timeout)
        since = getattr(conn, "xieshang_idle_since", None)
        if since is not None and _clock() - since >= UPSTREAM_IDLE_SECONDS:
            conn.close()  # reconnects as it sends, as urllib3 does with a dropped one
        return conn


class _HTTPPool(_FreshConnections, urllib3.HTTPConnectionPool):
    pass


class _HTTPSPool(_FreshConnections, urllib3.HTTPSConnectionPool):
    pass


class HttpUpstream:
    """A service over HTTP through a urllib3 connection pool (the gateway's hot path: no proxy or
    .netrc look-ups per request, as ``requests`` would make)."""

    SMALL_BODY = 64 * 1024

    def __init__(
        self,
        name: str,
        base_url: str,
        connect_timeout: float = 2.0,
        read_timeout: float = 30.0,
        streams: OpenStreams | None = None,
    ):
        self.name = name
        self.streams = streams
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        self.pool = (_HTTPSPool if parts.scheme == "https" else _HTTPPool)(
            parts.hostname,
            parts.port,
            maxsize=64,
            block=False,
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
            retries=False,
        )
        self.host_header = parts.netloc

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        query = environ.get("QUERY_STRING", "")
        url = f"{path}?{query}" if query else path
        headers = {
            key[5:].replace("_", "-").title(): value
            for key, value in environ.items()
            if key.startswith("HTTP_") and key[5:].replace("_", "-").lower() not in _HOP_BY_HOP
        }
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        headers["X-Forwarded-For"] = environ.get("REMOTE_ADDR", "")
        headers["Host"] = self.host_header
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = None
        if length:
            headers["Content-Length"] = str(length)
            # Small bodies go in one write; larger ones are streamed as the client sends them.
            body = (
                environ["wsgi.input"].read(length)
                if length <= self.SMALL_BODY
                else _chunks(environ["wsgi.input"], length)
            )
        try:
            upstream = self.pool.urlopen(
                environ["REQUEST_METHOD"], url, body=body, headers=headers,
                preload_content=False, decode_content=False, redirect=False, assert_same_host=False,
            )  # fmt: skip
        except urllib3.exceptions.ReadTimeoutError:
            return problem_wsgi(start_response, 504, f"{self.name} 服务响应超时")
        except urllib3.exceptions.HTTPError:  # refused, unreachable, connection dropped
            return problem_wsgi(start_response, 503, f"{self.name} 服务暂时不可用", retry_after=5)
        response_headers = [
            (key, value) for key, value in upstream.headers.items() if key.lower() not in _RESPONSE_HOP_BY_HOP
        ]
        if self.streams is None or not _is_event_stream(upstream):
            start_response(f"{upstream.status} {upstream.reason}", response_headers)
            return _stream(upstream)
        # The client: as the gateway identified it for its rate limit (its address if it sent nothing).
        client = environ.get("xieshang.client") or f"ip:{environ.get('REMOTE_ADDR', '')}"
        try:
            slot = self.streams.admit(client)
        except TooManyRequests as refused:
            upstream.close()  # the service's stream ends when it next writes to the closed connection
            upstream.release_conn()
            return problem_wsgi(start_response, 429, refused.detail, retry_after=refused.retry_after)
        with slot:
            start_response(f"{upstream.status} {upstream.reason}", response_headers)
            return slot.hold(_stream(upstream))

    def _get(self, path: str) -> urllib3.BaseHTTPResponse:
        response = self.pool.request("GET", path, retries=False)
        if response.status >= 400:
            raise ValueError(f"{self.name} answered {response.status} for {path}")
        return response

    def ready(self) -> None:
        self._get("/readyz")

    def openapi(self) -> dict:
        try:
            return self._get(f"/api/v1/{self.name}/openapi.json").json()
        except urllib3.exceptions.HTTPError as exc:
            raise ValueError(f"{self.name} is unreachable: {exc}") from exc


def _is_event_stream(upstream: urllib3.BaseHTTPResponse) -> bool:
    content_type = upstream.headers.get("Content-Type", "")
    return content_type.split(";", 1)[0].strip().lower() == "text/event-stream"


def _chunks(stream, length: int, size: int = 64 * 1024) -> Iterable[bytes]:
    """The client's body, read as it arrives and passed on in pieces."""
    remaining = length
    while remaining > 0:
        chunk = stream.read(min(size, remaining))
        if not chunk:
            return
        remaining -= len(chunk)
        yield chunk


def _stream(upstream: urllib3.BaseHTTPResponse, size: int = 64 * 1024) -> Iterable[bytes]:
    """The upstream's body as it arrives. A chunked body (gunicorn's answer without Content-Length,
    e.g. an event stream) goes on chunk by chunk; any other body in what each read brings (``read1``),
    because ``stream()`` would wait for ``size`` bytes or the end before passing anything on.

    A client that leaves before the end (an event stream's usual way to end) closes the connection to
    the service too (urllib3 does so itself when a chunked read is interrupted, not between ``read1``
    calls): back in the pool, the rest of that body would be read as the next request's answer."""
    complete = False
    try:
        if upstream.chunked:
            yield from upstream.stream(size, decode_content=False)
        else:
            while data := upstream.read1(size, decode_content=False):
                yield data
        complete = True
    finally:
        if not complete:
            upstream.close()
        upstream.release_conn()
