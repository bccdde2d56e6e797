"""Tracking's tables in and out (the adapter between the domain and SQL): the division registry,
organisations, tasks with their history, progress and ratings, stakeholders, consultations held."""

from __future__ import annotations

from dataclasses import asdict, fields
from datetime import date, datetime

from sqlalchemy import and_, case, func, insert, literal, or_, select, update
from sqlalchemy.orm import Session

from services.tracking import domain
from services.tracking.models import (
    COUNTERS,
    MIX,
    area_months,
    area_totals,
    community_coverage,
    divisions,
    held_consultations,
    organisation_members,
    organisations,
    progress_notes,
    ratings,
    stakeholders,
    task_history,
    tasks,
)
from shared import history as lifecycle_history
from shared.division_registry import division_from_row, upsert
from shared.divisions import Division
from shared.lifecycle import Transition
from shared.pagination import Keyset, page
from shared.sql import dialect_insert, locked, within

LIST_LIMIT = 1000

# -- the division registry ------------------------------------------------------------------------------


def active_divisions(session: Session, *, scope: str, parent: str | None) -> list[Division]:
    """Active divisions within ``scope`` (``domain.division_visible`` without the areas above the
    scope, which a list under a parent never needs), under ``parent`` if given, by code."""
    d = divisions.c
    query = select(divisions).where(d.active.is_(True), within(d.code, scope)).order_by(d.code).limit(LIST_LIMIT)
    if parent:
        query = query.where(d.parent_code == parent)
    return [division_from_row(row) for row in session.execute(query).mappings()]


def stored(session: Session, codes: list[str]) -> dict[str, Division]:
    """The registry's current entries of ``codes``, by code."""
    found: dict[str, Division] = {}
    for start in range(0, len(codes), 500):
        query = select(divisions).where(divisions.c.code.in_(codes[start : start + 500]))
        found.update((row["code"], division_from_row(row)) for row in session.execute(query).mappings())
    return found


def store(session: Session, changed: list[Division]) -> None:
    upsert(session, divisions, changed)


def communities(session: Session, scope: str) -> list[str]:
    """Codes of the active communities within ``scope``: the denominator of coverage."""
    d = divisions.c
    query = select(d.code).where(d.active.is_(True), d.level == "community", within(d.code, scope))
    return list(session.scalars(query))


def division_names(session: Session, codes: list[str]) -> dict[str, str]:
    if not codes:
        return {}
    return dict(session.execute(select(divisions.c.code, divisions.c.name).where(divisions.c.code.in_(codes))).all())


# -- organisations -----------------------------------------------------------------------------------


def _organisation(row) -> domain.Organisation:
    return domain.Organisation(row["id"], row["kind"], row["name"], row["scope"], row["active"])


def get_organisation(session: Session, organisation_id: str) -> domain.Organisation | None:
    row = session.execute(select(organisations).where(organisations.c.id == organisation_id)).mappings().first()
    return _organisation(row) if row else None


def save_organisations(session: Session, found: list[domain.Organisation], now: datetime) -> list[domain.Organisation]:
    """Register or change organisations; returns those new or changed (one registered again as it
    is stays untouched). The upsert is the check: the same registration sent twice at once changes
    the row once, the second waiting for the first's row lock and finding nothing to change."""
    if not found:
        return []
    insert_ = dialect_insert(session)
    stmt = insert_(organisations).values([{**asdict(o), "updated_at": now} for o in found])
    described = ("kind", "name", "scope", "active")
    stmt = stmt.on_conflict_do_update(
        index_elements=["id"],
        set_={c: stmt.excluded[c] for c in (*described, "updated_at")},
        where=or_(*(organisations.c[c].is_distinct_from(stmt.excluded[c]) for c in described)),
    )
    saved = set(session.scalars(stmt.returning(organisations.c.id)))
    return [o for o in found if o.id in saved]


