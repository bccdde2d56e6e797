"""Who is calling: a ``Principal`` (subject, role, division-code scope) and the roles and scopes
there are. Plain values, so domains can check callers without importing token handling.

A scope is a division-code prefix: ``3417`` covers all of 池州市, ``341702001001`` one community.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.problems import Forbidden

ROLES = (
    "resident",
    "community_worker",
    "street_admin",
    "district_admin",
    "department",
    "supervisor",
    "city_operator",
    "system",
)


# Which scope prefixes a role may hold: a community worker one community (12 digits), a street
# admin one street (9), a district admin one county/district (6), a city operator a city (4) or a
# province (2); departments, supervisors and systems any prefix their work needs.
SCOPE_LENGTHS = {
    "resident": {12},
    "community_worker": {12},
    "street_admin": {9},
    "district_admin": {6},
    "city_operator": {2, 4},
    "department": {2, 4, 6, 9, 12},
    "supervisor": {2, 4, 6, 9, 12},
    "system": {2, 4, 6, 9, 12},
}


def validate_scope(role: str, scope: str) -> None:
    """Raise ``ValueError`` (Chinese message) unless ``scope`` is a prefix ``role`` may hold."""
    if role not in ROLES:
        raise ValueError(f"未知角色 {role},可选:{', '.join(ROLES)}")
    if not scope.isdigit() or len(scope) not in SCOPE_LENGTHS[role]:
        lengths = "、".join(str(n) for n in sorted(SCOPE_LENGTHS[role]))
        raise ValueError(f"角色 {role} 的范围必须是 {lengths} 位区划代码前缀")


@dataclass(frozen=True)
class Principal:
    subject: str
    role: str
    scope: str

    def covers(self, division_code: str) -> bool:
        return division_code.startswith(self.scope)

    def require_scope(self, division_code: str) -> None:
        if not self.covers(division_code):
            raise Forbidden("该区划不在您的管辖范围内", division_code=division_code)

    def require_role(self, *roles: str) -> None:
        if self.role not in roles:
            raise Forbidden("您的角色无权执行此操作")
