"""Each service's Alembic scripts build exactly the schema its models describe."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from shared.config import DATABASES
from shared.db import make_engine


@pytest.mark.parametrize("owner", DATABASES)
def test_migrations_match_models(platform, owner):
    _, metadata = platform.migrations()[owner]
    engine = make_engine(platform.settings.database_url(owner))
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), metadata)
    engine.dispose()
    assert diff == []


def test_upgrade_is_repeatable(platform):
    platform.migrate()  # already at head: a no-op, not an error
