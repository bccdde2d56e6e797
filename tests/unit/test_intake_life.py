"""A proposal's life in intake: co-signing, triage, history, and the events that move it on."""

import json

import pytest
from sqlalchemy import select

from services.intake.models import bus
from shared.events import new_event
from tests.conftest import QIUPU_COMMUNITY, XIJIE, YANLIUYUAN

P = "/api/v1/intake/proposals"


@pytest.fixture
def submit(client, auth):
    def make(community=YANLIUYUAN, subject="submitter", **changes):
        body = {
            "community_code": community,
            "title": "杏花家园地块停车场建设",
            "description": "小区停车位严重不足,希望利用空地建设停车场",
            "category": "management",
            **changes,
        }
        response = client.post(P, json=body, headers=auth("resident", community, subject=subject))
        assert response.status_code == 201, response.json
        return response.json

    return make


@pytest.fixture
def worker(auth):
    return auth("community_worker", YANLIUYUAN, subject="worker-1")


def events(intake, event_type):
    with intake.db.sessions() as session:
        bodies = session.execute(select(bus.outbox.c.body).where(bus.outbox.c.event_type == event_type)).scalars()
        return [json.loads(body)["payload"] for body in bodies]


def cosign(client, auth, proposal_id, subject, community=YANLIUYUAN):
    return client.post(f"{P}/{proposal_id}/support", headers=auth("resident", community, subject=subject))


# -- co-signing (附议) ---------------------------------------------------------------------------------


def test_co_signing_counts_once_per_resident_and_can_be_withdrawn(client, auth, submit, intake):
    proposal = submit()
    assert cosign(client, auth, proposal["id"], "neighbour-1").json["supporters"] == 1
    again = cosign(client, auth, proposal["id"], "neighbour-1")
    assert again.status_code == 409 and "已附议" in again.json["detail"]
    assert cosign(client, auth, proposal["id"], "neighbour-2").json["supporters"] == 2
    withdrawn = client.delete(
        f"{P}/{proposal['id']}/support", headers=auth("resident", YANLIUYUAN, subject="neighbour-1")
    )
    assert withdrawn.json == {"proposal_id": proposal["id"], "supporters": 1, "status": "submitted", "supported": False}
    assert [e["withdrawn"] for e in events(intake, "intake.proposal.supported")] == [False, False, True]


def test_who_may_not_co_sign(client, auth, submit):
    proposal = submit(subject="author")
    assert cosign(client, auth, proposal["id"], "author").status_code == 409  # one's own
    assert cosign(client, auth, proposal["id"], "far-away", community=QIUPU_COMMUNITY).status_code == 404
    official = client.post(f"{P}/{proposal['id']}/support", headers=auth("community_worker", YANLIUYUAN))
    assert official.status_code == 403


def test_reaching_the_communitys_threshold_makes_a_proposal_eligible(client, auth, submit, worker, intake):
    settings = client.put(
        f"/api/v1/intake/communities/{YANLIUYUAN}/settings", json={"support_threshold": 3}, headers=worker
    )
    assert settings.json == {"community_code": YANLIUYUAN, "support_threshold": 3}
    proposal = submit()
    for n in range(1, 4):
        response = cosign(client, auth, proposal["id"], f"neighbour-{n}")
    assert response.json["status"] == "eligible"
    assert events(intake, "intake.proposal.eligible") == [
        {"proposal_id": proposal["id"], "community_code": YANLIUYUAN, "supporters": 3, "threshold": 3}
    ]
    other_community = submit(community=XIJIE)  # 西街 keeps the default threshold (10)
    assert cosign(client, auth, other_community["id"], "x-1", community=XIJIE).json["status"] == "submitted"


def test_supporters_are_listed_masked(client, auth, submit):
    proposal = submit()
    cosign(client, auth, proposal["id"], "resident-8812")
    [listed] = client.get(f"{P}/{proposal['id']}/supporters", headers=auth()).json
    assert listed["supporter"] == "居民r***12"
    assert "8812" not in json.dumps(listed)


# -- triage (两委定事) -----------------------------------------------------------------------------------


