"""Tracking's rules. For now the registry's: which divisions a caller sees. (Tasks, escalation,
ratings and coverage arrive with their issue.)"""

from __future__ import annotations

from shared.divisions import Division
from shared.principal import Principal


def division_visible(principal: Principal, code: str) -> bool:
    """A caller sees its own scope, everything inside it, and the areas above it (for breadcrumbs)."""
    return principal.covers(code) or principal.scope.startswith(code.rstrip("0"))


def changed_divisions(loaded: list[Division], stored: dict[str, Division], resync: bool) -> list[Division]:
    """What a loaded file changes in the registry (all of it when ``resync``, to rebuild replicas)."""
    return loaded if resync else [d for d in loaded if stored.get(d.code) != d]
