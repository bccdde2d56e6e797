"""Intake's HTTP routes (thin: parse, load, let the domain decide, store, emit)."""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import UTC, datetime

from flask_smorest import Blueprint

from services.intake import domain, events, models, repository
from services.intake.models import divisions
from services.intake.schemas import (
    CategoryIn,
    CategoryOut,
    HistoryOut,
    MergeIn,
    ProposalIn,
    ProposalOut,
    ProposalPage,
    ProposalQuery,
    ReferIn,
    RejectIn,
    SettingsIn,
    SettingsOut,
    SubmittedOut,
    SupporterOut,
    SupportOut,
)
from services.intake.similarity import DuplicateIndex
from shared.division_registry import DivisionRegistry
from shared.http import current_principal, requires
from shared.principal import Principal
from shared.problems import Invalid, NotFound
from shared.service import current_runtime

blp = Blueprint("proposals", __name__, url_prefix="/api/v1/intake", description="居民提出的事项(百姓点事、两委定事)")
# Rejected and merged proposals leave the index: only live matters are suggested as duplicates.
duplicate_index = DuplicateIndex(models.duplicates)
# Categories are the platform's reference data, not a division's: only city operators change them.
CATEGORY_ADMINS = ("city_operator",)


def _now() -> datetime:
    return datetime.now(UTC)


def _visible(principal: Principal, proposal: domain.Proposal | None) -> domain.Proposal:
    """A proposal the caller may see: in scope and, for residents, their own or a public one."""
    if proposal is None or not principal.covers(proposal.community_code):
        raise NotFound("建议不存在或不在您的范围内")
    if principal.role == "resident" and proposal.status == "rejected" and proposal.submitter_id != principal.subject:
        raise NotFound("建议不存在或不在您的范围内")
    return proposal


def _out(principal: Principal, proposal: domain.Proposal, **extra) -> dict:
    return {**asdict(proposal), "mine": proposal.submitter_id == principal.subject, **extra}


@blp.post("/proposals")
@blp.arguments(ProposalIn)
@blp.response(201, SubmittedOut)
@requires(*domain.SUBMITTER_ROLES)
def submit_proposal(data):
    """Raise a matter for a community; likely duplicates in the community come back with it."""
    principal = current_principal()
    location = domain.Location(**(data.pop("location") or {}))
    proposal, duplicates = create_proposal(principal, location, **data)
    return _out(principal, proposal, possible_duplicates=duplicates)


def create_proposal(principal: Principal, location: domain.Location, **data) -> tuple[domain.Proposal, list[dict]]:
    """Check a new proposal, store it with its first history line, index it for duplicate
    look-ups and announce it, in one transaction; return it with the community's likely
    duplicates. Every way in (this API, Open311) raises matters through here."""
    with current_runtime().unit_of_work() as uow:
        proposal = domain.submit(
            principal=principal,
            community=uow.divisions.active_community(data["community_code"]),
            categories=repository.active_categories(uow.session),
            location=location,
            now=_now(),
            **data,
        )
        repository.add(uow.session, proposal)
        repository.record(uow.session, domain.first_entry(proposal, domain.Actor.of(principal)))
        matches = duplicate_index.candidates(
            uow.session, proposal.community_code, proposal.title, proposal.description, exclude_ids=[proposal.id]
        )
        duplicate_index.add(uow.session, proposal.id, proposal.community_code, proposal.title, proposal.description)
        events.proposal_submitted(uow, proposal)
        found = repository.summaries(uow.session, [m.proposal_id for m in matches])
    duplicates = [{**found[m.proposal_id], "score": round(m.score, 3)} for m in matches if m.proposal_id in found]
    return proposal, duplicates


@blp.get("/proposals")
@blp.arguments(ProposalQuery, location="query")
@blp.response(200, ProposalPage)
def list_proposals(query):
    """Proposals in the caller's scope, filtered and sorted, one page at a time (``next_cursor``)."""
    principal = current_principal()
    cursor, limit, sort = query.pop("cursor"), query.pop("limit"), query.pop("sort")
    with current_runtime().db.sessions() as session:
        items, next_cursor = repository.search(
            session,
            scope=principal.scope,
            visible_to=principal.subject if principal.role == "resident" or query["mine"] else None,
            filters=query,
            sort=sort,
            limit=limit,
            cursor=cursor,
        )
    return {"items": [_out(principal, p) for p in items], "next_cursor": next_cursor}


