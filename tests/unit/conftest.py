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
