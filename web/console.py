"""The community worker's console at ``/console``: the triage of the community's matters (两委定事)
with their likely duplicates side by side, the community's tasks with their deadlines, escalations
and ratings, and community notices sent by hand (SMS previewed with its parts). The consultation
wizard is ``web.wizard``, the record of one held offline (补录) is here.

Like every page, a client of the gateway's routes with the worker's session: the API decides who
may do what (organisers: community workers, street and district administrators) and within which
scope; a refusal is shown with its Chinese message and nothing is saved."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from fractions import Fraction

from flask import Blueprint, abort, make_response, redirect, request

from shared.clock import BEIJING
from web.labels import LABELS
from web.pages import ask, items, page, signed_in

bp = Blueprint("console", __name__, url_prefix="/console")

ORGANISERS = ("community_worker", "street_admin", "district_admin")
RATES_DAYS = 365  # the 三率 shown: tasks assigned in the last year
# Rows a page shows: each row asks the API once more (its duplicates, its ratings), and the gateway
# limits how many requests a client makes in a burst; the rest are on the next page.
PER_PAGE = 20
EXTENSION_DECIDERS = ("street_admin", "district_admin")  # tracking's, among the console's organisers
DONE = {
    "accepted": "已列为议题,可在协商中安排", "rejected": "已说明理由并告知提出人", "merged": "已合并,附议人一并转入",
    "referred": "已转交责任单位办理,形成任务", "recorded": "补录已保存,成果将形成任务", "sent": "通知已发送",
    "extension": "延期申请已审批,责任单位和居民会收到通知", "closed": "任务已关闭",
}  # fmt: skip


def organiser() -> dict:
    """The signed-in organiser; anyone else is shown why the console is not theirs."""
    me = signed_in()
    if me["role"] not in ORGANISERS:
        abort(make_response(page("error.html", 403, message="工作台供社区工作者和街道、区县管理员使用")))
    return me


def area(me: dict) -> str:
    """The division the console shows: the worker's community (an administrator's area)."""
    return me.get("community") or me["scope"]


def show(template: str, status: int = 200, **context):
    return page(template, status, labels=LABELS, **context)


def back(to: str, done: str | None = None):
    return redirect(f"{to}?done={done}" if done else to, code=303)


def cursor() -> dict:
    """The page of a listing the link asked for (the API's opaque cursor)."""
    return {"cursor": request.args["cursor"]} if request.args.get("cursor") else {}


def next_cursor(answer) -> str | None:
    return answer.body.get("next_cursor") if answer.ok and isinstance(answer.body, dict) else None


def done_message() -> str | None:
    return DONE.get(request.args.get("done", ""))


def local_moment(value: str) -> str | None:
    """A time typed in a page (Beijing time, ``2026-12-03T19:00``) as ISO 8601 with its zone; None
    when it is no time (the API then names the field)."""
    try:
        moment = datetime.fromisoformat((value or "").strip())
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=BEIJING)).isoformat()


def organisations() -> list:
    """The registered organisations that may carry out the community's outcomes."""
    return items(ask("GET", "/api/v1/tracking/organisations"))


# -- the console's first page ------------------------------------------------------------------------


@bp.get("")
def home():
    me = organiser()
    code = area(me)
    waiting = items(ask("GET", "/api/v1/intake/proposals",
                        query={"community": code, "status": ["submitted", "eligible"], "limit": "100"}))  # fmt: skip
    meetings = items(ask("GET", "/api/v1/meetings/consultations",
                         query={"division": code, "status": ["draft", "announced", "in_session", "decided",
                                                             "no_consensus"], "limit": "20"}))  # fmt: skip
    tasks = items(ask("GET", "/api/v1/tracking/tasks",
                      query={"community": code, "status": ["assigned", "accepted", "in_progress", "reopened"],
                             "limit": "100"}))  # fmt: skip
    return show("console/home.html", code=code, waiting=waiting, meetings=meetings, tasks=tasks,
                overdue=[t for t in tasks if t["overdue"]])  # fmt: skip


# -- triage (两委定事) ----------------------------------------------------------------------------------


def _triage(status: int = 200, message: str | None = None, errors: dict | None = None):
    me = organiser()
    code = area(me)
    listing = ask("GET", "/api/v1/intake/proposals", query={
        "community": code, "status": ["eligible", "submitted"], "sort": "-supporters", "limit": str(PER_PAGE),
        **cursor()})  # fmt: skip
    waiting = items(listing)
    for matter in waiting:
        similar = ask("GET", "/api/v1/intake/proposals/similar", query={
            "community": matter["community_code"], "title": matter["title"],
            "description": matter["description"][:500], "limit": "4"})  # fmt: skip
        matter["duplicates"] = [d for d in items(similar) if d["id"] != matter["id"]][:3]
    return show("console/triage.html", status, waiting=waiting, organisations=organisations(),
                message=message or done_message(), errors=errors or {}, more=next_cursor(listing))  # fmt: skip


