"""Tracking's HTTP routes: the division registry it owns."""

from flask_smorest import Blueprint
from sqlalchemy import select

from services.tracking.models import divisions
from services.tracking.schemas import DivisionOut, DivisionQuery
from shared.division_registry import DivisionRegistry
from shared.http import current_principal
from shared.problems import NotFound
from shared.service import current_runtime

blp = Blueprint("divisions", __name__, url_prefix="/api/v1/tracking/divisions", description="区划(统计用区划代码)")


def _visible(code: str, scope: str) -> bool:
    """A caller sees its own scope, everything inside it, and the areas above it (for breadcrumbs)."""
    return code.startswith(scope) or scope.startswith(code.rstrip("0"))


@blp.get("")
@blp.arguments(DivisionQuery, location="query")
@blp.response(200, DivisionOut(many=True))
def list_divisions(query):
    """Divisions under a parent (default: the caller's scope), limited to the caller's scope."""
    scope = current_principal().scope
    d = divisions.c
    stmt = select(divisions).where(d.active.is_(True)).order_by(d.code)
    if query["parent"]:
        stmt = stmt.where(d.parent_code == query["parent"])
    stmt = stmt.where(d.code.startswith(scope)) if scope else stmt
    with current_runtime().db.sessions() as session:
        return [dict(r) for r in session.execute(stmt.limit(1000)).mappings()]


@blp.get("/<code>")
@blp.response(200, DivisionOut)
def get_division(code: str):
    """One division."""
    scope = current_principal().scope
    with current_runtime().db.sessions() as session:
        division = DivisionRegistry(session, divisions).get(code)
    if division is None or not _visible(code, scope):
        raise NotFound("区划不存在")
    return division.to_dict()


def blueprints():
    return [blp]
