"""Upstreams the gateway routes to: a service app in the same process, or one over HTTP.

Over HTTP the gateway keeps pooled keep-alive connections per upstream, streams bodies both ways,
and answers 503 (upstream unreachable) or 504 (upstream too slow) as problem+json itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from http import HTTPStatus

import requests
from requests.adapters import HTTPAdapter

from shared.problems import PROBLEM_JSON, problem_body

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


class HttpUpstream:
    def __init__(self, name: str, base_url: str, connect_timeout: float = 2.0, read_timeout: float = 30.0):
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.timeout = (connect_timeout, read_timeout)
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=64, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        query = environ.get("QUERY_STRING", "")
        url = f"{self.base_url}{path}" + (f"?{query}" if query else "")
        headers = {
            key[5:].replace("_", "-").title(): value
            for key, value in environ.items()
            if key.startswith("HTTP_") and key[5:].replace("_", "-").lower() not in _HOP_BY_HOP
        }
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        headers["X-Forwarded-For"] = environ.get("REMOTE_ADDR", "")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = _RequestBody(environ["wsgi.input"], length) if length else None
        try:
            upstream = self.session.request(
                environ["REQUEST_METHOD"],
                url,
                headers=headers,
                data=body,
                stream=True,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.Timeout:
            return problem_wsgi(start_response, 504, f"{self.name} 服务响应超时")
        except requests.ConnectionError:
            return problem_wsgi(start_response, 503, f"{self.name} 服务暂时不可用", retry_after=5)
        response_headers = [(key, value) for key, value in upstream.headers.items() if key.lower() not in _HOP_BY_HOP]
        start_response(f"{upstream.status_code} {upstream.reason}", response_headers)
        return _stream(upstream)

    def ready(self) -> None:
        self.session.get(f"{self.base_url}/readyz", timeout=self.timeout).raise_for_status()

    def openapi(self) -> dict:
        response = self.session.get(f"{self.base_url}/api/v1/{self.name}/openapi.json", timeout=self.timeout)
        response.raise_for_status()
        return response.json()


class _RequestBody:
    """The client's body streamed to the upstream as it is read, with its known length."""

    def __init__(self, stream, length: int):
        self.stream = stream
        self.remaining = length

    def __len__(self) -> int:
        return self.remaining

    def read(self, size: int = -1) -> bytes:
        if self.remaining <= 0:
            return b""
        size = self.remaining if size is None or size < 0 else min(size, self.remaining)
        chunk = self.stream.read(size)
        self.remaining -= len(chunk)
        return chunk


def _stream(upstream: requests.Response) -> Iterable[bytes]:
    try:
        yield from upstream.raw.stream(64 * 1024, decode_content=False)
    finally:
        upstream.close()
