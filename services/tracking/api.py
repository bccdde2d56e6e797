"""Tracking's HTTP routes: the division registry it owns."""

from flask_smorest import Blueprint

from services.tracking import services
from services.tracking.schemas import DivisionOut, DivisionQuery
from shared.http import current_principal
from shared.service import current_runtime

blp = Blueprint("divisions", __name__, url_prefix="/api/v1/tracking/divisions", description="区划(统计用区划代码)")


@blp.get("")
@blp.arguments(DivisionQuery, location="query")
@blp.response(200, DivisionOut(many=True))
def list_divisions(query):
    """Divisions under a parent (default: the caller's scope), limited to the caller's scope."""
    with current_runtime().unit_of_work() as uow:
        found = services.list_divisions(uow, current_principal(), query["parent"])
    return [d.to_dict() for d in found]


@blp.get("/<code>")
@blp.response(200, DivisionOut)
def get_division(code: str):
    """One division."""
    with current_runtime().unit_of_work() as uow:
        return services.get_division(uow, current_principal(), code).to_dict()