def test_accepting_makes_a_topic_once(client, submit, worker, intake):
    proposal = submit()
    accepted = client.post(f"{P}/{proposal['id']}/accept", headers=worker)
    assert accepted.status_code == 200 and accepted.json["status"] == "accepted"
    twice = client.post(f"{P}/{proposal['id']}/accept", headers=worker)
    assert twice.status_code == 409 and "已列为议题" in twice.json["detail"]
    [event] = events(intake, "intake.proposal.accepted")
    assert event["actor_id"] == "worker-1" and event["origin"] == "resident"


def test_rejecting_needs_a_reason_that_the_submitter_is_told(client, submit, worker, intake):
    proposal = submit()
    assert client.post(f"{P}/{proposal['id']}/reject", json={"reason": " "}, headers=worker).status_code == 422
    rejected = client.post(f"{P}/{proposal['id']}/reject", json={"reason": "属于物业服务范围,已转物业"}, headers=worker)
    assert rejected.json["status"] == "rejected"
    [event] = events(intake, "intake.proposal.rejected")
    assert event["reason"] == "属于物业服务范围,已转物业" and event["submitter_id"] == "submitter"


def test_merging_a_duplicate_carries_its_supporters_over(client, auth, submit, worker, intake):
    original = submit(subject="first")
    duplicate = submit(subject="second", title="停车场建设(杏花家园)")
    cosign(client, auth, original["id"], "both")
    cosign(client, auth, duplicate["id"], "both")
    cosign(client, auth, duplicate["id"], "only-dup")
    merged = client.post(f"{P}/{duplicate['id']}/merge", json={"into": original["id"]}, headers=worker)
    assert merged.status_code == 200
    assert merged.json["status"] == "merged" and merged.json["merged_into"] == original["id"]
    # "both" counted once; "only-dup" and the duplicate's submitter join the original.
    assert client.get(f"{P}/{original['id']}", headers=worker).json["supporters"] == 3
    [event] = events(intake, "intake.proposal.merged")
    assert event["into_proposal_id"] == original["id"] and event["supporters_moved"] == 2


@pytest.mark.parametrize(
    ("into", "status"),
    [("self", 422), ("missing", 422), ("other_community", 422)],
)
def test_merging_needs_another_proposal_of_the_same_community(client, submit, worker, auth, into, status):
    duplicate = submit()
    target = {
        "self": duplicate["id"],
        "missing": "no-such-id",
        "other_community": submit(community=XIJIE)["id"],
    }[into]
    street = auth("street_admin", "341702001")  # sees both communities
    response = client.post(f"{P}/{duplicate['id']}/merge", json={"into": target}, headers=street)
    assert response.status_code == status, response.json


def test_referring_an_ordinary_repair_to_a_department(client, submit, worker, intake, with_organisations):
    proposal = submit(title="路灯不亮", description="三号楼前路灯坏了", category="environment")
    referred = client.post(
        f"{P}/{proposal['id']}/refer",
        json={"department_id": "dept-guichi-lighting", "note": "路灯维修"},
        headers=worker,
    )
    assert referred.json["status"] == "referred" and referred.json["department_id"] == "dept-guichi-lighting"
    [event] = events(intake, "intake.proposal.referred")
    assert event["department_id"] == "dept-guichi-lighting" and event["note"] == "路灯维修"


@pytest.mark.parametrize("department_id", ["dept-unknown", "dongzhi-housing"])
def test_a_referral_to_an_organisation_not_registered_for_the_community_is_refused(
    client, submit, worker, intake, register_organisations, department_id
):
    dongzhi = {"id": "dongzhi-housing", "kind": "department", "name": "东至县住建局", "scope": "341721", "active": True}
    register_organisations(intake, dongzhi)
    proposal = submit()
    refused = client.post(f"{P}/{proposal['id']}/refer", json={"department_id": department_id}, headers=worker)
    assert refused.status_code == 422 and refused.mimetype == "application/problem+json"
    assert (refused.json["detail"], refused.json["field"]) == ("责任单位未登记或不在本辖区", "department_id")
    assert status_of(client, worker, proposal["id"]) == "submitted"
    assert events(intake, "intake.proposal.referred") == []


