"""Fixtures of the services' unit tests (the platform ones are in tests/conftest.py)."""

from datetime import UTC, datetime

import pytest

from tests.conftest import YANLIUYUAN


@pytest.fixture
def intake(platform, with_divisions):
    return platform.runtime("intake")


@pytest.fixture
def client(intake):
    """A client of intake's API alone (no gateway in front)."""
    return intake.create_api().test_client()


# Organisations tracking registered for 贵池区 (to whom a community's matters may be referred).
GUICHI_ORGANISATIONS = (
    {"id": "dept-guichi-lighting", "kind": "department", "name": "贵池区路灯管理所", "scope": "341702", "active": True},
    {"id": "guichi-zhujianju", "kind": "department", "name": "贵池区住建局", "scope": "341702", "active": True},
)


@pytest.fixture
def register_organisations():
    """``register_organisations(service, *records)``: a ``tracking.organisations.changed`` of these
    records applied through intake's handler (``service``: intake's runtime or memory service), as
    replication leaves intake's replica."""
    from services.intake.handlers import HANDLERS
    from shared.events import new_event

    def register(service, *records: dict) -> None:
        event = new_event(
            "tracking.organisations.changed", {"organisations": list(records)}, producer="tracking", division_code=None
        )
        with service.unit_of_work() as uow:
            HANDLERS[event.type](uow, event)

    return register


@pytest.fixture
def with_organisations(intake, register_organisations):
    """Intake's replica of tracking's organisations holding 贵池区's (``GUICHI_ORGANISATIONS``)."""
    register_organisations(intake, *GUICHI_ORGANISATIONS)
    return GUICHI_ORGANISATIONS


@pytest.fixture
def register_people():
    """``register_people(service, {person_id: community_code, …})``: each person the account of a
    contact of notify's directory in that community, told by a ``notify.contacts.changed`` applied
    through ``service``'s handler (meetings' runtime or memory service), as replication leaves
    meetings' replica of whom an invitation may name. Returns the contact ids by person."""
    from services.meetings.handlers import HANDLERS
    from shared.events import new_event

    def register(service, people: dict[str, str]) -> dict[str, str]:
        ids = {person: f"contact-{person}" for person in people}
        records = [
            {"contact_id": ids[person], "app_user_id": person, "kind": "resident", "community_code": community,
             "removed": False}
            for person, community in people.items()
        ]  # fmt: skip
        event = new_event("notify.contacts.changed", {"contacts": records}, producer="notify", division_code=None)
        with service.unit_of_work() as uow:
            HANDLERS[event.type](uow, event)
        return ids

    return register


@pytest.fixture
def notify(platform, with_divisions):
    return platform.runtime("notify")


@pytest.fixture
def add_contact(notify):
    """A contact in notify's directory, stored as the contacts API stores it; returns its id."""
    from services.notify import domain, repository
    from services.notify.phones import vault_for

    vault = vault_for(notify.settings)

    def add(phone="13800138000", *, community=YANLIUYUAN, kind="resident", app_user_id=None, department_id=None,
            channels=None, opt_outs=None, quiet=("22:00", "07:00")) -> str:  # fmt: skip
        contact = domain.new_contact(
            kind=kind, community_code=community, department_id=department_id, app_user_id=app_user_id,
            channels=channels, quiet_start=quiet[0], quiet_end=quiet[1], opt_outs=opt_outs, now=datetime.now(UTC),
        )  # fmt: skip
        with notify.db.transaction() as session:
            repository.add(session, vault, contact, phone)
        return contact.id

    return add
