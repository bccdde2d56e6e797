"""The first thread through the wiring, in the embedded ``all`` mode: a proposal posted through the
gateway becomes ``intake.proposal.submitted``, and notify stores an in-app message for its
submitter. Divisions reach intake the real way: loaded into tracking, replicated by events."""

import pytest
from werkzeug.test import Client

from services.tracking import services as tracking_services
from tests.conftest import YANLIUYUAN
from tests.support import wait_until
from xieshang.server import build, shutdown


@pytest.fixture
def running(platform, settings):
    assembly = build(settings, "all")
    yield assembly
    shutdown(assembly)


def test_proposal_reaches_the_submitters_inbox(running, divisions, auth):
    tracking = running.platform.runtime("tracking")
    with tracking.unit_of_work() as uow:
        tracking_services.load_divisions(uow, divisions)
    gateway = Client(running.http_entry)
    headers = auth("resident", YANLIUYUAN, subject="resident-42")
    proposal = {
        "community_code": YANLIUYUAN,
        "title": "红光市场3号楼地下管网堵塞",
        "description": "下水道经常堵塞外溢",
        "category": "environment",
    }

    def submitted():
        response = gateway.post("/api/v1/intake/proposals", json=proposal, headers=headers)
        return response if response.status_code == 201 else None

    created = wait_until(submitted, what="intake to know the community").json
    inbox = wait_until(
        lambda: gateway.get("/api/v1/notify/inbox", headers=headers).json["items"], what="in-app message"
    )
    assert inbox[0]["body"] == "您提交的建议“红光市场3号楼地下管网堵塞”已收到,社区将尽快处理。"
    assert gateway.get(f"/api/v1/intake/proposals/{created['id']}", headers=headers).status_code == 200
    # Someone else's inbox stays empty.
    assert gateway.get("/api/v1/notify/inbox", headers=auth("resident", YANLIUYUAN)).json["unread"] == 0


def test_gateway_readiness_covers_every_part(running):
    gateway = Client(running.http_entry)
    ready = wait_until(lambda: (r := gateway.get("/readyz")).status_code == 200 and r, what="ready")
    assert "intake.database" in ready.json["checks"] and "notify.consumer" in ready.json["checks"]
