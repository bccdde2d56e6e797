"""The same state change asked N times at once, on PostgreSQL and RabbitMQ, through a real threaded
HTTP server of the whole platform: it happens once, as on the embedded default (``tests/races.py``
has the rule and its table of moves). Underneath, rows read with ``shared.sql.locked`` stay locked
until commit; read-only passes neither wait nor write."""

from __future__ import annotations

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import DBAPIError

from tests import races
from tests.support import probe_effects
from tests.unit.test_races import (  # noqa: F401 - the embedded default's suite, with PostgreSQL's env
    env,
    test_a_move_asked_at_once_happens_once,
    world,
)


def test_writers_queue_up_and_each_reads_what_the_one_before_committed(pg_probe_db):
    assert races.bumped_at_once(pg_probe_db, times=20) == races.N * 20


def test_a_read_only_transaction_neither_waits_for_a_writer_nor_sees_what_it_has_not_committed(pg_probe_db):
    assert races.read_while_a_writer_holds(pg_probe_db) == 0


def test_a_read_only_transaction_cannot_write_and_leaves_its_connection_writable(pg_probe_db):
    with pytest.raises(DBAPIError, match="read-only"), pg_probe_db.transaction(read_only=True) as session:
        session.execute(insert(probe_effects).values(event_id="e-1", n=1))
    with pg_probe_db.transaction() as session:
        session.execute(insert(probe_effects).values(event_id="e-1", n=1))