def all_organisations(session: Session) -> list[domain.Organisation]:
    return [
        _organisation(row) for row in session.execute(select(organisations).order_by(organisations.c.id)).mappings()
    ]


def list_organisations(session: Session, scope: str, kind: str | None) -> list[domain.Organisation]:
    """Organisations serving the caller's area: inside its scope or serving an area that contains
    it (``domain.organisation_visible``)."""
    o = organisations.c
    query = select(organisations).where(or_(within(o.scope, scope), literal(scope).startswith(o.scope)))
    if kind:
        query = query.where(o.kind == kind)
    query = query.order_by(o.scope, o.name).limit(LIST_LIMIT)
    return [_organisation(row) for row in session.execute(query).mappings()]


def member_of(session: Session, account_id: str) -> str | None:
    m = organisation_members.c
    return session.scalar(select(m.organisation_id).where(m.account_id == account_id))


def set_member(session: Session, account_id: str, organisation_id: str, now: datetime) -> None:
    insert_ = dialect_insert(session)
    stmt = insert_(organisation_members).values(account_id=account_id, organisation_id=organisation_id, added_at=now)
    session.execute(
        stmt.on_conflict_do_update(index_elements=["account_id"], set_={"organisation_id": organisation_id})
    )


# -- tasks -------------------------------------------------------------------------------------------

_TASK_COLUMNS = [f.name for f in fields(domain.Task)]


def _task(row) -> domain.Task:
    values = {name: row[name] for name in _TASK_COLUMNS}
    values["proposal_ids"] = tuple(values["proposal_ids"] or ())
    return domain.Task(**values)


def _row(task: domain.Task) -> dict:
    values = asdict(task)
    values["proposal_ids"] = list(task.proposal_ids)
    return values


def task_of_source(session: Session, source_id: str) -> domain.Task | None:
    row = session.execute(select(tasks).where(tasks.c.source_id == source_id)).mappings().first()
    return _task(row) if row else None


def get_task(session: Session, task_id: str, *, for_update: bool = False) -> domain.Task | None:
    query = select(tasks).where(tasks.c.id == task_id)
    if for_update:
        query = locked(session, query)  # steps on one task queue up, never interleave
    row = session.execute(query).mappings().first()
    return _task(row) if row else None


def add_task(session: Session, task: domain.Task) -> None:
    session.execute(insert(tasks).values(**_row(task)))


def save_task(session: Session, task: domain.Task) -> None:
    values = _row(task)
    session.execute(update(tasks).where(tasks.c.id == values.pop("id")).values(**values))


def record(session: Session, *transitions: Transition | None) -> None:
    lifecycle_history.record(session, task_history, *(t for t in transitions if t is not None))


def history(session: Session, task_id: str) -> list[dict]:
    return lifecycle_history.history(session, task_history, task_id)


SORTS = {
    "-assigned_at": (tasks.c.assigned_at, True),
    "assigned_at": (tasks.c.assigned_at, False),
    "deadline": (tasks.c.deadline, False),
}


def search_tasks(session: Session, *, scope: str, organisation_id: str | None, filters: dict, sort: str, limit: int,
                 cursor: str | None, today: date):  # fmt: skip
    """One page of tasks in ``scope`` (or, for a department, of its own organisation:
    ``domain.visible_to``), filtered by community, status, organisation and overdue."""
    t = tasks.c
    conditions = (
        [t.organisation_id == organisation_id] if organisation_id is not None else [within(t.community_code, scope)]
    )
    if filters.get("community"):
        conditions.append(within(t.community_code, filters["community"]))
    if filters.get("status"):
        conditions.append(t.status.in_(filters["status"]))
    if filters.get("organisation"):
        conditions.append(t.organisation_id == filters["organisation"])
    if filters.get("overdue"):
        conditions += [t.status.in_(sorted(domain.OPEN)), t.deadline < today]
    column, descending = SORTS[sort]
    query = select(tasks).where(*conditions)
    return page(session, query, Keyset(column, t.id, descending), limit=limit, cursor=cursor, convert=_task)


