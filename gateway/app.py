"""The gateway application: the only public door.

For every request: a request id (accepted or generated, returned, forwarded), the body size
limit, CORS, the caller's identity (bearer token verified here, or an API key exchanged for a
short-lived gateway-signed token), the caller's rate limit, then the upstream chosen by the longest
matching path prefix, or the gateway's own routes. Services verify the token again themselves.
"""

from __future__ import annotations

import hmac
import io
import ipaddress
import logging
import time
from collections.abc import Callable, Mapping
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs, parse_qsl, urlencode

from flask import Flask

from gateway.api import blueprints
from gateway.proxy import open311_error_wsgi, problem_wsgi
from gateway.ratelimit import retry_after_header
from gateway.runtime import SESSION_COOKIE, GatewayRuntime
from shared import context, inbound, metrics
from shared.http import MAX_BODY_BYTES, create_app
from shared.problems import Forbidden, Problem, TooManyRequests, Unauthorized

log = logging.getLogger("xieshang.gateway")
access_log = logging.getLogger("xieshang.access")
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# What the gateway answers itself or routes to a service; every other path is a page of the web app.
API_PREFIXES = ("/api/", "/open311/", "/public/", "/.well-known/")
API_PATHS = {"/healthz", "/readyz", "/metrics", "/public"}


class Gateway:
    def __init__(self, runtime: GatewayRuntime, own: Flask, routes: Mapping[str, Callable]):
        self.runtime = runtime
        self.own = own
        self.routes = sorted(routes.items(), key=lambda item: len(item[0]), reverse=True)
        self.cors = set(runtime.settings.cors_origins)
        self.pages: Callable | None = None  # the residents' web app at / (``web``), when the target has it

    def upstream_for(self, path: str) -> Callable | None:
        for prefix, upstream in self.routes:
            if path == prefix or path.startswith(prefix + "/"):
                return upstream
        return None

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        request_id = (environ.get("HTTP_X_REQUEST_ID") or context.new_id())[:128]
        environ["HTTP_X_REQUEST_ID"] = request_id
        origin = environ.get("HTTP_ORIGIN", "").rstrip("/")
        allowed_origin = origin if origin and (origin in self.cors or "*" in self.cors) else None
        extra_headers = [("X-Request-Id", request_id)]
        if allowed_origin:
            extra_headers += [("Access-Control-Allow-Origin", allowed_origin), ("Vary", "Origin")]

        def respond(status, headers, exc_info=None):
            names = {name.lower() for name, _ in headers}
            headers = list(headers) + [(k, v) for k, v in extra_headers if k.lower() not in names]
            environ["xieshang.status"] = int(status.split(" ", 1)[0])
            return start_response(status, headers, exc_info)

        path = environ.get("PATH_INFO", "")
        upstream = self.upstream_for(path)
        with context.bound(request_id=request_id, correlation_id=environ.get("HTTP_X_CORRELATION_ID") or request_id):
            try:
                if environ["REQUEST_METHOD"] == "OPTIONS" and allowed_origin:
                    return self._preflight(respond)
                if int(environ.get("CONTENT_LENGTH") or 0) > MAX_BODY_BYTES:
                    return problem_wsgi(respond, 413, f"请求内容不能超过{MAX_BODY_BYTES // 1024}KB")
                if self.pages is not None and not (path.startswith(API_PREFIXES) or path in API_PATHS):
                    return self.pages(environ, respond)
                self._browser_session(environ)
                if upstream is None:
                    return self.own(environ, respond)
                self._authenticate(environ)
                _refuse_deep_json(environ)
                return upstream(environ, respond)
            except Problem as problem:
                retry = getattr(problem, "retry_after", None)
                if path.startswith("/open311/"):  # Open311 clients expect the spec's error format
                    return open311_error_wsgi(respond, path, problem.status, problem.detail or problem.title, retry)
                return problem_wsgi(respond, problem.status, problem.detail, retry_after=retry, title=problem.title)
            finally:
                if upstream is not None:
                    self._observe(environ, path, started)

    def _preflight(self, respond):
        respond(
            "204 No Content",
            [
                ("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS"),
                ("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Api-Key, X-Request-Id"),
                ("Access-Control-Max-Age", "600"),
            ],
        )
        return [b""]

    def _browser_session(self, environ) -> None:
        """A request with the session cookie and no other credential is the session's account: the
        gateway puts a token of its own in the request for the service. A state-changing one must
        carry the session's CSRF token (``X-CSRF-Token``): another site can make a browser send the
        cookie, never read the token. A cookie of no live session is ignored (the caller is anonymous)."""
        if environ.get("HTTP_AUTHORIZATION") or environ.get("HTTP_X_API_KEY"):
            return
        cookie = _cookie(environ.get("HTTP_COOKIE", ""), SESSION_COOKIE)
        if not cookie:
            return
        session = self.runtime.accounts.session(cookie)
        if session is None:
            return
        if environ["REQUEST_METHOD"] not in SAFE_METHODS:
            sent = environ.get("HTTP_X_CSRF_TOKEN", "")
            if not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
                log.warning("refused session request: CSRF token", extra={"address": environ.get("REMOTE_ADDR")})
                raise Forbidden("页面已过期或来源不明,请刷新页面后重试")
        environ["HTTP_AUTHORIZATION"] = f"Bearer {self.runtime.session_token(session.principal)}"
        environ["xieshang.csrf"] = session.csrf_token

    def _authenticate(self, environ) -> None:
        """Identify the caller, apply their rate limit, and leave a gateway-signed token in the request."""
        settings = self.runtime.settings
        header = environ.get("HTTP_AUTHORIZATION", "")
        api_key = environ.get("HTTP_X_API_KEY") or self._api_key_parameter(environ)
        if header.lower().startswith("bearer "):
            try:
                principal = self.runtime.authenticate_bearer(header[7:].strip())
            except Unauthorized as refused:
                log.warning("refused token", extra={"reason": refused.detail, "address": environ.get("REMOTE_ADDR")})
                raise
            client, rate = f"sub:{principal.subject}", settings.rate_limit
        elif api_key:
            key = self.runtime.accounts.resolve_api_key(api_key)
            if key is None:
                log.warning(
                    "refused api key", extra={"reason": "unknown or revoked", "address": environ.get("REMOTE_ADDR")}
                )
                raise Unauthorized("API密钥无效或已吊销")
            environ["HTTP_AUTHORIZATION"] = f"Bearer {self.runtime.internal_token(key)}"
            client, rate = f"key:{key.id}", key.rate_per_minute
        else:
            address = environ.get("REMOTE_ADDR", "")
            if _trusted(address, settings.trusted_addresses):
                return  # the platform's own infrastructure (an SMS gateway's reports come by the thousand)
            client, rate = f"ip:{address}", settings.rate_limit
        environ["xieshang.client"] = client  # whose event streams a proxy counts (shared.streams)
        wait = self.runtime.limiter.acquire(client, rate)
        if wait:
            raise TooManyRequests(retry_after=int(retry_after_header(wait)))

    @staticmethod
    def _api_key_parameter(environ) -> str | None:
        """Open311 clients send ``api_key`` as a query or form parameter. A query's key is taken out
        of the query string: the service behind has no such parameter, and no secret is passed on."""
        query = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        found = [value for name, value in query if name == "api_key"]
        if found:
            environ["QUERY_STRING"] = urlencode([(name, value) for name, value in query if name != "api_key"])
            return found[0]
        if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)  # put it back for the service
            found = parse_qs(body.decode("utf-8", "replace")).get("api_key")
            if found:
                return found[0]
        return None

    def _observe(self, environ, path: str, started: float) -> None:
        route = self.runtime.route_template(path)
        status = environ.get("xieshang.status", 500)
        elapsed = time.perf_counter() - started
        method = environ["REQUEST_METHOD"]
        metrics.HTTP_REQUESTS.labels("gateway", method, route, str(status)).inc()
        metrics.HTTP_LATENCY.labels("gateway", method, route).observe(elapsed)
        access_log.info(
            "request",
            extra={"method": method, "route": route, "status": status, "duration_ms": round(elapsed * 1000, 2)},
        )


