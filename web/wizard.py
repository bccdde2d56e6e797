"""The consultation wizard of the worker's console (``/console/consultations``): the 2015 procedure
(中办发〔2015〕41号) as steps a worker cannot skip, each page saying what is still missing — topics
(accepted matters or the community's own), participants invited from the contact directory by
category with the mix the report asks for, materials, form and decision method fixed in advance,
the notice period as a date in Beijing time, then the announcement; on the day the attendance code
and a tablet-friendly sign-in list, rounds of opinions and their summaries; the decision by the
method fixed beforehand (or no consensus, a further consultation); the outcome with a resolution
for each adopted topic assigned to a registered organisation. Meetings enforces every rule; the
pages show where the consultation stands and the API's refusal when a step is refused."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from flask import Blueprint, redirect, request

from shared.clock import BEIJING
from web.console import area, done_message, local_moment, organisations, organiser, show
from web.pages import ask, beijing, items

bp = Blueprint("wizard", __name__, url_prefix="/console/consultations")

STEPS = {
    "topics": "确定议题",
    "participants": "邀请参会人",
    "arrangements": "材料、形式与决策方式",
    "notice": "提前公告",
    "session": "签到与议事",
    "decision": "表决与决定",
    "outcome": "公开结果与落实",
}
INPUT = "%Y-%m-%dT%H:%M:%S"  # a datetime-local input's value (Beijing time)
PREPARING = ("topics", "participants", "arrangements", "notice")
# The report's mix (problem 1, narrow participation): more than one kind of participant, people of
# working age and social organisations, not the same retirees every time.
MIX_CATEGORIES = 2
DONE = {
    "created": "草稿已保存,请按步骤完成准备", "topic": "议题已加入", "removed": "议题已移除", "invited": "已邀请",
    "revised": "安排已保存", "announced": "已发布公告,参会人已收到通知", "round": "意见征集轮次已安排",
    "summary": "轮次总结已发布", "started": "协商已开始", "decided": "已按事先确定的方式形成决定",
    "no_consensus": "已记录未达成共识,议题转入继续协商", "published": "结果已公开,决议已交办责任单位",
    "closed": "协商已结束", "cancelled": "协商已取消",
    "postponed": "已延期并重新公告,受邀人已收到通知", "recorded": "补录已保存,成果将形成任务",
    "checked_in": "已代为签到",
}  # fmt: skip
BEFORE = {"draft": 0, "announced": 1, "in_session": 2, "decided": 3, "no_consensus": 3, "outcome_published": 4,
          "closed": 5, "cancelled": -1}  # fmt: skip


def _current(c: dict, missing: set[str]) -> str:
    """The step a consultation is at: in draft the first one still missing something."""
    if c["status"] == "draft":
        order = {"topics": "topics", "participants": "participants", "materials": "arrangements", "notice": "notice"}
        return next((step for item, step in order.items() if item in missing), "notice")
    return {"announced": "session", "in_session": "decision"}.get(c["status"], "outcome")


def _state(c: dict, step: str, missing: set[str]) -> str:
    """done, current or todo, for the stepper: where the consultation stands (not the page shown)."""
    level = BEFORE[c["status"]]
    if step in PREPARING:
        if level >= 1 or c["recorded_afterwards"]:
            return "done"
        if step == "notice":
            return "todo"  # until announced
        item = {"arrangements": "materials"}.get(step, step)
        return "todo" if item in missing else "done"
    reached = {"session": 1, "decision": 2, "outcome": 3}[step]
    finished = {"session": 2, "decision": 3, "outcome": 4}[step]
    if c["recorded_afterwards"] or level >= finished:
        return "done"
    return "current" if level >= reached else "todo"


def _mix(participants: list) -> dict:
    """Who is invited by category, and what the report's mix still lacks."""
    by_category = Counter(p["category"] for p in participants)
    lacking = []
    if len(by_category) < MIX_CATEGORIES:
        lacking.append("参会人至少应有两类(如居民代表之外的党员、业委会、物业、驻区单位)")
    if "social_organisation" not in by_category:
        lacking.append("尚未邀请社会组织")
    if not any(c in by_category for c in ("stakeholder", "owners_committee", "property_management")):
        lacking.append("尚未邀请利益相关方(业主、商户、物业等)")
    return {"by_category": dict(by_category), "lacking": lacking}