@blp.get("/proposals/<proposal_id>")
@blp.response(200, ProposalOut)
def get_proposal(proposal_id: str):
    """One proposal."""
    principal = current_principal()
    with current_runtime().db.sessions() as session:
        return _out(principal, _visible(principal, repository.get(session, proposal_id)))


@blp.get("/proposals/<proposal_id>/history")
@blp.response(200, HistoryOut(many=True))
def proposal_history(proposal_id: str):
    """Every change of the proposal's status: when, by which role, and why."""
    principal = current_principal()
    with current_runtime().db.sessions() as session:
        _visible(principal, repository.get(session, proposal_id))
        return repository.history(session, proposal_id)


# -- co-signing (附议) --------------------------------------------------------------------------------


@blp.post("/proposals/<proposal_id>/support")
@blp.response(200, SupportOut)
@requires("resident")
def support(proposal_id: str):
    """Co-sign a proposal of one's own community (once)."""
    principal = current_principal()
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        proposal = _visible(principal, repository.get(uow.session, proposal_id, for_update=True))
        already = repository.has_support(uow.session, proposal_id, principal.subject)
        domain.check_support(proposal, principal, already)
        now = _now()
        repository.add_support(uow.session, proposal_id, principal.subject, now)
        proposal = replace(proposal, supporters=proposal.supporters + 1, updated_at=now)
        threshold = repository.support_threshold(
            uow.session, proposal.community_code, runtime.settings.support_threshold
        )
        events.proposal_supported(uow, proposal, principal.subject, withdrawn=False)
        if domain.becomes_eligible(proposal, proposal.supporters, threshold):
            proposal, transition = domain.move(
                proposal, "eligible", domain.Actor("system:intake", "system"), now, reason=f"附议人数达到{threshold}"
            )
            repository.record(uow.session, transition)
            events.proposal_eligible(uow, proposal, threshold)
        repository.save(uow.session, proposal)
    return {"proposal_id": proposal.id, "supporters": proposal.supporters, "status": proposal.status, "supported": True}


@blp.delete("/proposals/<proposal_id>/support")
@blp.response(200, SupportOut)
@requires("resident")
def withdraw_support(proposal_id: str):
    """Withdraw one's co-signature. An eligible proposal stays eligible: the threshold was met."""
    principal = current_principal()
    with current_runtime().unit_of_work() as uow:
        proposal = _visible(principal, repository.get(uow.session, proposal_id, for_update=True))
        if not repository.remove_support(uow.session, proposal_id, principal.subject):
            raise NotFound("您没有附议过该建议")
        proposal = replace(proposal, supporters=max(0, proposal.supporters - 1), updated_at=_now())
        repository.save(uow.session, proposal)
        events.proposal_supported(uow, proposal, principal.subject, withdrawn=True)
    return {
        "proposal_id": proposal.id,
        "supporters": proposal.supporters,
        "status": proposal.status,
        "supported": False,
    }


@blp.get("/proposals/<proposal_id>/supporters")
@blp.response(200, SupporterOut(many=True))
def supporters(proposal_id: str):
    """Who co-signed, masked: residents are counted and told apart, never named."""
    principal = current_principal()
    with current_runtime().db.sessions() as session:
        _visible(principal, repository.get(session, proposal_id))
        rows = repository.list_supports(session, proposal_id)
    return [{"supporter": domain.mask_supporter(r["supporter_id"]), "supported_at": r["supported_at"]} for r in rows]


# -- triage (两委定事) ---------------------------------------------------------------------------------


def _triage(proposal_id: str, decide, details):
    """Load a proposal, let ``decide`` move it, store the move and tell everyone (``details(moved)``
    completes the event's payload)."""
    principal = current_principal()
    with current_runtime().unit_of_work() as uow:
        proposal = _visible(principal, repository.get(uow.session, proposal_id, for_update=True))
        moved, transition = decide(uow, proposal, principal)
        if moved.status in ("rejected", "merged"):
            duplicate_index.remove(uow.session, moved.id)
        repository.save(uow.session, moved)
        repository.record(uow.session, transition)
        events.proposal_triaged(uow, moved, principal.subject, **details(moved))
    return _out(principal, moved)


