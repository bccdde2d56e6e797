"""The connection pool on the real PostgreSQL: an idle connection found dead is replaced unseen, a
busy one is not pinged (``shared.db.PING_IDLE_SECONDS``)."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from shared import db as shared_db
from shared.db import Database


@pytest.fixture
def database(make_database):
    database = Database(make_database("pool"), "pool")
    yield database
    database.dispose()


@pytest.fixture
def pings(database, monkeypatch):
    """How many times the pool pinged a connection it handed out."""
    counted = []
    dialect = database.engine.dialect
    ping = dialect.do_ping
    monkeypatch.setattr(dialect, "do_ping", lambda connection: counted.append(1) or ping(connection))
    return counted


def backend_pid(database: Database) -> int:
    with database.transaction() as session:
        return session.scalar(text("SELECT pg_backend_pid()"))


def cut(database: Database, pid: int) -> None:
    url = database.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)


def test_a_connection_used_moments_ago_is_handed_out_without_a_ping(database, pings):
    first = backend_pid(database)
    for _ in range(20):
        assert backend_pid(database) == first
    assert pings == []


def test_an_idle_connection_found_closed_is_replaced_before_the_transaction_sees_it(database, pings, monkeypatch):
    dead = backend_pid(database)
    cut(database, dead)
    monkeypatch.setattr(shared_db, "PING_IDLE_SECONDS", 0.0)  # as if it had sat in the pool a while

    replaced = backend_pid(database)

    assert replaced != dead and len(pings) == 1
    monkeypatch.setattr(shared_db, "PING_IDLE_SECONDS", 60.0)
    assert backend_pid(database) == replaced and len(pings) == 1, "the new connection is not pinged"


def test_a_connection_cut_moments_after_its_use_fails_its_transaction_and_the_next_one_reconnects(database, pings):
    dead = backend_pid(database)
    cut(database, dead)

    with pytest.raises(DBAPIError) as lost:
        backend_pid(database)

    assert lost.value.connection_invalidated  # what an API answers 503 with Retry-After
    assert backend_pid(database) != dead and pings == []
