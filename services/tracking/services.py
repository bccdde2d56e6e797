"""Tracking's use cases: the division registry it owns (the denominator of coverage)."""

from __future__ import annotations

from services.tracking import domain, events, repository
from shared.divisions import Division
from shared.principal import Principal
from shared.problems import NotFound
from shared.uow import UnitOfWork


def list_divisions(uow: UnitOfWork, principal: Principal, parent: str | None) -> list[Division]:
    """Divisions under a parent (default: the caller's scope), limited to the caller's scope."""
    return repository.active_divisions(uow.session, scope=principal.scope, parent=parent)


def get_division(uow: UnitOfWork, principal: Principal, code: str) -> Division:
    division = uow.divisions.get(code)
    if division is None or not domain.division_visible(principal, code):
        raise NotFound("区划不存在")
    return division


def load_divisions(uow: UnitOfWork, loaded: list[Division], resync: bool = False) -> list[Division]:
    """Upsert a file's divisions; publish those that are new or changed (all of them when
    ``resync``, to rebuild a replica). Returns the published ones."""
    changed = domain.changed_divisions(loaded, repository.stored(uow.session, [d.code for d in loaded]), resync)
    repository.store(uow.session, changed)
    if changed:
        events.divisions_changed(uow, changed)
    return changed