def claim_open_due(session: Session, horizon: date, limit: int) -> list[domain.Task]:
    """Open tasks whose deadline is before ``horizon`` (reminders look a few days ahead), locked so
    that of several replicas' clocks each task is handled by one (SKIP LOCKED)."""
    t = tasks.c
    query = select(tasks).where(t.status.in_(sorted(domain.OPEN)), t.deadline < horizon).order_by(t.deadline, t.id)
    rows = session.execute(locked(session, query.limit(limit), skip_locked=True)).mappings()
    return [_task(row) for row in rows]


def claim_rating_closed(session: Session, now: datetime, limit: int) -> list[domain.Task]:
    t = tasks.c
    query = select(tasks).where(t.status == "completed", t.rating_closes_at <= now).order_by(t.rating_closes_at, t.id)
    rows = session.execute(locked(session, query.limit(limit), skip_locked=True)).mappings()
    return [_task(row) for row in rows]


def tasks_assigned(session: Session, scope: str, since: datetime, until: datetime) -> list[domain.Task]:
    t = tasks.c
    query = select(tasks).where(within(t.community_code, scope), t.assigned_at >= since, t.assigned_at < until)
    return [_task(row) for row in session.execute(query).mappings()]


def open_tasks_by_area(session: Session, digits: int, today: date) -> dict[str, tuple[int, int]]:
    t = tasks.c
    area = func.substr(t.community_code, 1, digits)
    overdue = func.sum(case((t.deadline < today, 1), else_=0))
    query = select(area, func.count(), overdue).where(t.status.in_(sorted(domain.OPEN))).group_by(area)
    return {row[0]: (int(row[1]), int(row[2] or 0)) for row in session.execute(query)}


def rates_by_area(session: Session, digits: int, since: datetime, until: datetime,
                  scope: str = "") -> dict[str, domain.Rates]:  # fmt: skip
    """The counts of the 三率 (``domain.rates``: response, resolution, satisfaction; not the on-time
    rate) by area of ``digits`` within ``scope``, over the tasks assigned and the ratings given in
    [since, until), counted in the database (one row per area)."""
    t, r = tasks.c, ratings.c
    if session.get_bind().dialect.name == "sqlite":  # no interval arithmetic: Julian days
        waited = (func.julianday(t.accepted_at) - func.julianday(t.assigned_at)) * 86400
        within_day = waited <= domain.ACCEPT_WITHIN.total_seconds()
    else:
        within_day = t.accepted_at - t.assigned_at <= domain.ACCEPT_WITHIN
    area = func.substr(t.community_code, 1, digits)
    responded = func.sum(case((and_(t.accepted_at.is_not(None), within_day), 1), else_=0))
    resolved = func.sum(case((t.status.in_(("evaluated", "closed")), 1), else_=0))
    query = (
        select(area, func.count(), responded, resolved)
        .where(within(t.community_code, scope), t.assigned_at >= since, t.assigned_at < until)
        .group_by(area)
    )
    counts = {row[0]: [int(row[1]), int(row[2] or 0), int(row[3] or 0), 0, 0] for row in session.execute(query)}
    rated_area = func.substr(r.community_code, 1, digits)
    satisfied = func.sum(case((r.choice.in_(sorted(domain.SATISFIED)), 1), else_=0))
    in_period = and_(within(r.community_code, scope), r.at >= since, r.at < until)
    query = select(rated_area, func.count(), satisfied).where(in_period).group_by(rated_area)
    for row in session.execute(query):
        counts.setdefault(row[0], [0, 0, 0, 0, 0])[3:] = [int(row[1]), int(row[2] or 0)]
    return {
        code: domain.Rates(assigned=a, responded=re, resolved=so, due=0, on_time=0, ratings=n, satisfied=sa)
        for code, (a, re, so, n, sa) in counts.items()
    }


