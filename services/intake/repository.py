"""Proposals in and out of intake's tables (the adapter between the domain and SQL), and the
look-ups in the replica of tracking's organisations (``shared.organisation_registry``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields
from datetime import datetime

from sqlalchemy import delete, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session

from services.intake.domain import NOT_SUGGESTED, WITHHELD_STATUSES, Proposal
from services.intake.models import (
    categories,
    community_settings,
    duplicates,
    organisations,
    proposal_history,
    proposals,
    supports,
)
from shared import history as lifecycle_history
from shared import organisation_registry, reference_cache
from shared.lifecycle import Transition
from shared.organisations import Organisation
from shared.pagination import Keyset, page
from shared.records import fields_of
from shared.sql import locked, mentions, within

_COLUMNS = [f.name for f in fields(Proposal)]


def _proposal(row) -> Proposal:
    return Proposal(**{name: row[name] for name in _COLUMNS})


def get(session: Session, proposal_id: str, *, for_update: bool = False) -> Proposal | None:
    """One proposal; ``for_update`` locks it, so co-signs and triage of one proposal queue up."""
    query = select(proposals).where(proposals.c.id == proposal_id)
    if for_update:
        query = locked(session, query)
    row = session.execute(query).mappings().first()
    return _proposal(row) if row else None


def get_many(session: Session, proposal_ids: list[str], *, scope: str) -> dict[str, Proposal]:
    """The proposals among ``proposal_ids`` that lie within ``scope``, by id."""
    if not proposal_ids:
        return {}
    query = select(proposals).where(proposals.c.id.in_(proposal_ids), within(proposals.c.community_code, scope))
    return {row["id"]: _proposal(row) for row in session.execute(query).mappings()}


def get_all(session: Session, proposal_ids: list[str]) -> list[Proposal]:
    """The proposals among ``proposal_ids`` that exist, in id order (the platform's own look-ups)."""
    if not proposal_ids:
        return []
    query = select(proposals).where(proposals.c.id.in_(proposal_ids)).order_by(proposals.c.id)
    return [_proposal(row) for row in session.execute(query).mappings()]


def unindexed(session: Session, community_code: str, *, since: datetime, limit: int) -> list[Proposal]:
    """Those of the community's newest ``limit`` proposals submitted since ``since`` that the duplicate
    index does not know yet and that ``domain.NOT_SUGGESTED`` does not rule out, newest first. The
    newest are the ones intake's worker has not come to; bounding the scan by ``limit`` keeps a look-up
    cheap after a burst of thousands (the (community, submitted_at) index, then the index's unique
    proposal id for each)."""
    p, known = proposals.c, duplicates.features.c
    newest = (
        select(p.id)
        .where(p.community_code == community_code, p.submitted_at >= since)
        .order_by(p.submitted_at.desc())
        .limit(limit)
        .subquery()
    )
    query = (
        select(proposals)
        .join(newest, newest.c.id == p.id)
        .where(p.status.not_in(sorted(NOT_SUGGESTED)), ~exists().where(known.proposal_id == p.id))
        .order_by(p.submitted_at.desc(), p.id)
    )
    return [_proposal(row) for row in session.execute(query).mappings()]


def add(session: Session, proposal: Proposal) -> None:
    session.execute(insert(proposals), fields_of(proposal))  # the parameters bound, no statement built per row


def summaries(session: Session, proposal_ids: list[str]) -> dict[str, dict]:
    """id, title and status of the given proposals, by id."""
    if not proposal_ids:
        return {}
    p = proposals.c
    rows = session.execute(select(p.id, p.title, p.status).where(p.id.in_(proposal_ids))).mappings()
    return {row["id"]: dict(row) for row in rows}


def save(session: Session, proposal: Proposal) -> None:
    values = fields_of(proposal)
    session.execute(update(proposals).where(proposals.c.id == values.pop("id")).values(**values))


def record(session: Session, *transitions: Transition) -> None:
    """Add lines to proposals' histories."""
    lifecycle_history.record(session, proposal_history, *transitions)


def history(session: Session, proposal_id: str) -> list[dict]:
    """Every line of a proposal's history, oldest first."""
    return lifecycle_history.history(session, proposal_history, proposal_id)


# -- the replica of tracking's organisations -----------------------------------------------------------


def get_organisation(session: Session, organisation_id: str) -> Organisation | None:
    return organisation_registry.get(session, organisations, organisation_id)


def organisation_names(session: Session, organisation_ids: Iterable[str]) -> dict[str, str]:
    """The names of those of ``organisation_ids`` the replica knows (retired ones too), by id."""
    return organisation_registry.names(session, organisations, organisation_ids)


# -- categories and community settings --------------------------------------------------------------


def active_categories(session: Session) -> dict[str, str]:
    """The categories a matter can be filed under, as the process read them within
    ``shared.reference_cache.REFERENCE_SECONDS``."""
    return dict(reference_cache.cached(session, "categories", lambda: _active_categories(session)) or ())


def _active_categories(session: Session) -> tuple | None:
    rows = session.execute(select(categories.c.code, categories.c.name).where(categories.c.active.is_(True))).all()
    return tuple(rows) or None  # none at all is not kept: the first one added is seen at once


def category_names(session: Session) -> dict[str, str]:
    """Every category's name by code, retired ones too (old matters are filed under them)."""
    return dict(session.execute(select(categories.c.code, categories.c.name)).all())


def upsert_category(session: Session, code: str, name: str, active: bool) -> None:
    reference_cache.changed(session)
    if session.scalar(select(func.count()).select_from(categories).where(categories.c.code == code)):
        session.execute(update(categories).where(categories.c.code == code).values(name=name, active=active))
    else:
        session.execute(insert(categories).values(code=code, name=name, active=active))


def support_threshold(session: Session, community_code: str, default: int) -> int:
    found = session.scalar(
        select(community_settings.c.support_threshold).where(community_settings.c.community_code == community_code)
    )
    return found if found is not None else default


def set_support_threshold(session: Session, community_code: str, threshold: int) -> None:
    c = community_settings.c
    if session.scalar(select(func.count()).select_from(community_settings).where(c.community_code == community_code)):
        session.execute(
            update(community_settings).where(c.community_code == community_code).values(support_threshold=threshold)
        )
    else:
        session.execute(insert(community_settings).values(community_code=community_code, support_threshold=threshold))


# -- co-signatures -----------------------------------------------------------------------------------


def has_support(session: Session, proposal_id: str, supporter_id: str) -> bool:
    s = supports.c
    return bool(
        session.scalar(
            select(func.count())
            .select_from(supports)
            .where(s.proposal_id == proposal_id, s.supporter_id == supporter_id)
        )
    )


def add_support(session: Session, proposal_id: str, supporter_id: str, at: datetime) -> None:
    session.execute(insert(supports).values(proposal_id=proposal_id, supporter_id=supporter_id, supported_at=at))


def remove_support(session: Session, proposal_id: str, supporter_id: str) -> bool:
    s = supports.c
    result = session.execute(delete(supports).where(s.proposal_id == proposal_id, s.supporter_id == supporter_id))
    return bool(result.rowcount)


def count_supports(session: Session, proposal_id: str) -> int:
    return session.scalar(select(func.count()).select_from(supports).where(supports.c.proposal_id == proposal_id))


def list_supports(session: Session, proposal_id: str, limit: int = 100, offset: int = 0) -> list[dict]:
    s = supports.c
    query = (
        select(s.supporter_id, s.supported_at)
        .where(s.proposal_id == proposal_id)
        .order_by(s.supported_at, s.supporter_id)
        .limit(limit)
        .offset(offset)
    )
    return [dict(row) for row in session.execute(query).mappings()]


def move_supports(session: Session, source: Proposal, target: Proposal, at: datetime) -> int:
    """Carry a merged proposal's supporters (and its submitter, who supports it too) over to the
    target, skipping anyone already counted there and the target's own submitter."""
    s = supports.c
    source_id = source.id
    candidates = {row.supporter_id for row in session.execute(select(s.supporter_id).where(s.proposal_id == source_id))}
    candidates.add(source.submitter_id)
    existing = {row.supporter_id for row in session.execute(select(s.supporter_id).where(s.proposal_id == target.id))}
    moving = sorted(candidates - existing - {target.submitter_id})
    if moving:
        session.execute(
            insert(supports), [{"proposal_id": target.id, "supporter_id": who, "supported_at": at} for who in moving]
        )
    session.execute(delete(supports).where(s.proposal_id == source_id))
    return len(moving)


# -- listing -----------------------------------------------------------------------------------------


SORTS = {
    "-submitted_at": (proposals.c.submitted_at, True),
    "submitted_at": (proposals.c.submitted_at, False),
    "-supporters": (proposals.c.supporters, True),
    "-updated_at": (proposals.c.updated_at, True),
}


def search(
    session: Session,
    *,
    scope: str,
    viewer: str | None,
    filters: dict,
    sort: str,
    limit: int,
    cursor,
    mine: str | None = None,
):
    """One page of proposals within ``scope``, as ``domain.visible_to`` has it for lists: with a
    ``viewer`` (a resident), the withheld ones (``domain.WITHHELD_STATUSES``) only if the viewer
    submitted them; ``viewer=None`` for callers who see them all (``domain.sees_withheld``).
    ``mine``: only those this subject submitted. Keyset pagination on (sort key, id), so pages
    stay stable while new proposals arrive."""
    p = proposals.c
    conditions = [within(p.community_code, scope)] if scope else []
    if viewer is not None:
        conditions.append(or_(p.submitter_id == viewer, p.status.not_in(sorted(WITHHELD_STATUSES))))
    if mine is not None:
        conditions.append(p.submitter_id == mine)
    if filters.get("community"):
        conditions.append(within(p.community_code, filters["community"]))
    for name in ("category", "status", "channel", "origin"):
        if filters.get(name):
            conditions.append(getattr(p, name).in_(filters[name]))
    if filters.get("since"):
        conditions.append(p.submitted_at >= filters["since"])
    if filters.get("until"):
        conditions.append(p.submitted_at < filters["until"])
    if filters.get("q"):
        words = [w for w in filters["q"].split() if w][:5]
        conditions.extend(or_(mentions(p.title, word), mentions(p.description, word)) for word in words)
    column, descending = SORTS[sort]
    query = select(proposals).where(*conditions)
    return page(session, query, Keyset(column, p.id, descending), limit=limit, cursor=cursor, convert=_proposal)
