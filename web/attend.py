"""A participant's side of the day (``/attend/<consultation>``), on her own phone or the tablet at
the door: sign in with the attendance code the organiser shows (or join an online session), then
vote on each topic by the method fixed in advance, a blocking objection with its reason. Meetings
checks that she is invited, that sign-in is open and that she votes once per topic."""

from __future__ import annotations

from flask import Blueprint, redirect, request

from web.labels import LABELS
from web.pages import ask, page, signed_in

bp = Blueprint("attend", __name__, url_prefix="/attend")

DONE = {"signed": "签到成功,欢迎参加协商", "joined": "已加入线上协商", "voted": "表决已记录",
        "profile": "谢谢,仅用于统计参与面"}  # fmt: skip
PROFILE = ("age_band", "occupation", "stakeholder_type")


def _page(consultation_id: str, status: int = 200, **context):
    found = ask("GET", f"/api/v1/meetings/consultations/{consultation_id}")
    if not found.ok:
        return page("error.html", found.status, message=found.message())
    context.setdefault("errors", {})
    context.setdefault("message", DONE.get(request.args.get("done", "")))
    return page("console/attend.html", status, c=found.body, labels=LABELS, **context)


@bp.get("/<consultation_id>")
def attend(consultation_id: str):
    signed_in()
    return _page(consultation_id)


def _act(consultation_id: str, action: str, body: dict | None, done: str):
    signed_in()
    answer = ask("POST", f"/api/v1/meetings/consultations/{consultation_id}/{action}", body)
    if not answer.ok:
        errors = answer.errors() or {"form": answer.message()}
        return _page(consultation_id, answer.status, errors=errors, message=answer.message())
    return redirect(f"/attend/{consultation_id}?done={done}", code=303)


@bp.post("/<consultation_id>/sign-in")
def sign_in(consultation_id: str):
    return _act(consultation_id, "sign-in", {"code": request.form.get("code", "").strip()}, "signed")


@bp.post("/<consultation_id>/join")
def join(consultation_id: str):
    return _act(consultation_id, "join", None, "joined")


@bp.post("/<consultation_id>/profile")
def profile(consultation_id: str):
    """Her own profile, each part optional: only ever counted in the participation figures."""
    return _act(consultation_id, "profile", {k: request.form.get(k) or None for k in PROFILE}, "profile")


@bp.post("/<consultation_id>/votes")
def vote(consultation_id: str):
    body = {"topic_id": request.form.get("topic_id", ""), "choice": request.form.get("choice", ""),
            "reason": request.form.get("reason", "").strip() or None}  # fmt: skip
    return _act(consultation_id, "votes", body, "voted")