def test_only_workers_and_admins_of_the_community_triage(client, submit, auth):
    proposal = submit()
    for headers, status in [
        (auth("resident", YANLIUYUAN), 403),
        (auth("department", "341702"), 403),
        (auth("community_worker", QIUPU_COMMUNITY), 404),
        (auth("street_admin", "341702002"), 404),
    ]:
        assert client.post(f"{P}/{proposal['id']}/accept", headers=headers).status_code == status


def test_history_keeps_every_step_with_who_and_why(client, submit, worker, auth):
    proposal = submit()
    client.post(f"{P}/{proposal['id']}/reject", json={"reason": "重复提交"}, headers=worker)
    history = client.get(f"{P}/{proposal['id']}/history", headers=worker).json
    assert [(h["from_status"], h["to_status"], h["actor_role"]) for h in history] == [
        (None, "submitted", "resident"),
        ("submitted", "rejected", "community_worker"),
    ]
    assert history[1]["reason"] == "重复提交"


# -- the rest of the matter's life, moved by other services' events ------------------------------------------


def consultation_event(kind, proposal_ids, **extra):
    payload = {"consultation_id": "c-1", "community_code": YANLIUYUAN, "proposal_ids": proposal_ids, **extra}
    return new_event(f"meetings.consultation.{kind}", payload, producer="meetings", division_code=YANLIUYUAN)


def task_event(kind, proposal_ids, **extra):
    payload = {"task_id": "t-1", "community_code": YANLIUYUAN, "proposal_ids": proposal_ids, **extra}
    return new_event(f"tracking.task.{kind}", payload, producer="tracking", division_code=YANLIUYUAN)


def status_of(client, worker, proposal_id):
    return client.get(f"{P}/{proposal_id}", headers=worker).json["status"]


def test_meetings_and_tracking_events_move_the_proposal_to_the_end(client, submit, worker, intake):
    proposal = submit()
    client.post(f"{P}/{proposal['id']}/accept", headers=worker)
    consumer = intake.consumer()
    steps = [
        (consultation_event("scheduled", [proposal["id"]], starts_at="2026-12-01T09:00:00+08:00"), "scheduled"),
        (consultation_event("decided", [proposal["id"]]), "decided"),
        (task_event("started", [proposal["id"]]), "in_progress"),
        (task_event("completed", [proposal["id"]]), "resolved"),
        (task_event("closed", [proposal["id"]]), "closed"),
    ]
    for event, expected in steps:
        consumer.apply(event.to_dict())
        assert status_of(client, worker, proposal["id"]) == expected
    history = client.get(f"{P}/{proposal['id']}/history", headers=worker).json
    assert [h["to_status"] for h in history][-5:] == ["scheduled", "decided", "in_progress", "resolved", "closed"]
    assert history[-1]["actor_role"] == "system"


def test_a_task_sent_back_by_the_residents_puts_the_referral_back_to_work(client, submit, worker, intake,
                                                                          with_organisations):  # fmt: skip
    proposal = submit(title="路灯不亮", description="三号楼前路灯坏了", category="environment")
    referral = {"department_id": "dept-guichi-lighting", "note": "路灯维修"}
    assert client.post(f"{P}/{proposal['id']}/refer", json=referral, headers=worker).status_code == 200
    consumer = intake.consumer()
    for kind in ("started", "completed"):
        consumer.apply(task_event(kind, [proposal["id"]]).to_dict())
    sent_back = task_event("reopened", [proposal["id"]], department_id="dept-guichi-lighting", title="路灯不亮",
                           reason="居民评价不满意,重新办理", due_at="2026-12-15T18:00:00+08:00")  # fmt: skip
    assert consumer.apply(sent_back.to_dict()) == "processed"
    assert status_of(client, worker, proposal["id"]) == "in_progress"
    last = client.get(f"{P}/{proposal['id']}/history", headers=worker).json[-1]
    assert (last["from_status"], last["to_status"]) == ("resolved", "in_progress")
    assert (last["actor_role"], last["reason"]) == ("system", "居民评价不满意,重新办理")


def test_a_cancelled_or_inconclusive_consultation_returns_the_topic(client, submit, worker, intake):
    proposal = submit()
    client.post(f"{P}/{proposal['id']}/accept", headers=worker)
    consumer = intake.consumer()
    consumer.apply(consultation_event("scheduled", [proposal["id"]], starts_at="2026-12-01T09:00:00+08:00").to_dict())
    consumer.apply(consultation_event("no_consensus", [proposal["id"]]).to_dict())
    assert status_of(client, worker, proposal["id"]) == "accepted"


