"""Intake's JSON routes (thin: parse with the schemas, call one use case in ``services``, serialise)."""

from __future__ import annotations

from dataclasses import asdict

from flask import make_response, request

from services.intake import domain, services
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
    SimilarOut,
    SimilarQuery,
    SupporterOut,
    SupportOut,
)
from shared.http import Blueprint, current_principal, requires
from shared.principal import Principal
from shared.records import fields_of
from shared.service import current_runtime

# Seconds a caller may reuse a similar answer: a resident typing the same text again within them asks
# nothing new; a matter raised meanwhile shows after at most this long.
SIMILAR_MAX_AGE = 30

blp = Blueprint("proposals", __name__, url_prefix="/api/v1/intake", description="居民提出的事项(百姓点事、两委定事)")


def _out(principal: Principal, proposal: domain.Proposal, **extra) -> dict:
    return {**fields_of(proposal), "mine": proposal.submitter_id == principal.subject, **extra}


def _support_out(proposal: domain.Proposal, supported: bool) -> dict:
    return {"proposal_id": proposal.id, "supporters": proposal.supporters, "status": proposal.status,
            "supported": supported}  # fmt: skip


@blp.post("/proposals")
@blp.arguments(ProposalIn)
@blp.response(201, ProposalOut)
@requires(*domain.SUBMITTER_ROLES)
def submit_proposal(data):
    """Raise a matter for a community: it is stored, with its history and its announcement, and
    nothing more (look for likely duplicates first: ``GET /proposals/similar``). Its channel is the
    platform's to say: ``app`` (this API), ``district_system`` for a district system's API key, or,
    for staff recording a resident's matter, ``recorded_from``."""
    principal, runtime = current_principal(), current_runtime()
    location = domain.Location(**(data.pop("location") or {}))
    with runtime.unit_of_work() as uow:
        submitted = services.submit(uow, principal, via="app", location=location, now=runtime.now(), **data)
    return _out(principal, submitted.proposal)


@blp.get("/proposals/similar")
@blp.arguments(SimilarQuery, location="query")
@blp.response(200, SimilarOut)
@blp.doc(responses={"304": {"description": "Not modified (``If-None-Match`` named this answer's ETag)"}})
def similar_proposals(query):
    """The community's live matters that read like this one, best first, before a resident raises it
    (to co-sign one instead). Matters submitted moments ago are among them. The caller must cover the
    community. The answer may be reused for ``SIMILAR_MAX_AGE`` seconds by the caller only
    (``Cache-Control: private``) and carries an ETag (``If-None-Match`` gives a 304); like every route,
    it is rate limited per client at the gateway."""
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        items = services.similar(
            uow, current_principal(), community_code=query["community"], title=query["title"],
            description=query["description"], limit=query["limit"], now=runtime.now(),
        )  # fmt: skip
    response = make_response(SimilarOut().dumps({"items": items}, ensure_ascii=False))
    response.mimetype = "application/json"
    response.cache_control.private = True
    response.cache_control.max_age = SIMILAR_MAX_AGE
    response.add_etag()
    return response.make_conditional(request)


@blp.get("/proposals")
@blp.arguments(ProposalQuery, location="query")
@blp.response(200, ProposalPage)
def list_proposals(query):
    """Proposals in the caller's scope, filtered and sorted, one page at a time (``next_cursor``)."""
    principal = current_principal()
    cursor, limit, sort = query.pop("cursor"), query.pop("limit"), query.pop("sort")
    with current_runtime().unit_of_work() as uow:
        items, next_cursor = services.list_proposals(
            uow, principal, filters=query, sort=sort, limit=limit, cursor=cursor
        )
    return {"items": [_out(principal, p) for p in items], "next_cursor": next_cursor}


@blp.get("/proposals/<proposal_id>")
@blp.response(200, ProposalOut)
def get_proposal(proposal_id: str):
    """One proposal."""
    principal = current_principal()
    with current_runtime().unit_of_work() as uow:
        return _out(principal, services.get_proposal(uow, principal, proposal_id))


@blp.get("/proposals/<proposal_id>/history")
@blp.response(200, HistoryOut(many=True))
def proposal_history(proposal_id: str):
    """Every change of the proposal's status: when, by which role, and why."""
    with current_runtime().unit_of_work() as uow:
        return services.proposal_history(uow, current_principal(), proposal_id)


# -- co-signing (附议) --------------------------------------------------------------------------------


