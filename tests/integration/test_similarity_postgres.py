"""The duplicate index on PostgreSQL: every test of ``tests/unit/test_similarity.py`` again, where the index
writes and counts with arrays (``unnest``, ``integer[]`` postings) instead of SQLite's plain statements."""

from __future__ import annotations

import pytest

from shared.db import Database
from tests.unit.test_similarity import *  # noqa: F403 - the same tests, on another database


@pytest.fixture
def db(make_database):
    database = Database(make_database("similarity"), "intake")
    yield database
    database.engine.dispose()
