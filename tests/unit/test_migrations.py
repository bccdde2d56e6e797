"""Each service's Alembic scripts build exactly the schema its models describe."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from shared.config import SERVICES


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_match_models(platform, service):
    runtime = platform.runtime(service)
    with runtime.db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), runtime.spec.metadata)
    assert diff == []


def test_upgrade_is_repeatable(platform):
    platform.migrate()  # already at head: a no-op, not an error
