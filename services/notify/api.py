"""Notify's HTTP routes: the caller's in-app inbox."""

from datetime import UTC, datetime

from flask_smorest import Blueprint
from sqlalchemy import func, select, update

from services.notify.models import notifications
from services.notify.schemas import InboxOut, NotificationOut
from shared.http import current_principal
from shared.problems import NotFound
from shared.service import current_runtime

blp = Blueprint("inbox", __name__, url_prefix="/api/v1/notify/inbox", description="应用内消息")


@blp.get("")
@blp.response(200, InboxOut)
def list_inbox():
    """The caller's newest app notifications and how many are unread."""
    me = current_principal().subject
    n = notifications.c
    with current_runtime().db.sessions() as session:
        items = (
            session.execute(
                select(notifications)
                .where(n.recipient_id == me, n.channel == "app")
                .order_by(n.created_at.desc())
                .limit(50)
            )
            .mappings()
            .all()
        )
        unread = session.scalar(
            select(func.count())
            .select_from(notifications)
            .where(n.recipient_id == me, n.channel == "app", n.read_at.is_(None))
        )
    return {"unread": unread, "items": [dict(i) for i in items]}


@blp.post("/<notification_id>/read")
@blp.response(200, NotificationOut)
def mark_read(notification_id: str):
    """Mark one of the caller's notifications read."""
    me = current_principal().subject
    n = notifications.c
    with current_runtime().db.transaction() as session:
        session.execute(
            update(notifications)
            .where(n.id == notification_id, n.recipient_id == me, n.read_at.is_(None))
            .values(read_at=datetime.now(UTC))
        )
        row = (
            session.execute(select(notifications).where(n.id == notification_id, n.recipient_id == me))
            .mappings()
            .first()
        )
    if row is None:
        raise NotFound("消息不存在")
    return dict(row)


def blueprints():
    from services.notify.contacts_api import blp as contacts

    return [blp, contacts]
