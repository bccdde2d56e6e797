"""Loading the division registry, which tracking owns (the denominator of coverage)."""

from __future__ import annotations

from services.tracking import events
from services.tracking.models import divisions
from shared.division_registry import upsert
from shared.divisions import Division
from shared.uow import UnitOfWork


def load(uow: UnitOfWork, loaded: list[Division], resync: bool = False) -> list[Division]:
    """Upsert a file's divisions; publish those that are new or changed (all of them when
    ``resync``, to rebuild a replica). Returns the published ones."""
    changed = loaded if resync else [d for d in loaded if uow.divisions.get(d.code) != d]
    upsert(uow.session, divisions, changed)
    if changed:
        events.divisions_changed(uow, changed)
    return changed