def _contacts(division: str) -> dict:
    """The area's contacts of the directory by the person an invitation names: the account of an
    app user, or ``contact:<id>`` for a resident who takes part by SMS only (numbers masked)."""
    found = items(ask("GET", "/api/v1/notify/contacts", query={"community": division, "limit": "100"}))
    return {k["app_user_id"] or f"contact:{k['id']}": k for k in found}


def _render(consultation_id: str, step: str | None = None, status: int = 200, **context):
    me = organiser()
    found = ask("GET", f"/api/v1/meetings/consultations/{consultation_id}")
    if not found.ok:
        return show("error.html", found.status, message=found.message())
    c = found.body
    checklist = ask("GET", f"/api/v1/meetings/consultations/{consultation_id}/checklist")
    missing = {m["item"]: m["message"] for m in checklist.body.get("missing", [])} if checklist.ok else {}
    at = _current(c, set(missing))
    step = step if step in STEPS else at
    states = {key: _state(c, key, set(missing)) for key in STEPS}
    if states[at] != "done":
        states[at] = "current"
    steps = [{"key": key, "name": name, "state": states[key]} for key, name in STEPS.items()]
    notice_days = checklist.body.get("notice_days") if checklist.ok else None
    now = datetime.now(BEIJING)
    context = {
        "c": c, "step": step, "steps": steps, "missing": missing, "notice_days": notice_days,
        "earliest": beijing(now + timedelta(days=notice_days)) if notice_days is not None else None,
        "values": {}, "errors": {}, "message": done_message() or DONE.get(request.args.get("done", "")),
        **context,
    }  # fmt: skip
    participants = items(ask("GET", f"/api/v1/meetings/consultations/{consultation_id}/participants"))
    contacts = _contacts(c["division_code"])
    context.update(participants=participants, contacts=contacts, mix=_mix(participants))
    if step == "topics":
        query = {"community": area(me), "status": ["accepted"], "limit": "50"}
        context["accepted"] = items(ask("GET", "/api/v1/intake/proposals", query=query))
    if step in ("session", "decision"):
        code = ask("GET", f"/api/v1/meetings/consultations/{consultation_id}/attendance-code")
        context["code"] = code.body if code.ok else None
        deliberation = ask("GET", f"/api/v1/meetings/consultations/{consultation_id}/opinions")
        context["rounds"] = deliberation.body.get("rounds", []) if deliberation.ok else []
        context["opinions"] = items(deliberation)
        context["now"] = now.strftime(INPUT)
        context["starts"] = datetime.fromisoformat(c["starts_at"]).astimezone(BEIJING).strftime(INPUT)
    if step in ("decision", "outcome"):
        quality = ask("GET", f"/api/v1/meetings/consultations/{consultation_id}/quality")
        context["quality"] = quality.body if quality.ok else None
    if step == "outcome":
        context["organisations"] = organisations()
        context["tasks"] = [t for t in items(ask("GET", "/api/v1/tracking/tasks",
                                                  query={"community": c["division_code"], "limit": "100"}))
                            if t.get("consultation_id") == c["id"]]  # fmt: skip
    return show("console/consultation.html", status, **context)


def _step(consultation_id: str, action: str, body: dict | None, step: str, done: str, values: dict | None = None):
    """One step of the procedure through meetings' API: back to the wizard, or its refusal shown."""
    organiser()
    method = "PATCH" if action == "" else "POST"
    path = f"/api/v1/meetings/consultations/{consultation_id}" + (f"/{action}" if action else "")
    answer = ask(method, path, body)
    if not answer.ok:
        return _render(consultation_id, step, answer.status, message=answer.message(), errors=answer.errors(),
                       values=values or request.form.to_dict())  # fmt: skip
    return redirect(f"/console/consultations/{consultation_id}/{step}?done={done}", code=303)


# -- the list and a new draft ---------------------------------------------------------------------------


