"""The organisations that carry matters out (职能部门, 物业公司, 业委会, 社会组织, 驻区单位), as the
services that name them keep them: plain values, importable by a domain.

The tracking service owns the registry and publishes ``tracking.organisations.changed`` when one
is registered or changes; intake (whom a referral names) and meetings (who carries a resolution
out) keep a replica from those events. This module is the replica's record and the rule of whom
an organisation serves; its table, upsert and look-ups are in ``shared.organisation_registry``."""

from __future__ import annotations

from dataclasses import dataclass

EVENT_TYPE = "tracking.organisations.changed"


@dataclass(frozen=True)
class Organisation:
    """A registered organisation as a replica knows it. ``scope``: the division-code prefix it
    serves."""

    id: str
    kind: str
    name: str
    scope: str
    active: bool = True


def serves(organisation: Organisation, division_code: str) -> bool:
    """Whether ``organisation`` may take a matter of a division (``division_code``, a code or the
    prefix a division's scope is checked with): an active one whose scope contains the division (a
    district's department for a community) or lies inside it (a community's property company for
    its street)."""
    scope = organisation.scope
    return organisation.active and (division_code.startswith(scope) or scope.startswith(division_code))


def from_payload(payload: dict) -> list[Organisation]:
    """The organisations a ``tracking.organisations.changed`` tells of."""
    return [
        Organisation(id=o["id"], kind=o["kind"], name=o["name"], scope=o["scope"], active=o["active"])
        for o in payload["organisations"]
    ]