def noticed_tasks(session: Session, community_code: str, limit: int = 50) -> list[domain.Task]:
    t = tasks.c
    query = select(tasks).where(t.community_code == community_code, t.noticed_at.is_not(None))
    return [_task(row) for row in session.execute(query.order_by(t.noticed_at.desc()).limit(limit)).mappings()]


def community_tasks(session: Session, community_code: str, limit: int = 100) -> list[domain.Task]:
    t = tasks.c
    query = select(tasks).where(t.community_code == community_code).order_by(t.assigned_at.desc()).limit(limit)
    return [_task(row) for row in session.execute(query).mappings()]


# -- progress and ratings ------------------------------------------------------------------------------


def add_note(session: Session, note: domain.ProgressNote) -> None:
    session.execute(insert(progress_notes).values(**{**asdict(note), "evidence": list(note.evidence)}))


def notes(session: Session, task_id: str) -> list[domain.ProgressNote]:
    p = progress_notes.c
    rows = session.execute(select(progress_notes).where(p.task_id == task_id).order_by(p.at, p.id)).mappings()
    return [domain.ProgressNote(**{**row, "evidence": tuple(row["evidence"])}) for row in rows]


def _rating(row) -> domain.Rating:
    return domain.Rating(row["task_id"], row["rater_id"], row["choice"], row["comment"], row["at"], row["channel"])


def has_rated(session: Session, task_id: str, rater_id: str) -> bool:
    r = ratings.c
    return session.scalar(select(func.count()).where(r.task_id == task_id, r.rater_id == rater_id)) > 0


def add_rating(session: Session, rating: domain.Rating, community_code: str) -> None:
    session.execute(insert(ratings).values(**asdict(rating), community_code=community_code))


def task_ratings(session: Session, task_id: str) -> list[domain.Rating]:
    return [_rating(row) for row in session.execute(select(ratings).where(ratings.c.task_id == task_id)).mappings()]


def ratings_given(session: Session, scope: str, since: datetime, until: datetime) -> list[domain.Rating]:
    r = ratings.c
    query = select(ratings).where(within(r.community_code, scope), r.at >= since, r.at < until)
    return [_rating(row) for row in session.execute(query).mappings()]


# -- stakeholders: who may rate ---------------------------------------------------------------------


def stakeholder_rows(subject: str, subject_id: str, people) -> list[dict]:
    return [{"subject": subject, "subject_id": subject_id, "person_id": p} for p in people if p]


def remove_stakeholder(session: Session, subject: str, subject_id: str, person_id: str) -> None:
    s = stakeholders.c
    session.execute(
        stakeholders.delete().where(s.subject == subject, s.subject_id == subject_id, s.person_id == person_id)
    )


def _concerned(task: domain.Task):
    s = stakeholders.c
    by_proposal = and_(s.subject == "proposal", s.subject_id.in_(list(task.proposal_ids) or [""]))
    by_consultation = and_(s.subject == "consultation", s.subject_id == (task.consultation_id or ""))
    return or_(by_proposal, by_consultation)


def is_stakeholder(session: Session, task: domain.Task, person_id: str) -> bool:
    s = stakeholders.c
    return session.scalar(select(func.count()).where(_concerned(task), s.person_id == person_id)) > 0


def stakeholders_of(session: Session, task: domain.Task) -> list[str]:
    s = stakeholders.c
    return sorted(set(session.scalars(select(s.person_id).where(_concerned(task)))))


# -- consultations held and the coverage aggregates --------------------------------------------------

AREA_DIGITS = (2, 4, 6, 9, 12)  # province, city, district, street, community
_COUNTS = COUNTERS


def areas_of(community_code: str) -> list[str]:
    return [community_code[:n] for n in AREA_DIGITS]


