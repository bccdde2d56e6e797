"""The pages (see the package's docstring). Every page that changes something posts a form with
the CSRF token: the session's (checked by the gateway on the API request the page makes), or
before signing in a form token matched against its own cookie (double submit). URLs carry ids,
never a phone number, name or code."""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path

from flask import Flask, Response, abort, g, redirect, render_template, request

from web import attend, console, department, pages, wizard
from web.client import Answer, Api
from web.operator import coverage as coverage_view
from web.pages import ask, page, signed_in
from web.pages import items as _items

FORM_COOKIE = "xs_form"
STATUS = {
    "submitted": "已提交", "eligible": "附议已达标", "accepted": "已列为议题", "rejected": "未采纳", "merged": "已合并",
    "referred": "已转交办理", "scheduled": "已安排协商", "decided": "已形成决定", "in_progress": "办理中",
    "resolved": "已办结", "closed": "已关闭",
}  # fmt: skip
STANCES = {"support": "支持", "oppose": "反对", "concern": "担忧", "proposal": "建议"}
# Where staff land after signing in (residents stay on their community's page).
WORKPLACES = {"community_worker": "/console", "street_admin": "/console", "district_admin": "/console",
              "department": "/department", "city_operator": "/coverage", "supervisor": "/coverage"}  # fmt: skip
CHOICES = {"satisfied": "满意", "basically_satisfied": "基本满意", "unsatisfied": "不满意"}


