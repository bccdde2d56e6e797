"""Tracking's tables: the division registry it owns, plus outbox/inbox."""

from sqlalchemy import MetaData

from shared.bus.tables import bus_tables
from shared.division_registry import division_table

metadata = MetaData()
bus = bus_tables(metadata)
divisions = division_table(metadata)
