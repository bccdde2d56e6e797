"""The department's view (``/department``): the tasks of the organisation the account acts for —
resolutions of published outcomes and matters referred to it — with their deadlines counted in
working days; 签收, progress notes with evidence links, completion (the residents concerned are
then asked to rate it) and a request for more time with its reason. Tracking decides what an
organisation's account may do to which task."""

from __future__ import annotations

from flask import Blueprint, abort, make_response, redirect, request

from web.pages import ask, items, page, signed_in

bp = Blueprint("department", __name__, url_prefix="/department")

OPEN = ("assigned", "accepted", "in_progress", "reopened")
DONE = {"accepted": "已签收,请按期办理", "progress": "进展已记录", "completed": "已办结,已请相关居民评价",
        "extension": "延期申请已提交,等待街道或区县审批"}  # fmt: skip


def member() -> dict:
    me = signed_in()
    if me["role"] != "department":
        abort(make_response(page("error.html", 403, message="此页面供责任单位(职能部门、物业等)使用")))
    return me


@bp.get("")
def tasks():
    member()
    found = items(ask("GET", "/api/v1/tracking/tasks", query={"sort": "deadline", "limit": "100"}))
    return page("department/tasks.html", open=[t for t in found if t["status"] in OPEN],
                finished=[t for t in found if t["status"] not in OPEN])  # fmt: skip


def _task(task_id: str, status: int = 200, **context):
    found = ask("GET", f"/api/v1/tracking/tasks/{task_id}")
    if not found.ok:
        return page("error.html", found.status, message=found.message())
    context.setdefault("errors", {})
    context.setdefault("values", {})
    context.setdefault("message", DONE.get(request.args.get("done", "")))
    return page("department/task.html", status, t=found.body,
                history=items(ask("GET", f"/api/v1/tracking/tasks/{task_id}/history")),
                progress=items(ask("GET", f"/api/v1/tracking/tasks/{task_id}/progress")), **context)  # fmt: skip


@bp.get("/tasks/<task_id>")
def task(task_id: str):
    member()
    return _task(task_id)


def _act(task_id: str, action: str, body: dict | None, done: str):
    member()
    answer = ask("POST", f"/api/v1/tracking/tasks/{task_id}/{action}", body)
    if not answer.ok:
        errors = {f"{action}-{name}": text for name, text in answer.errors().items()}
        return _task(task_id, answer.status, errors=errors, values=request.form.to_dict(), message=answer.message())
    return redirect(f"/department/tasks/{task_id}?done={done}", code=303)


@bp.post("/tasks/<task_id>/accept")
def accept(task_id: str):
    return _act(task_id, "accept", None, "accepted")


@bp.post("/tasks/<task_id>/progress")
def progress(task_id: str):
    percent = request.form.get("percent", "").strip()
    evidence = [line.strip() for line in request.form.get("evidence", "").splitlines() if line.strip()]
    body = {"percent": int(percent) if percent.isdigit() else percent, "note": request.form.get("note", "").strip(),
            "evidence": evidence}  # fmt: skip
    return _act(task_id, "progress", body, "progress")


@bp.post("/tasks/<task_id>/complete")
def complete(task_id: str):
    return _act(task_id, "complete", {"summary": request.form.get("summary", "").strip()}, "completed")


@bp.post("/tasks/<task_id>/extension")
def extension(task_id: str):
    days = request.form.get("days", "").strip()
    body = {"days": int(days) if days.isdigit() else days, "reason": request.form.get("reason", "").strip()}
    return _act(task_id, "extension", body, "extension")