@bp.get("/triage")
def triage():
    return _triage()


def _decided(proposal_id: str, action: str, body: dict | None, done: str):
    organiser()
    answer = ask("POST", f"/api/v1/intake/proposals/{proposal_id}/{action}", body)
    if not answer.ok:
        errors = {f"{proposal_id}-{name}": text for name, text in answer.errors().items()}
        return _triage(answer.status, answer.message(), errors)
    return back("/console/triage", done)


@bp.post("/matters/<proposal_id>/accept")
def accept(proposal_id: str):
    return _decided(proposal_id, "accept", None, "accepted")


@bp.post("/matters/<proposal_id>/reject")
def reject(proposal_id: str):
    return _decided(proposal_id, "reject", {"reason": request.form.get("reason", "").strip()}, "rejected")


@bp.post("/matters/<proposal_id>/merge")
def merge(proposal_id: str):
    return _decided(proposal_id, "merge", {"into": request.form.get("into", "")}, "merged")


@bp.post("/matters/<proposal_id>/refer")
def refer(proposal_id: str):
    body = {"department_id": request.form.get("department_id", ""), "note": request.form.get("note", "").strip()}
    return _decided(proposal_id, "refer", body, "referred")


# -- the community's tasks ----------------------------------------------------------------------------


@bp.get("/tasks")
def tasks():
    me = organiser()
    code = area(me)
    overdue = request.args.get("overdue") == "1"
    query = {"community": code, "sort": "deadline", "limit": str(PER_PAGE), **cursor()}
    listing = ask("GET", "/api/v1/tracking/tasks", query={**query, "overdue": "true"} if overdue else query)
    found = items(listing)
    names = {o["id"]: o["name"] for o in organisations()}
    for task in found:
        task["organisation_name"] = names.get(task["organisation_id"], task["organisation_id"])
        if task["status"] in ("completed", "evaluated", "closed", "reopened"):
            task["rating"] = ask("GET", f"/api/v1/tracking/tasks/{task['id']}/ratings").body
    now = datetime.now(BEIJING)
    since = (now - timedelta(days=RATES_DAYS)).isoformat()
    rates = ask("GET", "/api/v1/tracking/rates", query={"scope": code, "since": since, "until": now.isoformat()})
    return show("console/tasks.html", code=code, tasks=found, rates=rates.body if rates.ok else None,
                more=next_cursor(listing), overdue=overdue)  # fmt: skip


def _task(task_id: str, status: int = 200, **context):
    me = organiser()
    found = ask("GET", f"/api/v1/tracking/tasks/{task_id}")
    if not found.ok:
        return show("error.html", found.status, message=found.message())
    names = {o["id"]: o["name"] for o in organisations()}
    context.setdefault("message", done_message())
    return show("console/task.html", status, t=found.body, organisation=names.get(found.body["organisation_id"]),
                history=items(ask("GET", f"/api/v1/tracking/tasks/{task_id}/history")),
                progress=items(ask("GET", f"/api/v1/tracking/tasks/{task_id}/progress")),
                rating=ask("GET", f"/api/v1/tracking/tasks/{task_id}/ratings").body,
                decides_extensions=me["role"] in EXTENSION_DECIDERS, **context)  # fmt: skip


@bp.get("/tasks/<task_id>")
def task(task_id: str):
    return _task(task_id)


@bp.post("/tasks/<task_id>/extension")
def decide_extension(task_id: str):
    """The supervising level (street, district) approves or refuses a request for more time."""
    organiser()
    body = {"approve": request.form.get("approve") == "1", "note": request.form.get("note", "").strip()}
    answer = ask("POST", f"/api/v1/tracking/tasks/{task_id}/extension/decision", body)
    if not answer.ok:
        return _task(task_id, answer.status, message=answer.message())
    return back(f"/console/tasks/{task_id}", "extension")


@bp.post("/tasks/<task_id>/close")
def close_task(task_id: str):
    organiser()
    answer = ask("POST", f"/api/v1/tracking/tasks/{task_id}/close")
    if not answer.ok:
        return _task(task_id, answer.status, message=answer.message())
    return back(f"/console/tasks/{task_id}", "closed")


# -- community notices by hand (SMS with its preview and parts) ---------------------------------------


def _notices(status: int = 200, **context):
    me = organiser()
    sent = ask("GET", "/api/v1/notify/sms/messages", query={"limit": "10"})
    context.setdefault("values", {})
    context.setdefault("errors", {})
    return show("console/notices.html", status, code=area(me), sent=items(sent), **context)


@bp.get("/notices")
def notices():
    return _notices(message=done_message(), values={"notice_id": str(uuid.uuid4())})