def test_an_outdated_event_changes_nothing_and_unknown_topics_are_ignored(client, submit, worker, intake):
    proposal = submit()
    consumer = intake.consumer()
    # Not yet accepted: a "decided" cannot apply; a top-down topic id that intake never saw is skipped.
    assert consumer.apply(consultation_event("decided", [proposal["id"], "top-down-topic"]).to_dict()) == "processed"
    assert status_of(client, worker, proposal["id"]) == "submitted"


# -- listing and search ---------------------------------------------------------------------------------------


def test_search_filters_and_pages_stably(client, submit, auth, worker):
    for n in range(5):
        submit(title=f"楼道灯不亮 {n}", category="environment")
    submit(title="邻里节活动", category="activities")
    submit(community=XIJIE, title="西街路面破损")
    street = auth("street_admin", "341702001")
    page1 = client.get(f"{P}?category=environment&limit=2", headers=street).json
    page2 = client.get(f"{P}?category=environment&limit=2&cursor={page1['next_cursor']}", headers=street).json
    page3 = client.get(f"{P}?category=environment&limit=2&cursor={page2['next_cursor']}", headers=street).json
    titles = [p["title"] for p in page1["items"] + page2["items"] + page3["items"]]
    assert sorted(titles) == [f"楼道灯不亮 {n}" for n in range(5)] and page3["next_cursor"] is None
    assert [p["title"] for p in client.get(f"{P}?q=邻里节", headers=street).json["items"]] == ["邻里节活动"]
    assert len(client.get(f"{P}?community={XIJIE}", headers=street).json["items"]) == 1
    # A community worker sees only their community.
    assert all(p["community_code"] == YANLIUYUAN for p in client.get(P, headers=worker).json["items"])
    assert client.get(f"{P}?cursor=garbage", headers=street).status_code == 400


def test_residents_see_their_own_and_the_public_ones(client, submit, auth, worker):
    mine = submit(subject="me")
    other = submit(subject="someone")
    client.post(f"{P}/{other['id']}/reject", json={"reason": "重复"}, headers=worker)
    me = auth("resident", YANLIUYUAN, subject="me")
    seen = {p["id"] for p in client.get(P, headers=me).json["items"]}
    assert mine["id"] in seen and other["id"] not in seen
    assert client.get(f"{P}/{other['id']}", headers=me).status_code == 404
    assert [p["id"] for p in client.get(f"{P}?mine=true", headers=me).json["items"]] == [mine["id"]]


# -- details of a submission ----------------------------------------------------------------------------------


def test_location_and_attachments_are_checked(client, auth, submit):
    good = submit(location={"latitude": 30.66, "longitude": 117.49, "address": "池阳路绣春巷口"},
                  attachments=["https://img.example/1.jpg"])  # fmt: skip
    assert good["latitude"] == 30.66 and good["address"] == "池阳路绣春巷口"
    for changes in (
        {"location": {"latitude": 95, "longitude": 117}},
        {"location": {"latitude": 30.6}},
        {"attachments": ["javascript:alert(1)"]},
        {"attachments": [f"https://img.example/{n}.jpg" for n in range(11)]},
    ):
        body = {"community_code": YANLIUYUAN, "title": "t", "description": "d", "category": "management", **changes}
        response = client.post(P, json=body, headers=auth())
        assert response.status_code == 422, changes


def test_a_worker_records_a_matter_for_a_resident_without_a_phone(client, worker, intake):
    body = {
        "community_code": YANLIUYUAN,
        "title": "独居老人家门口台阶破损",
        "description": "老人行动不便,台阶破损易摔倒",
        "category": "public_welfare",
        "recorded_from": "offline",
        "submitter_id": "elder-0031",
    }
    created = client.post(P, json=body, headers=worker).json
    assert created["channel"] == "offline" and created["origin"] == "resident"
    [event] = events(intake, "intake.proposal.submitted")
    assert event["submitter_id"] == "elder-0031"


