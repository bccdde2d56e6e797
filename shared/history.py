"""History tables of a lifecycle: one row per ``Transition``, the same shape for every service."""

from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select
from sqlalchemy.orm import Session

from shared.db import UTCDateTime
from shared.lifecycle import Transition
from shared.records import fields_of


def history_table(metadata: MetaData, name: str, subject: str, *, status_length: int, reason_length: int) -> Table:
    """A history table ``name`` whose ``subject`` column (e.g. ``proposal_id``) names what moved."""
    return Table(
        name,
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column(subject, String(36), nullable=False, index=True),
        Column("from_status", String(status_length), nullable=True),
        Column("to_status", String(status_length), nullable=False),
        Column("actor_id", String(64), nullable=False),
        Column("actor_role", String(32), nullable=False),
        Column("reason", String(reason_length), nullable=True),
        Column("at", UTCDateTime(), nullable=False),
    )


def _subject(table: Table) -> str:
    return next(c.name for c in table.columns if c.name.endswith("_id") and c.name != "actor_id")


def record(session: Session, table: Table, *transitions: Transition) -> None:
    subject = _subject(table)
    rows = []
    for transition in transitions:
        row = fields_of(transition)
        row[subject] = row.pop("subject_id")
        rows.append(row)
    if rows:
        session.execute(insert(table), rows)


def history(session: Session, table: Table, subject_id: str) -> list[dict]:
    """Every line of one subject's history, oldest first."""
    column = table.c[_subject(table)]
    query = select(table).where(column == subject_id).order_by(table.c.at, table.c.id)
    return [dict(row) for row in session.execute(query).mappings()]