def create_web(gateway, registration_area: str) -> Flask:
    app = Flask("web", template_folder=str(Path(__file__).parent / "templates"),
                static_folder=str(Path(__file__).parent / "static"), static_url_path="/static")  # fmt: skip
    app.jinja_env.globals.update(STATUS=STATUS, STANCES=STANCES, CHOICES=CHOICES)
    api = Api(gateway)
    pages.install(app, api)
    for blueprint in (console.bp, wizard.bp, attend.bp, department.bp):  # the worker's console, the department's view
        app.register_blueprint(blueprint)
    app.register_blueprint(coverage_view)  # the operators' coverage view, /coverage (web/operator.py)

    @app.before_request
    def _who():
        g.me, g.csrf = None, None
        if request.path.startswith("/static/"):
            return
        if request.cookies.get("xs_session"):
            answer = api.call(request, "GET", "/api/v1/auth/session")
            if answer.ok:
                g.me, g.csrf = answer.body["account"], answer.body["csrf_token"]
        if g.me is None:
            g.csrf = request.cookies.get(FORM_COOKIE) or secrets.token_urlsafe(24)

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers.setdefault(
            "Cache-Control", "no-store" if not request.path.startswith("/static/") else "max-age=3600"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'"
        )
        if g.get("me") is None and g.get("csrf") and request.cookies.get(FORM_COOKIE) != g.csrf:
            response.set_cookie(FORM_COOKIE, g.csrf, httponly=True, samesite="Lax", path="/",
                                secure=request.is_secure)  # fmt: skip
        return response

    def anonymous_form_checked():
        sent, kept = request.form.get("csrf", ""), request.cookies.get(FORM_COOKIE, "")
        if not kept or not hmac.compare_digest(sent.encode(), kept.encode()):
            abort(Response(render_template("error.html", me=None, csrf=g.csrf,
                                           message="页面已过期,请返回刷新后重试"), 403))  # fmt: skip

    def passing(answer: Answer, to: str):
        response = redirect(to, code=303)
        for cookie in answer.cookies:
            response.headers.add("Set-Cookie", cookie)
        return response

    # -- signing in and registering ------------------------------------------------------------------
    @app.get("/login")
    def login_form():
        return page("login.html", values={}, errors={})

    @app.post("/login")
    def login():
        anonymous_form_checked()
        values = {"username": request.form.get("username", "").strip()}
        answer = api.call(request, "POST", "/api/v1/auth/session",
                          {"username": values["username"], "password": request.form.get("password", "")})  # fmt: skip
        if not answer.ok:
            return page("login.html", answer.status, values=values, errors=answer.errors(), message=answer.message())
        return passing(answer, "/")

    @app.post("/logout")
    def logout():
        answer = ask("DELETE", "/api/v1/auth/session")
        return passing(answer, "/login")

    def communities():
        answer = api.call(request, "GET", f"/public/area/{registration_area}.json")
        return answer.body.get("communities", []) if answer.ok else []

    @app.get("/register")
    def register_form():
        return page("register.html", values={}, errors={}, communities=communities(), sent=False)

    @app.post("/register/code")
    def send_code():
        anonymous_form_checked()
        values = {k: request.form.get(k, "").strip() for k in ("phone", "community_code", "display_name", "username")}
        answer = api.call(request, "POST", "/api/v1/auth/verification-codes", {"phone": values["phone"]})
        status, errors = (200, {}) if answer.ok else (answer.status, answer.errors() or {"phone": answer.message()})
        return page("register.html", status, values=values, errors=errors, communities=communities(), sent=answer.ok)

    @app.post("/register")
    def register():
        anonymous_form_checked()
        fields = ("phone", "code", "username", "password", "community_code", "display_name")
        body = {k: request.form.get(k, "").strip() for k in fields}
        body["password"] = request.form.get("password", "")
        answer = api.call(request, "POST", "/api/v1/auth/register", body)
        if not answer.ok:
            values = {k: v for k, v in body.items() if k != "password"}
            errors = answer.errors() or {"form": answer.message()}
            return page("register.html", answer.status, values=values, errors=errors, communities=communities(),
                        sent=True, message=answer.message())  # fmt: skip
        opened = api.call(request, "POST", "/api/v1/auth/session",
                          {"username": body["username"], "password": body["password"]})  # fmt: skip
        return passing(opened, "/")

    # -- the resident's pages ------------------------------------------------------------------------
    @app.get("/")
    def home():
        me = signed_in()
        if me["role"] in WORKPLACES:
            return redirect(WORKPLACES[me["role"]], code=303)
        community = me.get("community") or me["scope"]
        matters = ask("GET", "/api/v1/intake/proposals", query={"community": community, "limit": "20"})
        meetings = ask("GET", "/api/v1/meetings/consultations",
                       query={"division": community, "status": ["announced", "in_session"], "limit": "10"})  # fmt: skip
        tasks = ask("GET", "/api/v1/tracking/tasks", query={"community": community, "status": ["completed"]})
        return page("home.html", community=community, matters=_items(matters), meetings=_items(meetings),
                    tasks=_items(tasks))  # fmt: skip

    @app.get("/matters/new")
    def new_matter():
        me = signed_in()
        return page("new_matter.html", values={"community_code": me.get("community")}, errors={},
                    categories=_categories(ask))  # fmt: skip

    @app.post("/matters/new")
    def raise_matter():
        me = signed_in()
        values = {k: request.form.get(k, "").strip() for k in ("title", "description", "category", "place")}
        values["community_code"] = me.get("community") or ""
        body = {"community_code": values["community_code"], "title": values["title"],
                "description": values["description"], "category": values["category"]}  # fmt: skip
        if values["place"]:
            body["location"] = {"address": values["place"]}
        answer = ask("POST", "/api/v1/intake/proposals", body)
        if not answer.ok:
            errors = answer.errors() or {"form": answer.message()}
            if "location" in errors:
                errors["place"] = errors.pop("location")
            return page("new_matter.html", answer.status, values=values, errors=errors,
                        categories=_categories(ask), message=answer.message())  # fmt: skip
        return redirect(f"/matters/{answer.body['id']}", code=303)

    @app.get("/matters/<proposal_id>")
    def matter(proposal_id: str):
        signed_in()
        found = ask("GET", f"/api/v1/intake/proposals/{proposal_id}")
        if not found.ok:
            return page("error.html", found.status, message=found.message())
        history = ask("GET", f"/api/v1/intake/proposals/{proposal_id}/history")
        tasks = ask("GET", "/api/v1/tracking/tasks", query={"community": found.body["community_code"], "limit": "100"})
        linked = [t for t in _items(tasks) if proposal_id in (t.get("proposal_ids") or [])]
        for task in linked:
            task["rating"] = ask("GET", f"/api/v1/tracking/tasks/{task['id']}/ratings").body
        return page("matter.html", matter=found.body, history=_items(history), tasks=linked,
                    message=request.args.get("done") and "操作成功")  # fmt: skip

    @app.post("/matters/<proposal_id>/support")
    def support(proposal_id: str):
        signed_in()
        answer = ask("POST", f"/api/v1/intake/proposals/{proposal_id}/support")
        if not answer.ok:
            return page("error.html", answer.status, message=answer.message())
        return redirect(f"/matters/{proposal_id}?done=1", code=303)

    @app.post("/tasks/<task_id>/rate")
    def rate(task_id: str):
        signed_in()
        back = request.form.get("matter", "")
        rating = {"choice": request.form.get("choice", ""), "comment": request.form.get("comment") or None}
        answer = ask("POST", f"/api/v1/tracking/tasks/{task_id}/ratings", rating)
        if not answer.ok:
            return page("error.html", answer.status, message=answer.message())
        return redirect(f"/matters/{back}?done=1" if back.replace("-", "").isalnum() else "/", code=303)

    @app.get("/inbox")
    def inbox():
        signed_in()
        answer = ask("GET", "/api/v1/notify/inbox")
        return page("inbox.html", items=_items(answer))

    @app.get("/consultations/<consultation_id>")
    def consultation(consultation_id: str):
        signed_in()
        found = ask("GET", f"/api/v1/meetings/consultations/{consultation_id}")
        if not found.ok:
            return page("error.html", found.status, message=found.message())
        opinions = ask("GET", f"/api/v1/meetings/consultations/{consultation_id}/opinions")
        rounds = opinions.body.get("rounds", []) if opinions.ok else []
        return page("consultation.html", c=found.body, opinions=_items(opinions), rounds=rounds, errors={}, values={})

    @app.post("/consultations/<consultation_id>/opinions")
    def opine(consultation_id: str):
        signed_in()
        values = {k: request.form.get(k, "").strip() for k in ("topic_id", "stance", "text", "parent_id")}
        body = {**values, "parent_id": values["parent_id"] or None}
        answer = ask("POST", f"/api/v1/meetings/consultations/{consultation_id}/opinions", body)
        if not answer.ok:
            found = ask("GET", f"/api/v1/meetings/consultations/{consultation_id}")
            opinions = ask("GET", f"/api/v1/meetings/consultations/{consultation_id}/opinions")
            errors = answer.errors() or {"text": answer.message()}
            rounds = opinions.body.get("rounds", []) if opinions.ok else []
            return page("consultation.html", answer.status, c=found.body, opinions=_items(opinions), rounds=rounds,
                        errors=errors, values=values)  # fmt: skip
        return redirect(f"/consultations/{consultation_id}#opinions", code=303)

    @app.post("/consultations/<consultation_id>/rsvp")
    def rsvp(consultation_id: str):
        signed_in()
        answer = ask("POST", f"/api/v1/meetings/consultations/{consultation_id}/rsvp",
                     {"answer": request.form.get("answer", "")})  # fmt: skip
        if not answer.ok:
            return page("error.html", answer.status, message=answer.message())
        return redirect(f"/consultations/{consultation_id}", code=303)

    @app.get("/board")
    def board():
        me = signed_in()
        return redirect(f"/public/{me.get('community') or me['scope']}", code=303)

    @app.errorhandler(404)
    def _missing(_exc):
        return page("error.html", 404, message="页面不存在")

    return app


def _categories(ask) -> list:
    answer = ask("GET", "/api/v1/intake/categories")
    return answer.body if answer.ok and isinstance(answer.body, list) else []
