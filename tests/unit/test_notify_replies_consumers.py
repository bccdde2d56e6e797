"""What the services do with a resident's SMS reply (``notify.reply.received``), in their handlers on
in-memory databases: intake co-signs as the contact's person and raises a matter with channel ``sms``
(its likely duplicates told with it, for the receipt); a refusal there changes nothing and does not
fail the consumer; meetings invites a resident known only by a contact as ``contact:<id>``."""

from __future__ import annotations

import pytest

from services.intake import domain as intake_domain
from services.intake import handlers as intake_handlers
from services.intake import services as intake
from services.meetings import repository as meetings_repository
from services.meetings.domain import DirectoryContact
from shared.clock import utcnow
from shared.events import new_event
from shared.principal import Principal
from tests.conftest import YANLIUYUAN

OPERATOR = Principal("operator-1", "city_operator", "3417")
PERSON = "contact:c-1"


def reply(kind: str, **facts):
    payload = {"reply_id": "r-1", "kind": kind, "person_id": PERSON, "contact_id": "c-1",
               "community_code": YANLIUYUAN, **facts}  # fmt: skip
    return new_event("notify.reply.received", payload, producer="notify", division_code=YANLIUYUAN)


@pytest.fixture
def service(memory_service):
    service = memory_service("intake")
    with service.unit_of_work() as uow:
        for code, name in intake_domain.DEFAULT_CATEGORIES.items():
            intake.put_category(uow, OPERATOR, code, name, True)
    return service


def handle(service, envelope) -> None:
    with service.unit_of_work() as uow:
        intake_handlers.HANDLERS[envelope.type](uow, envelope)


def raised(service, title: str) -> str:
    """A matter raised in the app a moment ago (the handlers take the time as they consume)."""
    with service.unit_of_work() as uow:
        submitted = intake.submit(uow, Principal("res-a", "resident", YANLIUYUAN), community_code=YANLIUYUAN,
                                  title=title, description="污水外溢", category="environment", via="app",
                                  now=utcnow())  # fmt: skip
    return submitted.proposal.id


def test_a_co_signature_by_sms_is_the_contacts_person_once_and_a_second_is_refused_quietly(service):
    pid = raised(service, "红光市场3号楼地下管网堵塞")
    handle(service, reply("support", target_id=pid))
    handle(service, reply("support", target_id=pid))  # co-signed already: refused, nothing more, no failure
    [told] = service.emitted("intake.proposal.supported")
    assert (told["supporter_id"], told["supporters"]) == (PERSON, 1)


def test_a_matter_raised_by_sms_is_submitted_by_sms_with_its_likely_duplicates(service):
    pid = raised(service, "红光市场3号楼地下管网堵塞")
    handle(service, reply("matter", title="3号楼地下管网堵塞", description="3号楼地下管网堵塞,污水外溢"))
    [_, told] = service.emitted("intake.proposal.submitted")
    assert (told["submitter_id"], told["channel"], told["category"]) == (PERSON, "sms", intake_domain.SMS_CATEGORY)
    assert told["similar"] == [{"proposal_id": pid, "title": "红光市场3号楼地下管网堵塞"}]


def test_a_resident_known_only_by_a_contact_is_at_home_as_contact_id(memory_service, clock):
    meetings = memory_service("meetings")
    told = [DirectoryContact("c-1", None, YANLIUYUAN), DirectoryContact("c-2", "rep-1", YANLIUYUAN)]
    with meetings.db.transaction() as session:
        meetings_repository.upsert_contacts(session, told, clock.now())
        assert meetings_repository.homes_of(session, "contact:c-1") == [YANLIUYUAN]
        assert meetings_repository.homes_of(session, "rep-1") == [YANLIUYUAN]
        assert meetings_repository.homes_of(session, "contact:c-2") == []  # it has an account: invited by it
