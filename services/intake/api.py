"""Intake's HTTP routes (thin: parse, call the domain, store, emit)."""

from dataclasses import asdict
from datetime import UTC, datetime

from flask_smorest import Blueprint
from sqlalchemy import insert, select

from services.intake import domain, events
from services.intake.models import divisions, proposals
from services.intake.schemas import ProposalIn, ProposalOut
from shared.divisions import Registry
from shared.http import current_principal, requires
from shared.problems import NotFound
from shared.service import current_runtime

blp = Blueprint("proposals", __name__, url_prefix="/api/v1/intake/proposals", description="居民提出的事项(百姓点事)")
registry = Registry(divisions)


# Who may raise a matter: residents, workers recording one for a resident, officials raising a
# top-down topic, district systems relaying hotline cases. Departments and supervisors only read.
SUBMITTERS = ("resident", "community_worker", "street_admin", "district_admin", "city_operator", "system")


@blp.post("")
@blp.arguments(ProposalIn)
@blp.response(201, ProposalOut)
@requires(*SUBMITTERS)
def submit_proposal(data):
    """Submit a proposal for a community."""
    principal = current_principal()
    with current_runtime().unit_of_work() as uow:
        proposal = domain.submit(
            principal=principal,
            community=registry.active_community(uow.session, data["community_code"]),
            now=datetime.now(UTC),
            **data,
        )
        uow.session.execute(insert(proposals).values(**asdict(proposal)))
        events.proposal_submitted(uow, proposal)
    return proposal


@blp.get("/<proposal_id>")
@blp.response(200, ProposalOut)
def get_proposal(proposal_id: str):
    """One proposal, if it lies in the caller's scope."""
    principal = current_principal()
    with current_runtime().db.sessions() as session:
        row = session.execute(select(proposals).where(proposals.c.id == proposal_id)).mappings().first()
    if row is None or not principal.covers(row["community_code"]):
        raise NotFound("建议不存在或不在您的范围内")
    return dict(row)


def blueprints():
    return [blp]