@blp.post("/proposals/<proposal_id>/support")
@blp.response(200, SupportOut)
@requires("resident")
def support(proposal_id: str):
    """Co-sign a proposal of one's own community (once)."""
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        proposal = services.support(
            uow,
            current_principal(),
            proposal_id,
            default_threshold=runtime.settings.support_threshold,
            now=runtime.now(),
        )
    return _support_out(proposal, supported=True)


@blp.delete("/proposals/<proposal_id>/support")
@blp.response(200, SupportOut)
@requires("resident")
def withdraw_support(proposal_id: str):
    """Withdraw one's co-signature. An eligible proposal stays eligible: the threshold was met."""
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        proposal = services.withdraw_support(uow, current_principal(), proposal_id, now=runtime.now())
    return _support_out(proposal, supported=False)


@blp.get("/proposals/<proposal_id>/supporters")
@blp.response(200, SupporterOut(many=True))
def supporters(proposal_id: str):
    """Who co-signed, masked: residents are counted and told apart, never named."""
    with current_runtime().unit_of_work() as uow:
        return services.supporters(uow, current_principal(), proposal_id)


# -- triage (两委定事) ---------------------------------------------------------------------------------


@blp.post("/proposals/<proposal_id>/accept")
@blp.response(200, ProposalOut)
@requires(*domain.TRIAGE_ROLES)
def accept(proposal_id: str):
    """Accept the matter as a consultation topic (议题)."""
    principal, runtime = current_principal(), current_runtime()
    with runtime.unit_of_work() as uow:
        return _out(principal, services.accept(uow, principal, proposal_id, now=runtime.now()))


@blp.post("/proposals/<proposal_id>/reject")
@blp.arguments(RejectIn)
@blp.response(200, ProposalOut)
@requires(*domain.TRIAGE_ROLES)
def reject(body, proposal_id: str):
    """Decline the matter, saying why (the submitter is told the reason)."""
    principal, runtime = current_principal(), current_runtime()
    with runtime.unit_of_work() as uow:
        return _out(principal, services.reject(uow, principal, proposal_id, body["reason"], now=runtime.now()))


@blp.post("/proposals/<proposal_id>/merge")
@blp.arguments(MergeIn)
@blp.response(200, ProposalOut)
@requires(*domain.TRIAGE_ROLES)
def merge(body, proposal_id: str):
    """Merge a duplicate into another proposal of the community; its supporters move along."""
    principal, runtime = current_principal(), current_runtime()
    with runtime.unit_of_work() as uow:
        return _out(principal, services.merge(uow, principal, proposal_id, body["into"], now=runtime.now()))


@blp.post("/proposals/<proposal_id>/refer")
@blp.arguments(ReferIn)
@blp.response(200, ProposalOut)
@requires(*domain.TRIAGE_ROLES)
def refer(body, proposal_id: str):
    """Hand an ordinary matter (a repair) to a department: it becomes a tracked task, no consultation."""
    principal, runtime = current_principal(), current_runtime()
    with runtime.unit_of_work() as uow:
        referred = services.refer(uow, principal, proposal_id, body["department_id"], body["note"], now=runtime.now())
    return _out(principal, referred)


# -- categories and community settings ------------------------------------------------------------------


@blp.get("/categories")
@blp.response(200, CategoryOut(many=True))
def list_categories():
    """The categories proposals are filed under (问题菜单)."""
    with current_runtime().unit_of_work() as uow:
        return [{"code": code, "name": name} for code, name in services.list_categories(uow).items()]


@blp.put("/categories")
@blp.arguments(CategoryIn)
@blp.response(200, CategoryOut)
@requires(*domain.CATEGORY_ADMINS)
def put_category(body):
    """Add, rename or retire a category."""
    with current_runtime().unit_of_work() as uow:
        services.put_category(uow, current_principal(), body["code"], body["name"], body["active"])
    return body


@blp.get("/communities/<community_code>/settings")
@blp.response(200, SettingsOut)
def get_settings(community_code: str):
    """A community's intake rules."""
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        settings = services.community_settings(
            uow, current_principal(), community_code, default_threshold=runtime.settings.support_threshold
        )
    return asdict(settings)


@blp.put("/communities/<community_code>/settings")
@blp.arguments(SettingsIn)
@blp.response(200, SettingsOut)
@requires(*domain.TRIAGE_ROLES)
def put_settings(body, community_code: str):
    """Set how many co-signatures make a proposal of this community eligible for consultation."""
    with current_runtime().unit_of_work() as uow:
        settings = services.put_community_settings(
            uow, current_principal(), community_code, support_threshold=body["support_threshold"]
        )
    return asdict(settings)
