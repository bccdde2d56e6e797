"""The whole intake chain through the gateway, on RabbitMQ and PostgreSQL, in both run modes:
submit → co-sign to the threshold → accept; every step's event is seen on the real broker."""

from __future__ import annotations

from werkzeug.test import Client

from tests.conftest import YANLIUYUAN
from tests.integration.processes import Http
from tests.support import wait_until

EXPECTED = [
    "intake.proposal.submitted",
    "intake.proposal.supported",
    "intake.proposal.supported",
    "intake.proposal.eligible",
    "intake.proposal.accepted",
]


def run_chain(http: Http, auth) -> str:
    worker = auth("community_worker", YANLIUYUAN, subject="worker")
    status, _ = http.call("PUT", f"/api/v1/intake/communities/{YANLIUYUAN}/settings", worker, {"support_threshold": 2})
    assert status == 200
    body = {
        "community_code": YANLIUYUAN,
        "title": "红光市场3号楼地下管网堵塞",
        "description": "地下管网经常堵塞,污水外溢",
        "category": "environment",
    }
    status, created = http.call("POST", "/api/v1/intake/proposals", auth("resident", YANLIUYUAN, subject="a"), body)
    assert status == 201, created
    proposal = created["id"]
    for neighbour in ("b", "c"):
        status, supported = http.call(
            "POST", f"/api/v1/intake/proposals/{proposal}/support", auth("resident", YANLIUYUAN, subject=neighbour)
        )
        assert status == 200, supported
    assert supported["status"] == "eligible"
    status, accepted = http.call("POST", f"/api/v1/intake/proposals/{proposal}/accept", worker)
    assert status == 200 and accepted["status"] == "accepted"
    return proposal


def test_chain_in_all_mode(settings, platform, with_divisions, auth, observed_events):
    from xieshang.server import build, shutdown

    assembly = build(settings, "all")
    try:
        run_chain(Http(client=Client(assembly.http_entry)), auth)
        seen: list[str] = []
        wait_until(lambda: seen.extend(observed_events()) or seen == EXPECTED, timeout=20, what=f"events, got {seen}")
    finally:
        shutdown(assembly)


def test_chain_with_each_target_in_its_own_process(processes, with_divisions, auth, observed_events):
    intake = processes.start("intake-api")
    gateway = processes.start("gateway", XIESHANG_INTAKE_URL=intake)
    run_chain(Http(base_url=gateway), auth)
    seen: list[str] = []
    wait_until(lambda: seen.extend(observed_events()) or seen == EXPECTED, timeout=20, what=f"events, got {seen}")
