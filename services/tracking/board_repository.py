"""The SQL of the public board (居务公开) and of the case library (典型案例): read models over tasks,
organisations, progress notes, ratings and consultations held, plus the two tables of
``models`` (the proposals' titles and categories, the featured cases)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from sqlalchemy import case, delete, exists, func, select
from sqlalchemy.orm import Session

from services.tracking import domain
from services.tracking.models import (
    case_proposals,
    divisions,
    featured_cases,
    held_consultations,
    organisations,
    progress_notes,
    ratings,
    task_history,
    tasks,
)
from shared.pagination import Keyset, page
from shared.sql import dialect_insert, mentions, within

OPEN = sorted(domain.OPEN)

# -- the board of one community ---------------------------------------------------------------------


def held_since(session: Session, community_code: str, since_month: int, limit: int) -> list:
    """The community's consultations held from ``since_month`` on (``domain.month_index``), newest first."""
    h = held_consultations.c
    query = (
        select(h.consultation_id, h.held_at, h.form, h.attendees, h.recorded_afterwards)
        .where(h.community_code == community_code, h.month >= since_month)
        .order_by(h.held_at.desc(), h.consultation_id)
        .limit(limit)
    )
    return list(session.execute(query).mappings())


def board_tasks(session: Session, community_code: str, since: datetime, limit: int) -> list:
    """The community's tasks still open, or assigned since ``since``: open ones first, then the
    newest; each with its organisation's name."""
    t = tasks.c
    still_open = t.status.in_(OPEN)
    query = (
        select(tasks, organisations.c.name.label("organisation_name"))
        .select_from(tasks.outerjoin(organisations, organisations.c.id == t.organisation_id))
        .where(t.community_code == community_code, still_open | (t.assigned_at >= since))
        .order_by(case((still_open, 0), else_=1), t.assigned_at.desc(), t.id)
        .limit(limit)
    )
    return list(session.execute(query).mappings())


def last_notes(session: Session, task_ids: list[str]) -> dict[str, dict]:
    """The latest progress note of each task (its time and text), by task."""
    if not task_ids:
        return {}
    p = progress_notes.c
    rank = func.row_number().over(partition_by=p.task_id, order_by=(p.at.desc(), p.id.desc())).label("rank")
    ranked = select(p.task_id, p.at, p.note, rank).where(p.task_id.in_(task_ids)).subquery()
    rows = session.execute(select(ranked.c.task_id, ranked.c.at, ranked.c.note).where(ranked.c.rank == 1))
    return {row.task_id: {"at": row.at, "note": row.note} for row in rows}


def rating_counts(session: Session, task_ids: Iterable[str]) -> dict[str, dict[str, int]]:
    """Ratings per task and choice (counts only: raters are never read here)."""
    task_ids = list(task_ids)
    if not task_ids:
        return {}
    r = ratings.c
    query = select(r.task_id, r.choice, func.count()).where(r.task_id.in_(task_ids)).group_by(r.task_id, r.choice)
    counts: dict[str, dict[str, int]] = {}
    for task_id, choice, count in session.execute(query):
        counts.setdefault(task_id, {})[choice] = count
    return counts


def noticed(session: Session, community_code: str, limit: int) -> list:
    """The community's tasks publicly noticed (通报), latest notice first, with their organisation."""
    t = tasks.c
    query = (
        select(tasks, organisations.c.name.label("organisation_name"))
        .select_from(tasks.outerjoin(organisations, organisations.c.id == t.organisation_id))
        .where(t.community_code == community_code, t.noticed_at.is_not(None))
        .order_by(t.noticed_at.desc(), t.id)
        .limit(limit)
    )
    return list(session.execute(query).mappings())


# -- an area's summary ------------------------------------------------------------------------------


def communities_in(session: Session, prefix: str) -> list[tuple[str, str]]:
    """(code, name) of the active communities within ``prefix``, by code."""
    d = divisions.c
    query = select(d.code, d.name).where(d.active.is_(True), d.level == "community", within(d.code, prefix))
    return [tuple(row) for row in session.execute(query.order_by(d.code))]


def held_counts(session: Session, prefix: str, since_month: int) -> dict[str, int]:
    """Consultations held per community within ``prefix`` from ``since_month`` on."""
    h = held_consultations.c
    query = (
        select(h.community_code, func.count())
        .where(within(h.community_code, prefix), h.month >= since_month)
        .group_by(h.community_code)
    )
    return dict(session.execute(query).all())


def open_counts(session: Session, prefix: str, today: date) -> dict[str, tuple[int, int]]:
    """(open, overdue) tasks per community within ``prefix``; overdue: open with the deadline
    before ``today`` (Beijing), as ``domain.due_at`` has it."""
    t = tasks.c
    overdue = func.sum(case((t.deadline < today, 1), else_=0))
    query = (
        select(t.community_code, func.count(), overdue)
        .where(within(t.community_code, prefix), t.status.in_(OPEN))
        .group_by(t.community_code)
    )
    return {code: (count, int(late or 0)) for code, count, late in session.execute(query)}