@bp.get("")
def consultations():
    me = organiser()
    found = items(ask("GET", "/api/v1/meetings/consultations", query={"division": area(me), "limit": "50"}))
    return show("console/consultations.html", consultations=found, values={}, errors={}, code=area(me),
                message=done_message())  # fmt: skip


def _arrangements(form) -> dict:
    """The form's arrangements as meetings takes them: times in Beijing time, materials one a line,
    the decision method (and its threshold and quorum) fixed now, before anyone deliberates."""
    rule = {"method": form.get("method", "consensus")}
    for name in ("threshold", "quorum"):
        if form.get(name, "").strip():
            rule[name] = form.get(name).strip()
    body = {
        "title": form.get("title", "").strip(), "form": form.get("form", ""), "mode": form.get("mode", ""),
        "starts_at": local_moment(form.get("starts_at", "")) or form.get("starts_at", ""),
        "venue": form.get("venue", "").strip() or None, "online_link": form.get("online_link", "").strip() or None,
        "materials": [line.strip() for line in form.get("materials", "").splitlines() if line.strip()],
        "rule": rule,
    }  # fmt: skip
    if form.get("ends_at", "").strip():
        body["ends_at"] = local_moment(form.get("ends_at")) or form.get("ends_at")
    return body


@bp.post("")
def create():
    me = organiser()
    body = {"division_code": request.form.get("division_code", "").strip() or area(me), **_arrangements(request.form)}
    answer = ask("POST", "/api/v1/meetings/consultations", body)
    if not answer.ok:
        found = items(ask("GET", "/api/v1/meetings/consultations", query={"division": area(me), "limit": "50"}))
        return show("console/consultations.html", answer.status, consultations=found, values=request.form.to_dict(),
                    errors=answer.errors(), code=area(me), message=answer.message())  # fmt: skip
    return redirect(f"/console/consultations/{answer.body['id']}?done=created", code=303)


# -- the wizard's pages ---------------------------------------------------------------------------------


@bp.get("/<consultation_id>")
def wizard(consultation_id: str):
    return _render(consultation_id)


@bp.get("/<consultation_id>/<step>")
def wizard_step(consultation_id: str, step: str):
    if step not in STEPS:
        return show("error.html", 404, message="页面不存在")
    return _render(consultation_id, step)


def _sign_in_page(consultation_id: str, status: int = 200, message: str | None = None):
    organiser()
    found = ask("GET", f"/api/v1/meetings/consultations/{consultation_id}")
    if not found.ok:
        return show("error.html", found.status, message=found.message())
    code = ask("GET", f"/api/v1/meetings/consultations/{consultation_id}/attendance-code")
    participants = items(ask("GET", f"/api/v1/meetings/consultations/{consultation_id}/participants"))
    c = found.body
    # Meetings refuses a tick outside the attendance code's window or online; the page offers none there.
    opens = code.body.get("sign_in_opens_at") if code.ok else None
    on_the_day = c["status"] == "in_session" or (
        c["status"] == "announced" and opens is not None and datetime.fromisoformat(opens) <= datetime.now(BEIJING)
    )
    return show("console/sign_in.html", status, c=c, code=code.body if code.ok else None,
                code_problem=None if code.ok else code.message(), participants=participants,
                contacts=_contacts(c["division_code"]),
                attended=sum(p["attended"] for p in participants),
                ticked=sum(bool(p.get("checked_in_by")) for p in participants),
                ticking=c["mode"] != "online" and on_the_day,
                message=message or DONE.get(request.args.get("done", "")))  # fmt: skip


@bp.get("/<consultation_id>/sign-in-list")
def sign_in_list(consultation_id: str):
    """The day's sign-in on a tablet at the door: the code large, who is invited and who is in
    (signed in on their own phone, or ticked in here by the worker)."""
    return _sign_in_page(consultation_id)


@bp.post("/<consultation_id>/check-in")
def check_in(consultation_id: str):
    """The worker ticks in one invited person without a phone of their own; back to the list, or
    meetings' refusal shown on it."""
    organiser()
    body = {"person_id": request.form.get("person_id", "")}
    answer = ask("POST", f"/api/v1/meetings/consultations/{consultation_id}/attendance", body)
    if not answer.ok:
        return _sign_in_page(consultation_id, answer.status, answer.message())
    return redirect(f"/console/consultations/{consultation_id}/sign-in-list?done=checked_in", code=303)


