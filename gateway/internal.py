"""The gateway calling a service itself (registration: notify's directory and its SMS provider),
through the same upstream a client's request takes (in process or over HTTP), with a short-lived
token of the gateway's own, narrowly scoped principal. A refusal comes back as the service's
problem, so a resident sees notify's Chinese message beside the field it names."""

from __future__ import annotations

import json
from collections.abc import Callable

from werkzeug.test import EnvironBuilder, run_wsgi_app

from shared.problems import Problem


class Unavailable(Problem):
    status = 503


class UpstreamProblem(Problem):
    """A service's problem answer, passed on as it came (status, title, detail, field)."""

    def __init__(self, status: int, body: dict):
        self.status = status
        extra = {k: v for k, v in body.items() if k not in {"type", "title", "status", "detail", "instance"}}
        super().__init__(body.get("detail"), title=body.get("title"), **extra)


def call(app: Callable, method: str, path: str, token: str, body: dict | None = None) -> dict:
    """``app``'s JSON answer to one request, or the problem it answered raised."""
    builder = EnvironBuilder(
        path=path, method=method, json=body, headers={"Authorization": f"Bearer {token}"},
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
    )  # fmt: skip
    try:
        app_iter, status, _headers = run_wsgi_app(app, builder.get_environ(), buffered=True)
        data = b"".join(app_iter)
    finally:
        builder.close()
    code = int(status.split(" ", 1)[0])
    try:
        answer = json.loads(data) if data else {}
    except ValueError:
        answer = {}
    if code >= 400:
        if code >= 500 or not isinstance(answer, dict):
            raise Unavailable("服务暂时不可用,请稍后再试")
        raise UpstreamProblem(code, answer)
    return answer if isinstance(answer, dict) else {}
