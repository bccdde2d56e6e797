"""Intake's use cases: raising a matter, reading and co-signing it, triage by the community, the
categories and community settings, the moves other services' events bring, and what public
disclosure (Open311) reads, the names of the organisations referred to included (the replica's).
Each runs inside the caller's unit of work: load (repository), let the domain decide, store
(repository) and announce (``events``); the duplicate index is kept by intake's worker
(``index_submitted``) and by the triage that takes a matter out of it. A refusal raises before
anything is written, and the unit of work rolls back whatever was.

The HTTP adapters (``api``, ``open311``) and the event handlers (``handlers``) call these and
nothing else (the replicas of divisions and organisations aside, kept by the shared replica
handlers); settings (the default co-signing threshold) come in as arguments."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from services.intake import domain, events, models, repository
from services.intake.domain import Location, Proposal
from services.intake.similarity import DuplicateIndex, Indexed
from shared.divisions import Division
from shared.lifecycle import Actor, Transition
from shared.principal import Principal
from shared.problems import BadRequest, NotFound
from shared.uow import UnitOfWork

log = logging.getLogger(__name__)

duplicate_index = DuplicateIndex(models.duplicates)
LEAVE_THE_INDEX = domain.NOT_SUGGESTED


# -- raising a matter (百姓点事) -----------------------------------------------------------------------


@dataclass(frozen=True)
class Submitted:
    """A proposal just raised, and its community."""

    proposal: Proposal
    community: Division


def submit(
    uow: UnitOfWork,
    principal: Principal,
    *,
    community_code: str,
    title: str,
    description: str,
    category: str,
    via: str,
    now: datetime,
    recorded_from: str | None = None,
    location: Location | None = None,
    attachments: Sequence[str] = (),
    submitter_id: str | None = None,
    similar_to: Sequence[dict] = (),
) -> Submitted:
    """Check a new proposal, store it with its first history line and announce it: nothing more on
    the request path. Intake's worker indexes it for duplicate look-ups when it consumes the
    announcement (``index_submitted``); until then ``similar`` finds it among the community's recent
    matters. Every way in (the JSON API, Open311, SMS replies) raises matters through here, saying
    which it is (``via``, ``domain.WAYS_IN``): the channel is decided from it and the caller
    (``domain.channel_of``; ``recorded_from``: how a resident brought the matter to staff).
    ``similar_to``: likely duplicates the announcement names (``submit_by_sms``)."""
    community = uow.divisions.active_community(community_code)
    proposal = domain.submit(
        principal=principal,
        community=community,
        community_code=community_code,
        title=title,
        description=description,
        category=category,
        categories=repository.active_categories(uow.session),
        via=via,
        recorded_from=recorded_from,
        now=now,
        location=location or Location(),
        attachments=list(attachments),
        submitter_id=submitter_id,
    )
    repository.add(uow.session, proposal)
    repository.record(uow.session, domain.first_entry(proposal, Actor.of(principal)))
    events.proposal_submitted(uow, proposal, similar=similar_to)
    return Submitted(proposal, community)


SMS_SIMILAR = 2  # likely duplicates an SMS receipt offers to co-sign instead


def submit_by_sms(
    uow: UnitOfWork, principal: Principal, *, community_code: str, title: str, description: str, now: datetime
) -> Submitted:
    """A matter a resident raised by SMS (notify read it from their text): submitted through
    ``submit`` with the way in ``sms``, in the category ``domain.SMS_CATEGORY`` (the community
    re-files it at triage), its likely duplicates told with it so the receipt SMS can offer to
    co-sign one of them instead."""
    categories = repository.active_categories(uow.session)
    category = domain.sms_category(categories)
    title, description = domain.lookup_texts(title, description)
    found = similar(uow, principal, community_code=community_code, title=title, description=description,
                    limit=SMS_SIMILAR, now=now)  # fmt: skip
    return submit(
        uow, principal, community_code=community_code, title=title, description=description, category=category,
        via="sms", now=now, similar_to=[{"proposal_id": f["id"], "title": f["title"]} for f in found],
    )  # fmt: skip


# -- likely duplicates (重复事项) ------------------------------------------------------------------------


def similar(
    uow: UnitOfWork, principal: Principal, *, community_code: str, title: str, description: str, limit: int,
    now: datetime,
) -> list[dict]:  # fmt: skip
    """The community's live matters that read like this one, best first (each ``id``, ``title``,
    ``status`` and ``score``), for a resident to co-sign instead of raising it again. The indexed ones
    are looked up; those submitted within ``domain.UNINDEXED_WINDOW`` and not indexed yet (the worker
    is a moment behind, or was away) are scored beside them."""
    principal.require_scope(community_code)
    if uow.divisions.active_community(community_code) is None:
        raise NotFound("社区不存在")
    title, description = domain.lookup_texts(title, description)
    recent = repository.unindexed(
        uow.session, community_code, since=now - domain.UNINDEXED_WINDOW, limit=domain.UNINDEXED_LIMIT
    )
    matches = duplicate_index.candidates(
        uow.session, community_code, title, description, limit=limit,
        unindexed=[Indexed(p.id, p.community_code, p.title, p.description) for p in recent],
    )  # fmt: skip
    found = repository.summaries(uow.session, [m.proposal_id for m in matches])
    return [
        {**found[m.proposal_id], "score": round(m.score, 3)}
        for m in matches
        if m.proposal_id in found and found[m.proposal_id]["status"] not in LEAVE_THE_INDEX
    ]


def index_submitted(uow: UnitOfWork, proposal_ids: Iterable[str]) -> int:
    """Add the proposals just submitted to the duplicate index (intake's worker, a burst at once);
    returns how many. One merged or rejected before this runs stays out: the triage left its mark in
    the index, in whichever order the two transactions commit (``DuplicateIndex.add_many``)."""
    live = [p for p in repository.get_all(uow.session, sorted(set(proposal_ids))) if p.status not in LEAVE_THE_INDEX]
    return duplicate_index.add_many(
        uow.session, [Indexed(p.id, p.community_code, p.title, p.description) for p in live]
    )


# -- reading ------------------------------------------------------------------------------------------


def list_proposals(
    uow: UnitOfWork, principal: Principal, *, filters: dict, sort: str, limit: int, cursor: str | None
) -> tuple[list[Proposal], str | None]:
    """One page of the proposals the caller may see (``domain.visible_to``), filtered and sorted,
    and the cursor of the next page (None on the last). ``filters["mine"]``: only the caller's."""
    return repository.search(
        uow.session,
        scope=principal.scope,
        viewer=None if domain.sees_withheld(principal) else principal.subject,
        mine=principal.subject if filters.get("mine") else None,
        filters=filters,
        sort=sort,
        limit=limit,
        cursor=cursor,
    )


def get_proposal(uow: UnitOfWork, principal: Principal, proposal_id: str) -> Proposal:
    return _visible(uow, principal, proposal_id)


def proposal_history(uow: UnitOfWork, principal: Principal, proposal_id: str) -> list[dict]:
    """Every change of the proposal's status, oldest first: when, by whom, and why."""
    _visible(uow, principal, proposal_id)
    return repository.history(uow.session, proposal_id)


def supporters(uow: UnitOfWork, principal: Principal, proposal_id: str) -> list[dict]:
    """Who co-signed (``supporter``, ``supported_at``), masked: residents are counted and told
    apart, never named."""
    _visible(uow, principal, proposal_id)
    rows = repository.list_supports(uow.session, proposal_id)
    return [{"supporter": domain.mask_supporter(r["supporter_id"]), "supported_at": r["supported_at"]} for r in rows]


def _visible(uow: UnitOfWork, principal: Principal, proposal_id: str, *, for_update: bool = False) -> Proposal:
    return domain.require_visible(principal, repository.get(uow.session, proposal_id, for_update=for_update))


# -- co-signing (附议) ---------------------------------------------------------------------------------


def support(
    uow: UnitOfWork, principal: Principal, proposal_id: str, *, default_threshold: int, now: datetime
) -> Proposal:
    """Co-sign a proposal of one's own community, once. The co-signature reaching the community's
    threshold (``default_threshold`` where it set none) makes a submitted proposal eligible."""
    proposal = _visible(uow, principal, proposal_id, for_update=True)
    domain.check_support(proposal, principal, repository.has_support(uow.session, proposal_id, principal.subject))
    repository.add_support(uow.session, proposal_id, principal.subject, now)
    proposal = replace(proposal, supporters=proposal.supporters + 1, updated_at=now)
    events.proposal_supported(uow, proposal, principal.subject, withdrawn=False)
    threshold = repository.support_threshold(uow.session, proposal.community_code, default_threshold)
    if domain.becomes_eligible(proposal, proposal.supporters, threshold):
        proposal, transition = domain.make_eligible(proposal, threshold, now)
        repository.record(uow.session, transition)
        events.proposal_eligible(uow, proposal, threshold)
    repository.save(uow.session, proposal)
    return proposal


def withdraw_support(uow: UnitOfWork, principal: Principal, proposal_id: str, *, now: datetime) -> Proposal:
    """Withdraw one's co-signature. An eligible proposal stays eligible: the threshold was met."""
    proposal = _visible(uow, principal, proposal_id, for_update=True)
    if not repository.remove_support(uow.session, proposal_id, principal.subject):
        raise NotFound("您没有附议过该建议")
    proposal = replace(proposal, supporters=max(0, proposal.supporters - 1), updated_at=now)
    repository.save(uow.session, proposal)
    events.proposal_supported(uow, proposal, principal.subject, withdrawn=True)
    return proposal


# -- triage (两委定事) ---------------------------------------------------------------------------------


def accept(uow: UnitOfWork, principal: Principal, proposal_id: str, *, now: datetime) -> Proposal:
    """Accept the matter as a consultation topic (议题)."""
    moved, transition = domain.accept(_visible(uow, principal, proposal_id, for_update=True), principal, now)
    return _triaged(uow, principal, moved, transition, category=moved.category, origin=moved.origin)


def reject(uow: UnitOfWork, principal: Principal, proposal_id: str, reason: str, *, now: datetime) -> Proposal:
    """Decline the matter, saying why (the submitter is told the reason)."""
    moved, transition = domain.reject(_visible(uow, principal, proposal_id, for_update=True), principal, reason, now)
    return _triaged(uow, principal, moved, transition, reason=transition.reason)


def merge(uow: UnitOfWork, principal: Principal, proposal_id: str, into: str, *, now: datetime) -> Proposal:
    """Merge a duplicate into another proposal of its community; its supporters (and its submitter)
    move along, those already counted there counted once."""
    duplicate = _visible(uow, principal, proposal_id, for_update=True)
    target = repository.get(uow.session, into, for_update=True)
    moved, transition = domain.merge(duplicate, target, principal, now)
    carried = repository.move_supports(uow.session, duplicate, target, now)
    repository.save(uow.session, replace(target, supporters=target.supporters + carried, updated_at=now))
    return _triaged(
        uow, principal, replace(moved, supporters=0), transition, into_proposal_id=target.id, supporters_moved=carried
    )


def refer(
    uow: UnitOfWork, principal: Principal, proposal_id: str, department_id: str, note: str, *, now: datetime
) -> Proposal:
    """Hand an ordinary matter (a repair) to a registered organisation serving its community (the
    replica of tracking's registry says which): it becomes a tracked task, no consultation."""
    proposal = _visible(uow, principal, proposal_id, for_update=True)
    organisation = repository.get_organisation(uow.session, department_id)
    moved, transition = domain.refer(proposal, principal, organisation, department_id, note, now)
    return _triaged(uow, principal, moved, transition, category=moved.category, department_id=department_id,
                    note=note.strip())  # fmt: skip


def _triaged(uow: UnitOfWork, principal: Principal, moved: Proposal, transition: Transition, **details) -> Proposal:
    """Store a triage decision and tell everyone (``details`` complete the event's payload)."""
    if moved.status in LEAVE_THE_INDEX:
        duplicate_index.remove(uow.session, moved.id, moved.community_code)
    repository.save(uow.session, moved)
    repository.record(uow.session, transition)
    events.proposal_triaged(uow, moved, principal.subject, **details)
    return moved


# -- the rest of a matter's life, moved by meetings' and tracking's events ----------------------------


def move_proposals(
    uow: UnitOfWork, proposal_ids: Iterable[str], to: str, actor: Actor, reason: str, now: datetime
) -> list[Proposal]:
    """Move each of the proposals an event names to ``to`` (a consultation scheduled or decided, a
    task completed…); returns those moved. Ids intake never saw (top-down topics) are skipped, and
    so are proposals already there. Events of one matter can arrive out of order: an outdated one
    (a move ``domain.applies`` refuses from the proposal's status) changes nothing."""
    return _move_all(uow, proposal_ids, to, actor, reason, now)


def reopen_proposals(
    uow: UnitOfWork, proposal_ids: Iterable[str], actor: Actor, reason: str, now: datetime
) -> list[Proposal]:
    """A task sent back (residents not satisfied): the resolved proposals it carries go back to
    in_progress, the history saying why (``reason``); the others as ``move_proposals`` has it."""
    return _move_all(uow, proposal_ids, "in_progress", actor, reason, now, reopening=True)


def _move_all(uow: UnitOfWork, proposal_ids: Iterable[str], to: str, actor: Actor, reason: str, now: datetime,
              *, reopening: bool = False) -> list[Proposal]:  # fmt: skip
    moved_ones = []
    for proposal_id in proposal_ids:
        proposal = repository.get(uow.session, proposal_id, for_update=True)
        if proposal is None or proposal.status == to:
            continue
        if not domain.applies(proposal.status, to, reopening=reopening):
            log.warning("proposal status not moved", extra={"status": proposal.status, "to": to})
            continue
        moved, transition = domain.move(proposal, to, actor, now, reason=reason)
        repository.save(uow.session, moved)
        repository.record(uow.session, transition)
        moved_ones.append(moved)
    return moved_ones


# -- categories and community settings ------------------------------------------------------------------


def list_categories(uow: UnitOfWork) -> dict[str, str]:
    """The active categories proposals are filed under (问题菜单): name by code, in code order."""
    return dict(sorted(repository.active_categories(uow.session).items()))


def put_category(uow: UnitOfWork, principal: Principal, code: str, name: str, active: bool) -> None:
    """Add, rename or retire a category (the platform's reference data: city operators only)."""
    domain.require_category_admin(principal)
    repository.upsert_category(uow.session, code, name, active)


@dataclass(frozen=True)
class CommunitySettings:
    community_code: str
    support_threshold: int


def community_settings(
    uow: UnitOfWork, principal: Principal, community_code: str, *, default_threshold: int
) -> CommunitySettings:
    """A community's intake rules; ``default_threshold`` where it set none."""
    principal.require_scope(community_code)
    threshold = repository.support_threshold(uow.session, community_code, default_threshold)
    return CommunitySettings(community_code, threshold)


def put_community_settings(
    uow: UnitOfWork, principal: Principal, community_code: str, *, support_threshold: int
) -> CommunitySettings:
    """Set how many co-signatures make a proposal of this community eligible for consultation."""
    domain.require_settings_admin(principal, community_code)
    if uow.divisions.active_community(community_code) is None:
        raise NotFound("社区不存在")
    repository.set_support_threshold(uow.session, community_code, support_threshold)
    return CommunitySettings(community_code, support_threshold)


# -- public disclosure (居务公开: Open311) ----------------------------------------------------------------


@dataclass(frozen=True)
class Disclosure:
    """Matters as anyone may read them, with the names to show them by: every category's
    (retired ones too), each matter's community's (None if the registry does not know it) and the
    organisations' the matters were referred to (by id; those the replica knows). What of a
    matter is shown is ``domain.shown_publicly``'s to say."""

    proposals: list[Proposal]
    category_names: dict[str, str]
    community_names: dict[str, str | None]
    organisation_names: dict[str, str] = field(default_factory=dict)

    def organisation_name(self, proposal: Proposal) -> str | None:
        """The name of the organisation ``proposal`` was referred to, if it was and it is known."""
        return self.organisation_names.get(proposal.department_id) if proposal.department_id else None


def public_requests(uow: UnitOfWork, scope: str, proposal_ids: Iterable[str]) -> Disclosure:
    """The matters of ``scope`` among ``proposal_ids``, in the order asked (each once); ids
    unknown or outside the scope are left out."""
    wanted = list(dict.fromkeys(proposal_ids))
    found = repository.get_many(uow.session, wanted, scope=scope)
    return _disclosure(uow, [found[proposal_id] for proposal_id in wanted if proposal_id in found])


def recent_requests(
    uow: UnitOfWork,
    scope: str,
    *,
    categories: Sequence[str] = (),
    statuses: Iterable[str] = (),
    since: datetime,
    until: datetime,
    limit: int,
) -> Disclosure:
    """The matters of ``scope`` submitted in [``since``, ``until``), newest first, at most
    ``limit``; of the given categories and statuses only, if any are given."""
    names = repository.category_names(uow.session)
    if any(code not in names for code in categories):  # in the words of Open311, this one's reader
        raise BadRequest("service_code 不存在", allowed=sorted(names))
    filters = {"category": list(categories) or None, "status": sorted(statuses) or None, "since": since, "until": until}
    found, _ = repository.search(
        uow.session, scope=scope, viewer=None, filters=filters, sort="-submitted_at", limit=limit, cursor=None
    )
    return _disclosure(uow, found, names)


def _disclosure(uow: UnitOfWork, proposals: list[Proposal], names: dict[str, str] | None = None) -> Disclosure:
    communities = {}
    for code in {p.community_code for p in proposals}:
        division = uow.divisions.get(code)
        communities[code] = division.name if division else None
    organisations = repository.organisation_names(uow.session, (p.department_id for p in proposals if p.department_id))
    category_names = names if names is not None else repository.category_names(uow.session)
    return Disclosure(proposals, category_names, communities, organisations)
