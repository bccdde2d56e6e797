"""Meetings' tables: outbox/inbox and the division replica (consultations arrive with their issue)."""

from sqlalchemy import MetaData

from shared.bus.tables import bus_tables
from shared.divisions import division_table

metadata = MetaData()
bus = bus_tables(metadata)
divisions = division_table(metadata)
