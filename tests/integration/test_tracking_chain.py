"""Outcomes carried out and judged, through the gateway on RabbitMQ and PostgreSQL: an organisation
registered in tracking reaches meetings' replica; a consultation's published resolution becomes its
task; the organisation signs for it (签收), reports progress and completes it; the residents who
raised, co-signed and deliberated the matter rate it; the clock evaluates it once the window has
closed; the community closes it — and the proposal is closed in intake and in Open311, the
consultation counted in the coverage."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from werkzeug.test import Client

from shared.clock import FixedClock
from tests.conftest import YANLIUYUAN
from tests.integration.processes import Http
from tests.support import wait_until

C = "/api/v1/meetings/consultations"
T = "/api/v1/tracking"
HOUSING = {"kind": "department", "name": "贵池区住房和城乡建设局", "scope": "341702"}


@pytest.fixture
def env(env):
    return {**env, "XIESHANG_NOTICE_DAYS": "0", "XIESHANG_RATE_LIMIT": "100000"}


def ok(result, status=200):
    code, body = result
    assert code == status, body
    return body


def test_a_resolution_is_carried_out_rated_and_closed(settings, platform, with_divisions, auth):
    from xieshang.server import build, shutdown

    assembly = build(settings, "all")
    try:
        http = Http(client=Client(assembly.http_entry))
        operator = auth("city_operator", "3417", subject="operator")
        worker = auth("community_worker", YANLIUYUAN, subject="organiser")
        clerk = auth("department", "341702", subject="housing-clerk")
        people = {name: auth("resident", YANLIUYUAN, subject=name) for name in ("rep-1", "cosigner-2", "member-3")}

        for number, person in enumerate(("rep-1", "member-3"), start=1):  # invited later: contacts of notify's
            contact = {"phone": f"1380013800{number}", "community_code": YANLIUYUAN, "kind": "resident",
                       "app_user_id": person}  # fmt: skip
            ok(http.call("POST", "/api/v1/notify/contacts", worker, contact), 201)
        ok(http.call("PUT", f"{T}/organisations/gc-housing", operator, HOUSING))
        ok(http.call("POST", f"{T}/organisations/gc-housing/members", operator, {"account_id": "housing-clerk"}))

        proposal = ok(http.call("POST", "/api/v1/intake/proposals", people["rep-1"], {
            "community_code": YANLIUYUAN, "title": "杏花家园停车难", "description": "空地可改停车场",
            "category": "management"}), 201)  # fmt: skip
        ok(http.call("POST", f"/api/v1/intake/proposals/{proposal['id']}/support", people["cosigner-2"]))
        ok(http.call("POST", f"/api/v1/intake/proposals/{proposal['id']}/accept", worker))

        starts_at = datetime.now(UTC) + timedelta(seconds=6)
        consultation = ok(http.call("POST", C, worker, {
            "division_code": YANLIUYUAN, "title": "杏花家园停车场议事会", "form": "community_council",
            "mode": "offline", "starts_at": starts_at.isoformat(), "venue": "烟柳园社区议事厅",
            "materials": ["https://docs.example/plan.pdf"]}), 201)  # fmt: skip
        cid = consultation["id"]
        wait_until(lambda: http.call("POST", f"{C}/{cid}/topics", worker, {"proposal_id": proposal["id"]})[0] == 201,
                   timeout=20, what="the accepted proposal in meetings")  # fmt: skip
        topic_id = ok(http.call("GET", f"{C}/{cid}", worker))["topics"][0]["id"]
        for person in ("rep-1", "member-3"):  # once their contacts have reached meetings' replica by event
            invitation = {"person_id": person, "category": "resident_representative"}
            wait_until(lambda i=invitation: http.call("POST", f"{C}/{cid}/participants", worker, i)[0] == 201,
                       timeout=20, what="the contact in meetings' replica of the directory")  # fmt: skip
        ok(http.call("POST", f"{C}/{cid}/announce", worker))
        code = ok(http.call("GET", f"{C}/{cid}/attendance-code", worker))["attendance_code"]
        for person in ("rep-1", "member-3"):
            ok(http.call("POST", f"{C}/{cid}/sign-in", people[person], {"code": code}))
        time.sleep(max(0.0, (starts_at - datetime.now(UTC)).total_seconds()) + 0.2)
        ok(http.call("POST", f"{C}/{cid}/start", worker))
        for person in ("rep-1", "member-3"):
            ok(http.call("POST", f"{C}/{cid}/votes", people[person], {"topic_id": topic_id, "choice": "support"}), 201)
        ok(http.call("POST", f"{C}/{cid}/decide", worker))
        deadline = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
        resolution = {"topic_id": topic_id, "organisation_id": "gc-housing", "deadline": deadline,
                      "agreed": "利用空地建设停车场"}  # fmt: skip
        # The organisation reaches meetings' replica by event; until then the outcome is refused.
        wait_until(lambda: http.call("POST", f"{C}/{cid}/publish", worker,
                                     {"minutes": "一致同意", "resolutions": [resolution]})[0] == 200,
                   timeout=20, what="the organisation in meetings")  # fmt: skip

        tasks = wait_until(lambda: ok(http.call("GET", f"{T}/tasks", clerk))["items"], timeout=20, what="the task")
        (task,) = tasks
        assert (task["organisation_id"], task["proposal_ids"], task["status"]) == ("gc-housing", [proposal["id"]],
                                                                                  "assigned")  # fmt: skip
        ok(http.call("POST", f"{T}/tasks/{task['id']}/accept", clerk))
        ok(http.call("POST", f"{T}/tasks/{task['id']}/progress", clerk, {"percent": 50, "note": "已完成规划"}), 201)
        wait_until(lambda: http.call("GET", f"/api/v1/intake/proposals/{proposal['id']}", worker)[1]["status"]
                   == "in_progress", timeout=20, what="in progress in intake")  # fmt: skip
        ok(http.call("POST", f"{T}/tasks/{task['id']}/complete", clerk, {"summary": "停车场已建成,新增车位40个"}))
        wait_until(lambda: http.call("GET", f"/api/v1/intake/proposals/{proposal['id']}", worker)[1]["status"]
                   == "resolved", timeout=20, what="resolved in intake")  # fmt: skip

        # The submitter, the co-signer and the participant rate it; a passer-by may not; nobody twice.
        for person, choice in (
            ("rep-1", "satisfied"),
            ("cosigner-2", "basically_satisfied"),
            ("member-3", "unsatisfied"),
        ):
            ok(http.call("POST", f"{T}/tasks/{task['id']}/ratings", people[person], {"choice": choice}), 201)
        assert http.call("POST", f"{T}/tasks/{task['id']}/ratings", people["rep-1"], {"choice": "satisfied"})[0] == 409
        stranger = auth("resident", YANLIUYUAN, subject="passer-by")
        assert http.call("POST", f"{T}/tasks/{task['id']}/ratings", stranger, {"choice": "unsatisfied"})[0] == 403
        summary = ok(http.call("GET", f"{T}/tasks/{task['id']}/ratings", worker))
        assert summary["ratings"] == 3 and summary["satisfaction_rate"] == pytest.approx(2 / 3, abs=1e-4)

        # The clock, once the rating window has closed: evaluated (one 不满意 of three: not a majority).
        (task_clock,) = [part for part in assembly.background if part.name == "tracking-clock"]
        task_clock.clock = FixedClock(datetime.now(UTC) + timedelta(days=settings.rating_window_days, hours=1))
        assert task_clock.run_once() == (0, 1)
        assert ok(http.call("GET", f"{T}/tasks/{task['id']}", worker))["status"] == "evaluated"
        ok(http.call("POST", f"{T}/tasks/{task['id']}/close", worker))
        wait_until(lambda: http.call("GET", f"/api/v1/intake/proposals/{proposal['id']}", worker)[1]["status"]
                   == "closed", timeout=20, what="closed in intake")  # fmt: skip
        history = ok(http.call("GET", f"{T}/tasks/{task['id']}/history", worker))
        steps = [h["to_status"] for h in history]  # by time: the clock's evaluation was set ahead
        assert steps[:4] == ["assigned", "accepted", "in_progress", "completed"]
        assert sorted(steps[4:]) == ["closed", "evaluated"]

        open311 = Client(assembly.http_entry).get(f"/open311/v2/requests/{proposal['id']}.json")
        assert open311.status_code == 200 and open311.json[0]["status"] == "closed"

        coverage = ok(http.call("GET", f"{T}/coverage?scope=341702001&level=community", operator))
        assert coverage["total"]["covered"] == 1 and coverage["total"]["communities"] == 4
        (yanliuyuan,) = [a for a in coverage["areas"] if a["code"] == YANLIUYUAN]
        assert yanliuyuan["covered"] == 1 and yanliuyuan["bottom_up_ratio"] == 1.0
        day = timedelta(days=1)
        since, until = (quote((datetime.now(UTC) + d).isoformat()) for d in (-day, day))
        rates = ok(http.call("GET", f"{T}/rates?scope=341702001&since={since}&until={until}", operator))
        assert (rates["assigned"], rates["responded"], rates["resolved"], rates["ratings"]) == (1, 1, 1, 3)
    finally:
        shutdown(assembly)
