"""One resident's action can be followed across services: the request's correlation id is stamped
on the events it causes, and on the events a consumer emits while handling them."""

import json

from sqlalchemy import select

from services.intake.models import bus
from tests.conftest import YANLIUYUAN

PROPOSAL = {"community_code": YANLIUYUAN, "title": "路灯不亮", "description": "小区路灯坏了", "category": "management"}


def test_request_correlation_id_reaches_the_event(platform, with_divisions, auth):
    intake = platform.runtime("intake")
    client = intake.create_api().test_client()
    response = client.post(
        "/api/v1/intake/proposals",
        json=PROPOSAL,
        headers={**auth("resident", YANLIUYUAN), "X-Correlation-Id": "hotline-call-0042"},
    )
    assert response.status_code == 201
    with intake.db.sessions() as session:
        body = json.loads(session.execute(select(bus.outbox.c.body)).scalar_one())
    assert body["correlation_id"] == "hotline-call-0042"


def test_without_a_correlation_id_the_request_id_is_used(platform, with_divisions, auth):
    intake = platform.runtime("intake")
    client = intake.create_api().test_client()
    response = client.post(
        "/api/v1/intake/proposals",
        json=PROPOSAL,
        headers=auth("resident", YANLIUYUAN),
    )
    with intake.db.sessions() as session:
        body = json.loads(session.execute(select(bus.outbox.c.body)).scalar_one())
    assert body["correlation_id"] == response.headers["X-Request-Id"]


def test_events_emitted_by_a_handler_carry_the_incoming_correlation_id(platform, divisions):
    from services.tracking import services

    with platform.runtime("tracking").unit_of_work() as uow:
        services.load_divisions(uow, divisions[:3])
    [incoming] = uow.events
    seen = []
    consumer = platform.runtime("notify").consumer()
    consumer.handlers = {incoming.type: lambda u, e: seen.append(u.emit(e.type, e.payload, division_code=None))}
    consumer.apply({**incoming.to_dict(), "correlation_id": "corr-from-upstream"})
    assert seen[0].correlation_id == "corr-from-upstream"