def test_operators_add_categories(client, auth, submit):
    operator = auth("city_operator", "3417")
    assert (
        client.put("/api/v1/intake/categories", json={"code": "safety", "name": "安全"}, headers=operator).status_code
        == 200
    )
    assert {"code": "safety", "name": "安全"} in client.get("/api/v1/intake/categories", headers=operator).json
    assert submit(category="safety")["category"] == "safety"
    district = auth("district_admin", "341702")
    assert (
        client.put("/api/v1/intake/categories", json={"code": "x1", "name": "X"}, headers=district).status_code == 403
    )


# -- duplicates ----------------------------------------------------------------------------------------------


def similar(client, headers, title, description="", community=YANLIUYUAN, **extra):
    query = {"community": community, "title": title, "description": description}
    return client.get(f"{P}/similar", query_string=query, headers={**headers, **extra})


def test_a_near_identical_complaint_is_found_before_it_is_raised(submit, client, worker, auth):
    first = submit(title="绣春巷开水炉扰民", description="绣春巷的开水炉每天清晨鼓风,噪音很大,影响居民休息")
    unrelated = submit(title="红光市场3号楼地下管网堵塞", description="地下管网经常堵塞,污水外溢")
    resident = auth("resident", YANLIUYUAN, subject="neighbour")
    found = similar(client, resident, "开水炉噪音扰民(绣春巷)", "绣春巷口开水房锅炉一早就响,吵得睡不着")
    assert found.status_code == 200, found.json
    suggested = {d["id"]: d for d in found.json["items"]}
    assert first["id"] in suggested and unrelated["id"] not in suggested
    assert suggested[first["id"]]["title"] == "绣春巷开水炉扰民" and 0 < suggested[first["id"]]["score"] <= 1
    # Raised anyway and merged away, it is no longer suggested: the matter lives on in the one it joined.
    second = submit(title="开水炉噪音扰民(绣春巷)", description="绣春巷口开水房锅炉一早就响,吵得睡不着")
    assert "possible_duplicates" not in second  # a submission stores the matter and nothing more
    client.post(f"{P}/{second['id']}/merge", json={"into": first["id"]}, headers=worker)
    third = similar(client, resident, "绣春巷开水炉太吵", "绣春巷开水炉清晨噪音扰民")
    assert [d["id"] for d in third.json["items"]] == [first["id"]]


def test_duplicates_are_looked_for_in_the_same_community_only(submit, client, auth):
    submit(title="绣春巷开水炉扰民", description="绣春巷的开水炉每天清晨鼓风,噪音很大")
    xijie = auth("resident", XIJIE, subject="xijie-1")
    assert similar(client, xijie, "绣春巷开水炉扰民", community=XIJIE).json["items"] == []
    refused = similar(client, xijie, "绣春巷开水炉扰民", community=YANLIUYUAN)
    assert refused.status_code == 403 and refused.content_type == "application/problem+json"


def test_a_similar_answer_may_be_reused_by_its_caller_and_revalidated(submit, client, worker):
    submit(title="绣春巷开水炉扰民", description="绣春巷的开水炉每天清晨鼓风,噪音很大")
    first = similar(client, worker, "开水炉噪音扰民(绣春巷)")
    assert first.status_code == 200 and len(first.json["items"]) == 1
    assert "private" in first.headers["Cache-Control"] and "max-age=30" in first.headers["Cache-Control"]
    again = similar(client, worker, "开水炉噪音扰民(绣春巷)", **{"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    # A matter raised meanwhile changes the answer, and so its tag.
    submit(title="绣春巷开水炉噪音扰民", description="开水炉清晨鼓风,噪音扰民")
    changed = similar(client, worker, "开水炉噪音扰民(绣春巷)", **{"If-None-Match": first.headers["ETag"]})
    assert changed.status_code == 200 and len(changed.json["items"]) == 2


@pytest.mark.parametrize(
    "query",
    [{"title": "开水炉"}, {"community": YANLIUYUAN}, {"community": "3417", "title": "开水炉"},
     {"community": YANLIUYUAN, "title": "开水炉", "limit": "21"}],
    ids=["no community", "no title", "not a community", "too many"],
)  # fmt: skip
def test_a_similar_look_up_needs_a_community_and_a_title(client, worker, query):
    response = client.get(f"{P}/similar", query_string=query, headers=worker)
    assert response.status_code == 422 and response.content_type == "application/problem+json"
