"""The whole intake chain through the gateway, on RabbitMQ and PostgreSQL, in both run modes:
submit → co-sign to the threshold → accept; every step's event is seen on the real broker. And a
referral, which may name only an organisation tracking registered (its event replicated to intake
over the broker)."""

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


def intake_events(seen: list[str]) -> list[str]:
    """Intake's among the events seen (in all mode, tracking relays its registry's load too)."""
    return [event_type for event_type in seen if event_type.startswith("intake.")]


def test_chain_in_all_mode(settings, platform, with_divisions, auth, observed_events):
    from xieshang.server import build, shutdown

    assembly = build(settings, "all")
    try:
        run_chain(Http(client=Client(assembly.http_entry)), auth)
        seen: list[str] = []

        def all_seen() -> bool:
            seen.extend(observed_events())
            return intake_events(seen) == EXPECTED

        wait_until(all_seen, timeout=20, what="intake's events")
    finally:
        shutdown(assembly)


def test_chain_with_each_target_in_its_own_process(processes, with_divisions, auth, observed_events):
    intake = processes.start("intake-api")
    gateway = processes.start("gateway", XIESHANG_INTAKE_URL=intake)
    run_chain(Http(base_url=gateway), auth)
    seen: list[str] = []
    wait_until(lambda: seen.extend(observed_events()) or seen == EXPECTED, timeout=20, what=f"events, got {seen}")


def test_a_referral_names_an_organisation_tracking_registered(settings, platform, with_divisions, auth,
                                                              observed_events):  # fmt: skip
    from xieshang.server import build, shutdown

    assembly = build(settings, "all")
    try:
        http = Http(client=Client(assembly.http_entry))
        district = auth("district_admin", "341702", subject="district")
        lighting = {"kind": "department", "name": "贵池区路灯管理所", "scope": "341702"}
        status, registered = http.call("PUT", "/api/v1/tracking/organisations/guichi-lighting", district, lighting)
        assert status == 200, registered
        body = {"community_code": YANLIUYUAN, "title": "路灯不亮", "description": "三号楼前路灯坏了",
                "category": "environment"}  # fmt: skip
        status, created = http.call("POST", "/api/v1/intake/proposals", auth("resident", YANLIUYUAN), body)
        assert status == 201, created
        refer = f"/api/v1/intake/proposals/{created['id']}/refer"
        worker = auth("community_worker", YANLIUYUAN, subject="worker")
        status, refused = http.call("POST", refer, worker, {"department_id": "dept-unknown"})
        assert (status, refused["detail"], refused["field"]) == (422, "责任单位未登记或不在本辖区", "department_id")

        def referred():  # refused (and nothing written) until the replica has heard of it
            status, answer = http.call("POST", refer, worker, {"department_id": "guichi-lighting", "note": "路灯维修"})
            return status == 200 and answer

        answer = wait_until(referred, timeout=20, interval=0.2, what="the organisation in intake's replica")
        assert (answer["status"], answer["department_id"]) == ("referred", "guichi-lighting")
        seen: list[str] = []
        wanted = {"tracking.organisations.changed", "intake.proposal.referred"}
        wait_until(lambda: seen.extend(observed_events()) or wanted <= set(seen), timeout=20, what=f"{wanted}")
        assert seen.count("intake.proposal.referred") == 1
    finally:
        shutdown(assembly)


def test_likely_duplicates_are_found_before_and_after_intake_s_worker_indexes_them(processes, with_divisions, auth,
                                                                                   settings):  # fmt: skip
    """The submission stores the matter only; the look-up finds it at once (among the community's recent
    matters not indexed yet) and still once intake's worker, its own process, has indexed it. Merged away,
    it is suggested no more."""
    from sqlalchemy import create_engine, func, select

    from services.intake.models import duplicates

    intake = processes.start("intake-api")
    processes.start("intake-worker")
    http = Http(base_url=processes.start("gateway", XIESHANG_INTAKE_URL=intake))
    resident = auth("resident", YANLIUYUAN, subject="a")
    worker = auth("community_worker", YANLIUYUAN, subject="worker")
    ids = []
    for title, description in (("绣春巷开水炉扰民", "绣春巷的开水炉每天清晨鼓风,噪音很大"),
                               ("开水炉噪音扰民(绣春巷)", "绣春巷口开水房锅炉一早就响,吵得睡不着")):  # fmt: skip
        body = {"community_code": YANLIUYUAN, "title": title, "description": description, "category": "environment"}
        status, created = http.call("POST", "/api/v1/intake/proposals", resident, body)
        assert status == 201 and "possible_duplicates" not in created
        ids.append(created["id"])
    similar = f"/api/v1/intake/proposals/similar?community={YANLIUYUAN}&title=%E7%BB%A3%E6%98%A5%E5%B7%B7%E5%BC%80%E6%B0%B4%E7%82%89%E5%A4%AA%E5%90%B5"  # noqa: E501 - 绣春巷开水炉太吵

    def found() -> list[str]:
        status, answer = http.call("GET", similar, resident)
        assert status == 200, answer
        return sorted(item["id"] for item in answer["items"])

    assert found() == sorted(ids)
    engine = create_engine(settings.database_url("intake"))
    try:

        def indexed() -> int:
            with engine.connect() as conn:
                return conn.scalar(
                    select(func.count()).select_from(duplicates.features).where(duplicates.features.c.live)
                )

        wait_until(lambda: indexed() == 2, timeout=20, what="intake's worker indexing both")
        assert found() == sorted(ids)
        status, _ = http.call("POST", f"/api/v1/intake/proposals/{ids[1]}/merge", worker, {"into": ids[0]})
        assert status == 200
        assert found() == [ids[0]] and indexed() == 1
    finally:
        engine.dispose()
