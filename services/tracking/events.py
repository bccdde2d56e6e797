"""What tracking publishes: the registry, the organisations, and every step of a task. Payloads
carry ids and facts, never names or phone numbers of people."""

from __future__ import annotations

from services.tracking import domain
from shared.divisions import EVENT_TYPE as DIVISIONS_CHANGED
from shared.divisions import Division, change_batches
from shared.uow import UnitOfWork


def divisions_changed(uow: UnitOfWork, changed: list[Division]) -> None:
    """Replicate a registry change to every service, in parts small enough for one message each."""
    for payload in change_batches(changed):
        uow.emit(DIVISIONS_CHANGED, payload, division_code=None)


def organisations_changed(uow: UnitOfWork, changed: list[domain.Organisation]) -> None:
    for start in range(0, len(changed), 500):
        part = changed[start : start + 500]
        records = [{"id": o.id, "kind": o.kind, "name": o.name, "scope": o.scope, "active": o.active} for o in part]
        uow.emit("tracking.organisations.changed", {"organisations": records}, division_code=None)


def _emit(uow: UnitOfWork, verb: str, task: domain.Task, **payload) -> None:
    uow.emit(
        f"tracking.task.{verb}",
        {"task_id": task.id, "community_code": task.community_code, "proposal_ids": list(task.proposal_ids), **payload},
        division_code=task.community_code,
    )


def _for_organisation(uow: UnitOfWork, verb: str, task: domain.Task, **payload) -> None:
    _emit(uow, verb, task, department_id=task.organisation_id, title=task.title, **payload)


def task_assigned(uow: UnitOfWork, task: domain.Task) -> None:
    _for_organisation(uow, "assigned", task, due_at=domain.due_at(task.deadline))


def task_accepted(uow: UnitOfWork, task: domain.Task) -> None:
    _for_organisation(uow, "accepted", task, accepted_at=task.accepted_at, within_a_day=domain.responded(task))


def task_started(uow: UnitOfWork, task: domain.Task) -> None:
    _emit(uow, "started", task)


def task_progressed(uow: UnitOfWork, task: domain.Task) -> None:
    _emit(uow, "progressed", task, percent=task.progress)


def task_completed(uow: UnitOfWork, task: domain.Task) -> None:
    _emit(uow, "completed", task)


def rating_requested(uow: UnitOfWork, task: domain.Task, rater_ids: list[str]) -> None:
    uow.emit(
        "tracking.rating.requested",
        {
            "task_id": task.id,
            "community_code": task.community_code,
            "proposal_ids": list(task.proposal_ids),
            "consultation_id": task.consultation_id,
            "title": task.title,
            "rater_ids": rater_ids,
            "closes_at": task.rating_closes_at,
        },
        division_code=task.community_code,
    )


def task_extended(uow: UnitOfWork, task: domain.Task, *, approved: bool, days: int) -> None:
    _for_organisation(uow, "extended", task, approved=approved, days=days, due_at=domain.due_at(task.deadline))


def task_chased(uow: UnitOfWork, task: domain.Task, step: domain.Escalation) -> None:
    """催办 (reminded) or 督办/通报 (escalated, level 1 or 2)."""
    if step.step == "remind":
        _for_organisation(uow, "reminded", task, due_at=domain.due_at(task.deadline))
    else:
        _for_organisation(uow, "escalated", task, reason=step.reason, level=step.level)


def task_reopened(uow: UnitOfWork, task: domain.Task, reason: str) -> None:
    _for_organisation(uow, "reopened", task, reason=reason[:500], due_at=domain.due_at(task.deadline))


def task_evaluated(uow: UnitOfWork, task: domain.Task, ratings: list[domain.Rating]) -> None:
    satisfied = sum(r.choice in domain.SATISFIED for r in ratings)
    _emit(uow, "evaluated", task, ratings=len(ratings), satisfied=satisfied)


def task_closed(uow: UnitOfWork, task: domain.Task) -> None:
    _emit(uow, "closed", task)