def add_held(session: Session, record: dict) -> bool:
    """Store a consultation held; False when it was stored before (a redelivered event)."""
    stmt = dialect_insert(session)(held_consultations).values(**record).on_conflict_do_nothing()
    stmt = stmt.returning(held_consultations.c.consultation_id)
    return session.execute(stmt).first() is not None


def held_before_in_month(session: Session, community_code: str, month: int, consultation_id: str) -> bool:
    h = held_consultations.c
    query = select(func.count()).where(
        h.community_code == community_code, h.month == month, h.consultation_id != consultation_id
    )
    return session.scalar(query) > 0


def coverage_of(session: Session, community_code: str) -> tuple[int, int] | None:
    """(first month, latest month) of the community's consultations, locked until commit."""
    c = community_coverage.c
    query = locked(session, select(c.first_month, c.last_month).where(c.community_code == community_code))
    row = session.execute(query).first()
    return (row.first_month, row.last_month) if row else None


def set_coverage(session: Session, community_code: str, first: int, last: int) -> None:
    stmt = dialect_insert(session)(community_coverage).values(
        community_code=community_code, first_month=first, last_month=last
    )
    session.execute(stmt.on_conflict_do_update(index_elements=["community_code"],
                                               set_={"first_month": first, "last_month": last}))  # fmt: skip


def bump(session: Session, community_code: str, month: int, **increments: int) -> None:
    """Add ``increments`` to the (area, month) counters of every area the community lies in."""
    rows = [
        {"area": area, "month": month, "digits": len(area), **dict.fromkeys(_COUNTS, 0), **increments}
        for area in areas_of(community_code)
    ]
    stmt = dialect_insert(session)(area_months).values(rows)
    changed = {name: area_months.c[name] + stmt.excluded[name] for name in increments}
    session.execute(stmt.on_conflict_do_update(index_elements=["area", "month"], set_=changed))


def recount_totals(session: Session) -> None:
    """Active communities per area, from the registry (after it was loaded)."""
    d = divisions.c
    session.execute(area_totals.delete())
    for digits in AREA_DIGITS:
        area = func.substr(d.code, 1, digits)
        counted = select(area, literal(digits), func.count()).where(d.active.is_(True), d.level == "community")
        session.execute(insert(area_totals).from_select(["area", "digits", "communities"], counted.group_by(area)))


def area_communities(session: Session, scope: str, digits: int) -> dict[str, int]:
    """Active communities of each area of ``digits`` within ``scope``."""
    t = area_totals.c
    return dict(session.execute(select(t.area, t.communities).where(t.digits == digits, within(t.area, scope))).all())


def covered_in_period(session: Session, scope: str, digits: int, first_month: int, last_month: int) -> dict:
    """By area of ``digits`` within ``scope``: (communities with a consultation held in the months
    ``first_month``..``last_month``, consultations held then). Counted from the consultations (a
    distinct count over a chosen period has no running aggregate): meant for a city or smaller."""
    h = held_consultations.c
    area = func.substr(h.community_code, 1, digits)
    query = (
        select(area, func.count(h.community_code.distinct()), func.count())
        .where(
            within(h.community_code, scope),
            func.length(h.community_code) == 12,
            h.month.between(first_month, last_month),
        )
        .group_by(area)
    )
    return {row[0]: (int(row[1]), int(row[2])) for row in session.execute(query)}


