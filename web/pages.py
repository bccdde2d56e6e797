"""What every page module shares: asking the gateway with the browser's session, rendering a page
with the signed-in account and its CSRF token, requiring a sign-in, and Beijing time. The residents'
pages (web/app.py) and the blueprints (the console, the department's and the operator's views) use
these, so a blueprint is as thin as a route of app.py."""

from __future__ import annotations

from datetime import datetime

from flask import abort, current_app, g, redirect, render_template, request

from shared.clock import BEIJING
from web.client import Answer, Api

API = "xieshang.api"  # the key of the app's Api in Flask's extensions


def install(app, api: Api) -> None:
    app.extensions[API] = api
    app.jinja_env.filters["beijing"] = beijing


def api() -> Api:
    return current_app.extensions[API]


def ask(method: str, path: str, body=None, query=None) -> Answer:
    """The gateway's answer to a request made with the browser's cookie; a change carries the form's token."""
    return api().call(request, method, path, body, query, csrf=request.form.get("csrf") if method != "GET" else None)


def page(template: str, status: int = 200, **context):
    return render_template(template, me=g.me, csrf=g.csrf, failed=status >= 400, **context), status


def signed_in() -> dict:
    if g.me is None:
        abort(redirect("/login"))
    return g.me


def items(answer: Answer) -> list:
    """A listing's rows (a page of ``items`` or a bare list); none when refused."""
    if not answer.ok:
        return []
    body = answer.body
    return body.get("items", []) if isinstance(body, dict) else body


def beijing(value) -> str:
    """A stored UTC moment as people read it: Beijing time."""
    if not value:
        return "—"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    local = moment.astimezone(BEIJING)
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"