def _cookie(header: str, name: str) -> str | None:
    try:
        morsel = SimpleCookie(header).get(name)
    except CookieError:
        return None
    return morsel.value if morsel is not None else None


def _refuse_deep_json(environ) -> None:
    """A JSON body nested too deep is refused here already: no upstream should have to parse it."""
    mimetype = environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if not length or not inbound.is_json(mimetype):
        return
    body = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)  # put it back for the service
    inbound.refuse_deep(body)


def _trusted(address: str, networks) -> bool:
    if not networks or not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def create_gateway(
    runtime: GatewayRuntime,
    upstreams: Mapping[str, Callable],
    specs: Mapping[str, Callable[[], dict]],
    ready_checks: Mapping[str, Callable[[], None]],
) -> Gateway:
    """``upstreams`` maps a service name to a WSGI app (in process or ``HttpUpstream``)."""
    checks = {"gateway.database": runtime.db.ping, **ready_checks}
    own = create_app("gateway", verifier=runtime.verifier, blueprints=blueprints(), ready_checks=checks)
    own.extensions["xieshang.gateway"] = runtime
    runtime.set_specs(lambda: own.extensions["xieshang.api"].spec.to_dict(), specs)
    routes = {f"/api/v1/{name}": upstream for name, upstream in upstreams.items()}
    if "intake" in upstreams:
        routes["/open311/v2"] = upstreams["intake"]
    if "tracking" in upstreams:
        routes["/public"] = upstreams["tracking"]
    runtime.upstreams = dict(upstreams)  # registration calls notify through the same upstream
    return Gateway(runtime, own, routes)