def rebuild_coverage(session: Session) -> None:
    """The aggregates again from the consultations held, in bulk (a repair, or a first load of
    history): what ``services.held`` keeps up one consultation at a time."""
    h, c = held_consultations.c, community_coverage.c
    session.execute(area_months.delete())
    session.execute(community_coverage.delete())
    communities_only = func.length(h.community_code) == 12
    spans = select(h.community_code, func.min(h.month), func.max(h.month)).where(communities_only)
    session.execute(
        insert(community_coverage).from_select(
            ["community_code", "first_month", "last_month"], spans.group_by(h.community_code)
        )
    )
    insert_ = dialect_insert(session)
    columns = ["area", "month", "digits", *_COUNTS]
    for digits in AREA_DIGITS:
        area = func.substr(h.community_code, 1, digits)
        with_social = func.sum(case((h.social_organisations > 0, 1), else_=0))
        per_month = select(
            area, h.month, literal(digits), func.count(), func.count(h.community_code.distinct()),
            func.sum(h.topics), func.sum(h.resident_topics), literal(0), literal(0),
            *(func.sum(h[name]) for name in MIX), with_social,
        ).where(communities_only).group_by(area, h.month)  # fmt: skip
        session.execute(insert(area_months).from_select(columns, per_month))
        for month, counter in ((c.first_month, "newly_covered"), (c.last_month, "last_held")):
            coverage_area = func.substr(c.community_code, 1, digits)
            counts = [func.count() if name == counter else literal(0) for name in _COUNTS]
            spans_by_area = select(coverage_area, month, literal(digits), *counts).where(c.community_code != "")
            stmt = insert_(area_months).from_select(columns, spans_by_area.group_by(coverage_area, month))
            session.execute(stmt.on_conflict_do_update(index_elements=["area", "month"],
                                                       set_={counter: stmt.excluded[counter]}))  # fmt: skip


def _sum_since(column, month_column, since: int):
    return func.coalesce(func.sum(case((month_column >= since, column), else_=0)), 0)


def area_figures(session: Session, *, scope: str, digits: int, window_start: int, recent_start: int,
                 silent_start: int) -> dict[str, dict]:  # fmt: skip
    """By area of ``digits`` within ``scope``: communities, those with a consultation since
    ``window_start`` (their latest is then), months with one summed over communities, topics,
    communities first covered since ``recent_start``, and those with one since ``silent_start``."""
    a = area_months.c
    figures = {area: {"communities": count} for area, count in area_communities(session, scope, digits).items()}
    since = min(window_start, recent_start, silent_start)
    query = (
        select(
            a.area,
            _sum_since(a.last_held, a.month, window_start).label("covered"),
            _sum_since(a.communities, a.month, window_start).label("months_with_consultation"),
            _sum_since(a.topics, a.month, window_start).label("topics"),
            _sum_since(a.resident_topics, a.month, window_start).label("resident_topics"),
            _sum_since(a.newly_covered, a.month, recent_start).label("newly_covered_recently"),
            _sum_since(a.last_held, a.month, silent_start).label("recently_held"),
            _sum_since(a.consultations, a.month, window_start).label("consultations"),
            _sum_since(a.with_social_organisations, a.month, window_start).label("with_social_organisations"),
            *(_sum_since(a[name], a.month, window_start).label(name) for name in MIX),
        )
        .where(a.digits == digits, within(a.area, scope), a.month >= since)
        .group_by(a.area)
    )
    for row in session.execute(query).mappings():
        figures.setdefault(row["area"], {"communities": 0}).update({k: int(v) for k, v in row.items() if k != "area"})
    return figures


def silent_communities(session: Session, scope: str, silent_start: int, limit: int) -> list[str]:
    """Active communities within ``scope`` without a consultation since ``silent_start``."""
    d, c = divisions.c, community_coverage.c
    query = (
        select(d.code)
        .select_from(divisions.outerjoin(community_coverage, c.community_code == d.code))
        .where(
            d.active.is_(True),
            d.level == "community",
            within(d.code, scope),
            or_(c.last_month.is_(None), c.last_month < silent_start),
        )
        .order_by(d.code)
        .limit(limit)
    )
    return list(session.scalars(query))


def last_held(session: Session, community_code: str, limit: int = 20) -> list:
    h = held_consultations.c
    query = select(held_consultations).where(h.community_code == community_code).order_by(h.held_at.desc())
    return list(session.execute(query.limit(limit)).mappings())
