"""The pages' way to the API: one request to the gateway's WSGI callable, carrying the browser's
cookie, address and (for a change) the page's CSRF token; the answer's JSON and cookies back."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from werkzeug.test import EnvironBuilder, run_wsgi_app


@dataclass
class Answer:
    status: int
    body: dict | list
    cookies: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def problem(self) -> dict:
        return self.body if not self.ok and isinstance(self.body, dict) else {}

    def errors(self) -> dict[str, str]:
        """A refusal's messages by field: the problem's ``field`` or its validation ``errors``."""
        problem = self.problem
        found: dict[str, str] = {}
        for location in (problem.get("errors") or {}).values():
            if isinstance(location, dict):
                for name, messages in location.items():
                    found[name] = messages[0] if isinstance(messages, list) and messages else str(messages)
        if problem.get("field"):
            found[problem["field"]] = problem.get("detail") or problem.get("title", "")
        return found

    def message(self) -> str:
        problem = self.problem
        return problem.get("detail") or problem.get("title") or "请求失败,请稍后再试"


class Api:
    def __init__(self, gateway: Callable):
        self.gateway = gateway

    def call(self, request, method: str, path: str, body: dict | None = None, query=None, csrf: str | None = None):
        headers = {"Accept": "application/json"}
        if request.headers.get("Cookie"):
            headers["Cookie"] = request.headers["Cookie"]
        if csrf:
            headers["X-CSRF-Token"] = csrf
        builder = EnvironBuilder(
            path=path, method=method, json=body, query_string=query, headers=headers,
            base_url=request.host_url, environ_base={"REMOTE_ADDR": request.remote_addr or ""},
        )  # fmt: skip
        try:
            app_iter, status, response_headers = run_wsgi_app(self.gateway, builder.get_environ(), buffered=True)
            data = b"".join(app_iter)
        finally:
            builder.close()
        try:
            parsed = json.loads(data) if data else {}
        except ValueError:
            parsed = {}
        cookies = [value for name, value in response_headers.items() if name.lower() == "set-cookie"]
        return Answer(int(status.split(" ", 1)[0]), parsed, cookies)
