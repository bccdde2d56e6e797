"""The Flask application every service API is built on.

One place gives every API the same behaviour: request and correlation ids, token verification on
every route not marked public, problem+json for every error, JSON access logs without personal
data, Prometheus metrics per route template, ``/healthz``, ``/readyz`` and ``/metrics``, and an
OpenAPI document from flask-smorest.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus

import flask_smorest
from flask import Flask, Response, g, jsonify, request
from flask_smorest import Api
from flask_smorest.utils import prepare_response
from marshmallow import INCLUDE, Schema, fields
from marshmallow.fields import List
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from shared import context, inbound, metrics
from shared.auth import TokenVerifier, bearer_token
from shared.principal import Principal
from shared.problems import PROBLEM_JSON, Forbidden, Problem, Unauthorized, UnsupportedMediaType, problem_body

DATABASE_RETRY_AFTER = 1  # seconds: a lost connection is replaced by the next request
# Errors of a transaction that lost a wait for a lock, rolled back and worth retrying: SQLite's
# SQLITE_BUSY / SQLITE_LOCKED; PostgreSQL's serialization_failure, deadlock_detected, lock_not_available.
_SQLITE_CONTENTION = {5, 6}
_POSTGRESQL_CONTENTION = {"40001", "40P01", "55P03"}
log = logging.getLogger("xieshang.http")
access_log = logging.getLogger("xieshang.access")

MAX_BODY_BYTES = 1024 * 1024
# How long a server keeps an idle keep-alive connection open (gunicorn's ``keepalive``); a client
# that pools connections to it (the gateway) drops its own sooner (``gateway.proxy``).
KEEPALIVE_SECONDS = 5
PUBLIC_BLUEPRINTS = {"api-docs"}


def _contended(exc: DBAPIError) -> bool:
    """Whether a database error is lock contention (retry later) rather than a fault of the code."""
    return (
        getattr(exc.orig, "sqlite_errorcode", None) in _SQLITE_CONTENTION
        or getattr(exc.orig, "sqlstate", None) in _POSTGRESQL_CONTENTION
    )


class ProblemSchema(Schema):
    """An RFC 7807 problem, as every error is answered (``shared.problems``); more members may follow
    (``field``, ``errors``, ``unknown``...)."""

    class Meta:
        unknown = INCLUDE

    type = fields.String(required=True, metadata={"description": "A stable URI naming the kind of problem"})
    title = fields.String(required=True, metadata={"description": "Chinese title of the kind of problem"})
    status = fields.Integer(required=True)
    detail = fields.String(metadata={"description": "What went wrong, in Chinese"})
    instance = fields.String()


class ProblemApi(Api):
    """flask-smorest's ``Api`` documenting every error response as it is sent: problem+json."""

    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self):
        for status in HTTPStatus:
            response = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_JSON)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Default error response", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_JSON)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's blueprint, each argument schema given as a class made once, where the route is
    declared: webargs would make it anew for every request (about 0.1 ms of CPU each, on the hottest
    routes too: a submission, a delivery report). A schema keeps no state between loads."""

    def arguments(self, schema, **kwargs):
        return super().arguments(schema() if isinstance(schema, type) else schema, **kwargs)


def public(view):
    """Mark a view (function or MethodView class) as reachable without a token."""
    view._public = True
    return view


def requires(*roles: str):
    """Declare which roles may call a route (checked before the view runs; scope is the view's job)."""

    def decorate(view):
        view._roles = frozenset(roles)
        return view

    return decorate


def open_query(view):
    """Let a view take query parameters it does not document. Only for a standard whose clients may
    send parameters a server need not use (Open311); every other route refuses unknown ones."""
    view._open_query = True
    return view


def allowed_roles(view) -> frozenset[str] | None:
    """The roles a route admits, or None for every authenticated caller."""
    return getattr(view, "_roles", None) or getattr(getattr(view, "view_class", None), "_roles", None)


def _is_public(view) -> bool:
    return bool(getattr(view, "_public", False) or getattr(getattr(view, "view_class", None), "_public", False))


def _arguments(view) -> list[dict]:
    return getattr(view, "_apidoc", {}).get("arguments", {}).get("parameters", [])


@functools.cache
def _accepted_query(view) -> dict[str, bool] | None:
    """The query parameters ``view`` documents, each with whether it may be repeated (a list); None:
    any (see ``open_query``). Read once per view."""
    if getattr(view, "_open_query", False):
        return None
    names: dict[str, bool] = {}
    for argument in _arguments(view):
        if argument["in"] == "query":
            for name, field in argument["schema"].load_fields.items():  # an instance (``Blueprint``)
                names[field.data_key or name] = isinstance(field, List)
    return names


def _takes_json(view) -> bool:
    return any(argument["in"] == "json" for argument in _arguments(view))


def _check_input(view) -> None:
    """The checks of ``shared.inbound`` on the current request, and a JSON route's media type."""
    accepted = _accepted_query(view)
    if accepted is not None:
        inbound.refuse_unknown_query(request.args, accepted)
    inbound.refuse_forbidden_text(inbound.pairs(request.args))
    inbound.refuse_forbidden_text((name, str(value)) for name, value in (request.view_args or {}).items())
    has_body = bool(request.content_length) or request.headers.get("Transfer-Encoding") == "chunked"
    if not has_body:
        return
    if inbound.is_json(request.mimetype):
        # Parsed once here, depth first; the view's argument parser reads the cached bytes again.
        inbound.json_body(request.get_data(cache=True))
    elif request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        inbound.refuse_forbidden_text(inbound.pairs(request.form))
    elif _takes_json(view):
        raise UnsupportedMediaType("请求内容类型须为 application/json")


def problem_response(body: dict, headers: dict | None = None) -> Response:
    response = jsonify(body)
    response.status_code = body["status"]
    response.mimetype = PROBLEM_JSON
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def current_principal() -> Principal:
    principal = g.get("principal")
    if principal is None:
        raise Unauthorized()
    return principal


ReadyCheck = Callable[[], None]


def create_app(
    name: str,
    *,
    verifier: TokenVerifier | None,
    blueprints: Iterable = (),
    ready_checks: dict[str, ReadyCheck] | None = None,
    title: str | None = None,
) -> Flask:
    app = Flask(name)
    app.config.update(
        API_TITLE=title or f"Xieshang {name} API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX=f"/api/v1/{name}",
        OPENAPI_JSON_PATH="openapi.json",
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        JSON_AS_ASCII=False,
    )
    app.json.ensure_ascii = False
    app.extensions["xieshang.service"] = name
    api = ProblemApi(app, spec_kwargs={"info": {"description": f"Xieshang {name} service"}})
    api.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    for blueprint in blueprints:
        api.register_blueprint(blueprint)
    app.extensions["xieshang.api"] = api
    checks = ready_checks or {}

    @app.before_request
    def _begin():
        g.started = time.perf_counter()
        rid = request.headers.get("X-Request-Id") or context.new_id()
        g.request_id = rid[:128]
        g.context_tokens = (
            context.request_id.set(g.request_id),
            context.correlation_id.set((request.headers.get("X-Correlation-Id") or g.request_id)[:128]),
        )
        view = app.view_functions.get(request.endpoint) if request.endpoint else None
        if view is None:
            return None
        if not (_is_public(view) or request.blueprint in PUBLIC_BLUEPRINTS):
            _authenticate(view)
        _check_input(view)
        return None

    def _authenticate(view) -> None:
        if verifier is None:
            raise Unauthorized("此服务未配置令牌校验")
        token = bearer_token(request.headers.get("Authorization"))
        if token is None:
            raise Unauthorized()
        g.principal = verifier.verify(token)
        roles = allowed_roles(view)
        if roles is not None and g.principal.role not in roles:
            raise Forbidden("您的角色无权执行此操作")

    @app.after_request
    def _finish(response: Response) -> Response:
        route = request.url_rule.rule if request.url_rule else "<unmatched>"
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        metrics.HTTP_REQUESTS.labels(name, request.method, route, str(response.status_code)).inc()
        metrics.HTTP_LATENCY.labels(name, request.method, route).observe(elapsed)
        response.headers["X-Request-Id"] = g.get("request_id", "")
        if route not in {"/healthz", "/readyz", "/metrics"}:
            access_log.info(
                "request",
                extra={
                    "method": request.method,
                    "route": route,
                    "status": response.status_code,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )
        return response

    @app.teardown_request
    def _clear(_exc):
        for token in reversed(g.pop("context_tokens", ())):
            token.var.reset(token)

    @app.errorhandler(Problem)
    def _problem(exc: Problem):
        retry_after = getattr(exc, "retry_after", None)
        headers = {"Retry-After": str(retry_after)} if retry_after else None
        return problem_response(exc.to_dict(instance=request.path), headers)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        extra = {}
        data = getattr(exc, "data", None) or {}
        if "messages" in data:  # webargs/marshmallow validation errors from flask-smorest
            extra["errors"] = data["messages"]
        headers = {k: v for k, v in exc.get_headers() if k.lower() in {"allow", "retry-after"}}
        return problem_response(problem_body(exc.code or 500, instance=request.path, **extra), headers)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error")
        return problem_response(problem_body(500, instance=request.path))

    @app.errorhandler(DBAPIError)
    def _database_error(exc: DBAPIError):
        # The connection was lost under the request (the database restarted or cut it): the pool
        # has dropped it and the next request gets a fresh one, so the service is unavailable for a
        # moment, which the client may retry. So may it after lock contention; any other database
        # error is still the server's fault.
        if exc.connection_invalidated:
            log.warning("database connection lost", extra={"error": type(exc.orig).__name__})
            body = problem_body(503, instance=request.path, detail="数据库连接中断,请稍后重试")
        elif _contended(exc):
            # Rolled back whole, so retrying is safe; logged with its trace, since under ordinary
            # load it points at a lock held too long or taken out of order.
            log.error("database contention", exc_info=exc, extra={"error": type(exc.orig).__name__})
            body = problem_body(503, instance=request.path, detail="系统繁忙,请稍后重试")
        else:
            return _unexpected(exc)
        return problem_response(body, {"Retry-After": str(DATABASE_RETRY_AFTER)})

    @app.get("/healthz")
    @public
    def healthz():
        return jsonify(status="ok", service=name)

    @app.get("/readyz")
    @public
    def readyz():
        failures = {}
        for check_name, check in checks.items():
            try:
                check()
            except Exception as exc:  # noqa: BLE001 - any failure means not ready
                failures[check_name] = type(exc).__name__
        if failures:
            return problem_response(problem_body(503, detail="依赖服务不可用", checks=failures, service=name))
        return jsonify(status="ready", service=name, checks=sorted(checks))

    @app.get("/metrics")
    @public
    def metrics_endpoint():
        payload, content_type = metrics.exposition()
        return Response(payload, content_type=content_type)

    return app