def ratings_by_community(session: Session, prefix: str, since: datetime) -> dict[str, dict[str, int]]:
    """Ratings given since ``since`` per community within ``prefix`` and choice."""
    r = ratings.c
    query = (
        select(r.community_code, r.choice, func.count())
        .where(within(r.community_code, prefix), r.at >= since)
        .group_by(r.community_code, r.choice)
    )
    counts: dict[str, dict[str, int]] = {}
    for code, choice, count in session.execute(query):
        counts.setdefault(code, {})[choice] = count
    return counts


# -- the case library --------------------------------------------------------------------------------


def _result():
    """The completion summary of a task: the reason of its latest history line to ``completed``."""
    h = task_history.c
    return (
        select(h.reason)
        .where(h.task_id == tasks.c.id, h.to_status == "completed")
        .order_by(h.at.desc(), h.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def _proposal_id():
    """The proposal a task carries out (a task carries one at most: a referral's, or the one behind
    a resolution's topic)."""
    return tasks.c.proposal_ids[0].as_string()


def _cases(scope: str, organisation_id: str | None, filters: dict):
    """Finished tasks (``statuses``) the caller may see, joined to what tells their story.

    Mirrors ``domain.visible_to``: a department sees its own organisation's tasks
    (``organisation_id``), everyone else those within its scope."""
    t, p, h, f = tasks.c, case_proposals.c, held_consultations.c, featured_cases.c
    visible = t.organisation_id == organisation_id if organisation_id is not None else within(t.community_code, scope)
    conditions = [t.status.in_(filters["statuses"]), visible]
    if filters.get("task_id"):
        conditions.append(t.id == filters["task_id"])
    if filters.get("community"):
        conditions.append(within(t.community_code, filters["community"]))
    if filters.get("category"):
        conditions.append(p.category == filters["category"])
    if filters.get("form"):
        conditions.append(h.form == filters["form"])
    if filters.get("featured") is not None:
        conditions.append(f.task_id.is_not(None) if filters["featured"] else f.task_id.is_(None))
    if filters.get("q"):
        q = filters["q"]
        story = exists().where(
            task_history.c.task_id == t.id,
            task_history.c.to_status == "completed",
            mentions(task_history.c.reason, q),
        )
        conditions.append(mentions(t.title, q) | mentions(t.agreed, q) | mentions(p.title, q) | story)
    joined = (
        tasks.outerjoin(organisations, organisations.c.id == t.organisation_id)
        .outerjoin(divisions, divisions.c.code == t.community_code)
        .outerjoin(case_proposals, p.proposal_id == _proposal_id())
        .outerjoin(held_consultations, h.consultation_id == t.consultation_id)
        .outerjoin(featured_cases, f.task_id == t.id)
    )
    return (
        select(
            tasks,
            organisations.c.name.label("organisation_name"),
            divisions.c.name.label("community_name"),
            p.title.label("proposal_title"),
            p.category.label("category"),
            h.form.label("form"),
            h.held_at.label("held_at"),
            _result().label("result"),
            f.featured_at.label("featured_at"),
        )
        .select_from(joined)
        .where(*conditions)
    )


CASE_ORDER = Keyset(tasks.c.evaluated_at, tasks.c.id, True)  # the latest evaluated first


def search_cases(session: Session, *, scope: str, organisation_id: str | None, filters: dict, limit: int,
                 cursor: str | None):  # fmt: skip
    """One page of cases (rows), the latest evaluated first; and the next page's cursor."""
    query = _cases(scope, organisation_id, filters)
    return page(session, query, CASE_ORDER, limit=limit, cursor=cursor, convert=dict)


def all_cases(session: Session, *, scope: str, organisation_id: str | None, filters: dict, limit: int) -> list[dict]:
    """Up to ``limit`` cases, the latest evaluated first (an export)."""
    query = _cases(scope, organisation_id, filters).order_by(*CASE_ORDER.order).limit(limit)
    return [dict(row) for row in session.execute(query).mappings()]


def feature(session: Session, task_id: str, actor_id: str, actor_role: str, now: datetime) -> None:
    """Mark a case featured (once: marking it again keeps the first marking)."""
    row = {"task_id": task_id, "featured_by": actor_id, "featured_role": actor_role, "featured_at": now}
    session.execute(dialect_insert(session)(featured_cases).values(**row).on_conflict_do_nothing())


def unfeature(session: Session, task_id: str) -> None:
    session.execute(delete(featured_cases).where(featured_cases.c.task_id == task_id))


# -- the replica of proposals -------------------------------------------------------------------------


def proposal_row(proposal_id: str, community_code: str, title: str, category: str, submitted_at: datetime) -> dict:
    return {
        "proposal_id": proposal_id,
        "community_code": community_code,
        "title": title[:200],
        "category": category[:64],
        "submitted_at": submitted_at,
    }