@blp.post("/proposals/<proposal_id>/accept")
@blp.response(200, ProposalOut)
@requires(*domain.TRIAGE_ROLES)
def accept(proposal_id: str):
    """Accept the matter as a consultation topic (议题)."""
    return _triage(
        proposal_id,
        lambda uow, p, who: domain.accept(p, who, _now()),
        details=lambda p: {"category": p.category, "origin": p.origin},
    )


@blp.post("/proposals/<proposal_id>/reject")
@blp.arguments(RejectIn)
@blp.response(200, ProposalOut)
@requires(*domain.TRIAGE_ROLES)
def reject(body, proposal_id: str):
    """Decline the matter, saying why (the submitter is told the reason)."""
    return _triage(
        proposal_id,
        lambda uow, p, who: domain.reject(p, who, body["reason"], _now()),
        details=lambda p: {"reason": body["reason"].strip()},
    )


@blp.post("/proposals/<proposal_id>/merge")
@blp.arguments(MergeIn)
@blp.response(200, ProposalOut)
@requires(*domain.TRIAGE_ROLES)
def merge(body, proposal_id: str):
    """Merge a duplicate into another proposal of the community; its supporters move along."""
    moved_count = {}

    def decide(uow, duplicate, who):
        target = repository.get(uow.session, body["into"], for_update=True)
        if target is None or not who.covers(target.community_code):
            raise Invalid("要合并到的建议不存在", field="into")
        now = _now()
        moved, transition = domain.merge(duplicate, target, who, now)
        moved_count["n"] = repository.move_supports(uow.session, duplicate.id, target, now)
        target = replace(target, supporters=target.supporters + moved_count["n"], updated_at=now)
        repository.save(uow.session, target)
        return replace(moved, supporters=0), transition

    return _triage(
        proposal_id, decide, details=lambda p: {"into_proposal_id": p.merged_into, "supporters_moved": moved_count["n"]}
    )


@blp.post("/proposals/<proposal_id>/refer")
@blp.arguments(ReferIn)
@blp.response(200, ProposalOut)
@requires(*domain.TRIAGE_ROLES)
def refer(body, proposal_id: str):
    """Hand an ordinary matter (a repair) to a department: it becomes a tracked task, no consultation."""
    return _triage(
        proposal_id,
        lambda uow, p, who: domain.refer(p, who, body["department_id"], body["note"], _now()),
        details=lambda p: {"category": p.category, "department_id": p.department_id, "note": body["note"].strip()},
    )


# -- categories and community settings ------------------------------------------------------------------


@blp.get("/categories")
@blp.response(200, CategoryOut(many=True))
def list_categories():
    """The categories proposals are filed under (问题菜单)."""
    with current_runtime().db.sessions() as session:
        return [{"code": c, "name": n} for c, n in sorted(repository.active_categories(session).items())]


@blp.put("/categories")
@blp.arguments(CategoryIn)
@blp.response(200, CategoryOut)
@requires(*CATEGORY_ADMINS)
def put_category(body):
    """Add, rename or retire a category."""
    with current_runtime().db.transaction() as session:
        repository.upsert_category(session, body["code"], body["name"], body["active"])
    return body


@blp.get("/communities/<community_code>/settings")
@blp.response(200, SettingsOut)
def get_settings(community_code: str):
    """A community's intake rules."""
    principal = current_principal()
    principal.require_scope(community_code)
    runtime = current_runtime()
    with runtime.db.sessions() as session:
        threshold = repository.support_threshold(session, community_code, runtime.settings.support_threshold)
    return {"community_code": community_code, "support_threshold": threshold}


@blp.put("/communities/<community_code>/settings")
@blp.arguments(SettingsIn)
@blp.response(200, SettingsOut)
@requires(*domain.TRIAGE_ROLES)
def put_settings(body, community_code: str):
    """Set how many co-signatures make a proposal of this community eligible for consultation."""
    principal = current_principal()
    principal.require_scope(community_code)
    with current_runtime().db.transaction() as session:
        if DivisionRegistry(session, divisions).active_community(community_code) is None:
            raise NotFound("社区不存在")
        repository.set_support_threshold(session, community_code, body["support_threshold"])
    return {"community_code": community_code, **body}


def blueprints():
    from services.intake.open311 import blp as open311  # imported here: it builds on create_proposal

    return [blp, open311]
