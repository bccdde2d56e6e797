"""A dataclass record as a dict of its fields, values as they are.

``dataclasses.asdict`` deep-copies every value (a datetime through copy's reduce protocol, a list
item by item): 30 us for a proposal against 1.4 us here, ~90 us on a submission's path (the row,
the history line, the event, the answer). Use ``fields_of`` for records of plain values that are read,
not changed, afterwards; ``asdict`` stays where a record nests other dataclasses.
"""

from __future__ import annotations

import dataclasses
from functools import cache
from typing import Any


@cache
def _names(kind: type) -> tuple[str, ...]:
    return tuple(field.name for field in dataclasses.fields(kind))


def fields_of(record: Any) -> dict[str, Any]:
    """The record's fields by name (a shallow copy: a list value is the record's own list)."""
    return {name: getattr(record, name) for name in _names(type(record))}