@bp.post("/notices")
def notice():
    me = organiser()
    values = {"content": request.form.get("content", "").strip(), "notice_id": request.form.get("notice_id", ""),
              "community_code": request.form.get("community_code", "").strip() or area(me)}  # fmt: skip
    preview = ask("POST", "/api/v1/notify/sms/preview", {"variables": {"content": values["content"]}})
    if not preview.ok:
        errors = {"content": preview.message()}
        return _notices(preview.status, values=values, errors=errors, message=preview.message())
    if request.form.get("action") != "send":
        return _notices(values=values, preview=preview.body)
    body = {"community_code": values["community_code"], "variables": {"content": values["content"]},
            "notice_id": values["notice_id"] or None}  # fmt: skip
    answer = ask("POST", "/api/v1/notify/sms/notices", body)
    if not answer.ok:
        return _notices(answer.status, values=values, preview=preview.body, errors=answer.errors(),
                        message=answer.message())  # fmt: skip
    return _notices(values={"notice_id": str(uuid.uuid4())}, delivered=answer.body, message=DONE["sent"])


# -- a consultation held offline, recorded afterwards (补录) --------------------------------------------

RECORDED_TOPICS = 3  # rows of the form; more topics: record it again or import the CSV


def _recorded(status: int = 200, **context):
    me = organiser()
    accepted = items(ask("GET", "/api/v1/intake/proposals",
                         query={"community": area(me), "status": ["accepted"], "limit": "50"}))  # fmt: skip
    context.setdefault("values", {})
    context.setdefault("errors", {})
    return show("console/recorded.html", status, code=area(me), accepted=accepted, organisations=organisations(),
                rows=range(RECORDED_TOPICS), **context)  # fmt: skip


@bp.get("/recorded")
def recorded_form():
    return _recorded()


@bp.post("/recorded")
def record():
    me = organiser()
    form = request.form
    values = form.to_dict()
    topics, resolutions = [], []
    for n in range(RECORDED_TOPICS):
        proposal, title = form.get(f"proposal_{n}", ""), form.get(f"topic_{n}", "").strip()
        if not (proposal or title):
            continue
        topic = {"proposal_id": proposal} if proposal else {"title": title, "origin": "top_down"}
        topics.append({**topic, "adopted": form.get(f"adopted_{n}") == "1"})
        if form.get(f"organisation_{n}"):
            resolutions.append({
                "topic_index": len(topics) - 1, "organisation_id": form.get(f"organisation_{n}"),
                "deadline": form.get(f"deadline_{n}", ""), "agreed": form.get(f"agreed_{n}", ""),
            })  # fmt: skip
    attendance = {}
    for category in LABELS["categories"]:
        count = form.get(f"attendance_{category}", "").strip()
        if count:
            attendance[category] = int(count) if count.isdigit() else count
    body = {
        "division_code": form.get("division_code", "").strip() or area(me), "title": form.get("title", "").strip(),
        "form": form.get("form", ""), "mode": form.get("mode", ""), "held_at": local_moment(form.get("held_at", "")),
        "venue": form.get("venue", "").strip() or None, "topics": topics, "attendance": attendance,
        "decision": form.get("decision", ""), "method": form.get("method", "consensus"),
        "minutes_url": form.get("minutes_url", "").strip(), "explanation": form.get("explanation", "").strip() or None,
        "resolutions": resolutions,
    }  # fmt: skip
    if body["held_at"] is None:
        return _recorded(422, values=values, errors={"held_at": "请填写举行时间"}, message="请填写举行时间")
    answer = ask("POST", "/api/v1/meetings/consultations/recorded", body)
    if not answer.ok:
        return _recorded(answer.status, values=values, errors=answer.errors(), message=answer.message())
    return redirect(f"/console/consultations/{answer.body['id']}?done=recorded", code=303)


@bp.app_template_filter("day")
def day(value) -> str:
    """A date (a deadline) as people read it."""
    if not value:
        return "—"
    found = datetime.fromisoformat(str(value)[:10])
    return f"{found.year}年{found.month}月{found.day}日"


@bp.app_template_filter("percent")
def percent(value) -> str:
    """A ratio of the API (0 to 1, or none when its denominator is zero) as a percentage."""
    return "—" if value is None else f"{float(value) * 100:.0f}%"


@bp.app_template_filter("local_input")
def local_input(value) -> str:
    """A stored UTC moment as a ``datetime-local`` input holds it: Beijing time, no zone."""
    if not value:
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(BEIJING).strftime("%Y-%m-%dT%H:%M:%S")


@bp.app_template_filter("fraction")
def fraction(value) -> str:
    """An exact share of the API ("2/3"; none without a denominator) as a percentage."""
    if value is None:
        return "—"
    return percent(float(Fraction(str(value))))