# -- preparing (确定议题和参与人、提前通报) ------------------------------------------------------------------


@bp.post("/<consultation_id>/topics")
def add_topic(consultation_id: str):
    proposal = request.form.get("proposal_id", "")
    body = {"proposal_id": proposal} if proposal else {"title": request.form.get("title", "").strip(),
                                                       "origin": "top_down"}  # fmt: skip
    return _step(consultation_id, "topics", body, "topics", "topic")


@bp.post("/<consultation_id>/topics/<topic_id>/remove")
def remove_topic(consultation_id: str, topic_id: str):
    organiser()
    answer = ask("DELETE", f"/api/v1/meetings/consultations/{consultation_id}/topics/{topic_id}")
    if not answer.ok:
        return _render(consultation_id, "topics", answer.status, message=answer.message())
    return redirect(f"/console/consultations/{consultation_id}/topics?done=removed", code=303)


@bp.post("/<consultation_id>/participants")
def invite(consultation_id: str):
    body = {"person_id": request.form.get("person_id", ""), "category": request.form.get("category", "")}
    return _step(consultation_id, "participants", body, "participants", "invited")


@bp.post("/<consultation_id>/arrangements")
def revise(consultation_id: str):
    return _step(consultation_id, "", _arrangements(request.form), "arrangements", "revised")


@bp.post("/<consultation_id>/announce")
def announce(consultation_id: str):
    return _step(consultation_id, "announce", None, "session", "announced")


@bp.post("/<consultation_id>/postpone")
def postpone(consultation_id: str):
    """A later start, announced again with the full notice period; everyone invited is told why."""
    starts = request.form.get("starts_at", "")
    body = {"starts_at": local_moment(starts) or starts, "reason": request.form.get("reason", "").strip()}
    return _step(consultation_id, "postpone", body, "notice", "postponed")


@bp.post("/<consultation_id>/cancel")
def cancel(consultation_id: str):
    return _step(consultation_id, "cancel", {"reason": request.form.get("reason", "").strip()}, "notice", "cancelled")


# -- the day (议事) ----------------------------------------------------------------------------------------


@bp.post("/<consultation_id>/rounds")
def open_round(consultation_id: str):
    body = {name: local_moment(request.form.get(name, "")) or request.form.get(name, "")
            for name in ("opens_at", "closes_at")}  # fmt: skip
    return _step(consultation_id, "rounds", body, "session", "round")


@bp.post("/<consultation_id>/rounds/<int:number>/summary")
def summarise(consultation_id: str, number: int):
    body = {"summary": request.form.get("summary", "").strip()}
    return _step(consultation_id, f"rounds/{number}/summary", body, "session", "summary")


@bp.post("/<consultation_id>/start")
def start(consultation_id: str):
    return _step(consultation_id, "start", None, "decision", "started")


# -- deciding (与会决事) and the outcome ---------------------------------------------------------------------


@bp.post("/<consultation_id>/decide")
def decide(consultation_id: str):
    return _step(consultation_id, "decide", None, "decision", "decided")


@bp.post("/<consultation_id>/no-consensus")
def no_consensus(consultation_id: str):
    body = {"reason": request.form.get("reason", "").strip()}
    return _step(consultation_id, "no-consensus", body, "decision", "no_consensus")


@bp.post("/<consultation_id>/publish")
def publish(consultation_id: str):
    form = request.form
    resolutions = [
        {"topic_id": topic_id, "organisation_id": form.get(f"organisation_{topic_id}", ""),
         "deadline": form.get(f"deadline_{topic_id}", ""), "agreed": form.get(f"agreed_{topic_id}", "").strip()}
        for topic_id in form.getlist("topic_id")
    ]  # fmt: skip
    body = {"minutes": form.get("minutes", "").strip(), "resolutions": resolutions,
            "explanation": form.get("explanation", "").strip() or None}  # fmt: skip
    return _step(consultation_id, "publish", body, "outcome", "published")


@bp.post("/<consultation_id>/close")
def close(consultation_id: str):
    return _step(consultation_id, "close", None, "outcome", "closed")
