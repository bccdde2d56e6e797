"""The community worker's console and the department's view through the gateway of the embedded
platform: pages as each role sees them, every step a form with the session's CSRF token calling
the API, a refusal shown with the API's Chinese message and nothing saved."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import pytest
from werkzeug.test import Client

from shared.clock import BEIJING
from tests.conftest import YANLIUYUAN
from tests.support import wait_until
from web.labels import LABELS

PASSWORD = "烟柳园-社区协商-2026"
CHIYANG = YANLIUYUAN[:9]
ORGANISATION = "chiyang-office"


def test_the_pages_name_every_code_the_services_know():
    from services.meetings import domain as meetings
    from services.tracking import domain as tracking

    named = {"categories": meetings.CATEGORIES, "modes": meetings.MODES, "votes": meetings.CHOICES,
             "rsvp": meetings.RSVP_ANSWERS, "age_bands": meetings.AGE_BANDS, "occupations": meetings.OCCUPATIONS,
             "stakeholder_types": meetings.STAKEHOLDER_TYPES, "forms": meetings.FORMS,
             "tasks": tracking.STATUS_NAMES}  # fmt: skip
    assert {key: LABELS[key] for key in named} == named
    assert LABELS["methods"].keys() == meetings.METHODS.keys()  # the pages say more of what each means


class Visitor:
    """A browser without JavaScript: signs in by form and posts forms with the page's CSRF token."""

    def __init__(self, platform_all):
        self.client = Client(platform_all.http_entry)
        self.token = ""

    def get(self, path: str):
        page = self.client.get(path)
        found = re.search(r'name="csrf" value="([^"]+)"', page.get_data(as_text=True))
        self.token = found.group(1) if found else self.token
        return page

    def post(self, path: str, data: dict | None = None, *, csrf: bool = True):
        return self.client.post(path, data={**({"csrf": self.token} if csrf else {}), **(data or {})})

    def sign_in(self, username: str) -> Visitor:
        self.get("/login")
        signed = self.post("/login", {"username": username, "password": PASSWORD})
        assert signed.status_code == 303, signed.get_data(as_text=True)
        self.get("/")
        return self


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def env(env):
    return {**env, "XIESHANG_NOTICE_DAYS": "0"}  # a trial's notice period (as make run): the day comes within a test


@pytest.fixture
def community(platform_all, auth):
    """烟柳园社区: a worker, two residents in notify's directory, 池阳街道城管办 with a member account."""
    accounts = platform_all.platform.gateway().accounts
    api = Client(platform_all.http_entry)
    ids = {
        "worker": accounts.create_user("worker.yly", PASSWORD, "community_worker", YANLIUYUAN, "烟柳园社工"),
        "department": accounts.create_user("org.office", PASSWORD, "department", CHIYANG, "池阳街道城管办"),
    }
    for n in (1, 2):
        ids[f"resident{n}"] = accounts.create_user(f"resident.{n}", PASSWORD, "resident", YANLIUYUAN, f"居民{n}")
    operator = auth("city_operator", "3417")
    put = api.put(f"/api/v1/tracking/organisations/{ORGANISATION}", headers=operator,
                  json={"kind": "department", "name": "池阳街道城管办", "scope": CHIYANG})  # fmt: skip
    assert put.status_code == 200, put.json
    member = api.post(f"/api/v1/tracking/organisations/{ORGANISATION}/members", headers=operator,
                      json={"account_id": ids["department"]})  # fmt: skip
    assert member.status_code == 200, member.json
    worker = auth("community_worker", YANLIUYUAN, subject=ids["worker"])
    for n in (1, 2):
        contact = {"phone": f"1390566000{n}", "community_code": YANLIUYUAN, "kind": "resident",
                   "app_user_id": ids[f"resident{n}"]}  # fmt: skip
        assert api.post("/api/v1/notify/contacts", json=contact, headers=worker).status_code == 201
    return {"ids": ids, "api": api, "worker": worker, "auth": auth, "platform": platform_all}


def raise_matter(community, resident: str, title: str, description: str) -> str:
    headers = community["auth"]("resident", YANLIUYUAN, subject=community["ids"][resident])
    body = {"community_code": YANLIUYUAN, "title": title, "description": description, "category": "environment"}
    made = community["api"].post("/api/v1/intake/proposals", json=body, headers=headers)
    assert made.status_code == 201, made.json
    return made.json["id"]


def proposal(community, proposal_id: str) -> dict:
    return community["api"].get(f"/api/v1/intake/proposals/{proposal_id}", headers=community["worker"]).json


@pytest.fixture
def worker(community):
    return Visitor(community["platform"]).sign_in("worker.yly")


def test_a_worker_lands_on_the_console_and_a_resident_is_kept_out(community, worker):
    landing = worker.client.get("/")
    assert landing.status_code == 303 and landing.headers["Location"].endswith("/console")
    home = worker.get("/console")
    assert home.status_code == 200 and "社区工作台" in text(home) and "件事项待分拣" in text(home)
    resident = Visitor(community["platform"]).sign_in("resident.1")
    refused = resident.get("/console/triage")
    assert refused.status_code == 403 and "工作台供社区工作者" in text(refused)
    assert resident.get("/department").status_code == 403
    assert Visitor(community["platform"]).get("/console").headers["Location"].endswith("/login")


def test_triage_shows_the_likely_duplicate_beside_the_matter_and_merges_it(community, worker):
    first = raise_matter(community, "resident1", "5栋楼道堆物占用消防通道", "楼道里堆满旧家具和纸箱,消防通道被堵。")
    second = raise_matter(community, "resident2", "5栋楼道堆满杂物堵了消防通道", "楼道堆物太多,消防通道被堵住了。")
    page = text(worker.get("/console/triage"))
    assert "可能重复的事项" in page and "相似度" in page
    section = page.split('id="m-' + second + '"', 1)[1].split("</section>", 1)[0]
    assert "5栋楼道堆物占用消防通道" in section  # the first matter, beside the second

    merged = worker.post(f"/console/matters/{second}/merge", {"into": first})
    assert merged.status_code == 303 and merged.headers["Location"].endswith("done=merged")
    assert proposal(community, second)["status"] == "merged"
    assert proposal(community, first)["supporters"] >= 1  # the co-signers moved along (the submitter too)
    assert "已合并,附议人一并转入" in text(worker.get(merged.headers["Location"]))


def test_a_rejection_needs_its_reason_and_a_referral_makes_a_task(community, worker):
    matter = raise_matter(community, "resident1", "路灯不亮", "3栋门口的路灯坏了一个星期。")
    worker.get("/console/triage")
    refused = worker.post(f"/console/matters/{matter}/reject", {"reason": ""})
    assert refused.status_code == 422 and 'role="alert"' in text(refused)
    assert proposal(community, matter)["status"] == "submitted"  # nothing saved

    referred = worker.post(f"/console/matters/{matter}/refer", {"department_id": ORGANISATION, "note": "请维修"})
    assert referred.status_code == 303 and proposal(community, matter)["status"] == "referred"
    department = Visitor(community["platform"]).sign_in("org.office")
    tasks = wait_until(lambda: "路灯不亮" in text(department.get("/department")) and department, what="the task")
    assert "待办(1)" in text(tasks.get("/department"))


def test_a_form_without_the_session_token_changes_nothing(community, worker):
    matter = raise_matter(community, "resident1", "路灯不亮", "3栋门口的路灯坏了一个星期。")
    forged = worker.post(f"/console/matters/{matter}/accept", csrf=False)
    assert forged.status_code == 403 and proposal(community, matter)["status"] == "submitted"


def test_the_wizard_shows_what_is_missing_and_the_notice_date_in_beijing_time(community, worker, settings):
    worker.get("/console/consultations")
    starts = (datetime.now(BEIJING) + timedelta(days=5)).replace(microsecond=0)
    form = {"title": "5栋楼道堆物怎么清理", "form": "community_council", "mode": "offline",
            "starts_at": starts.strftime("%Y-%m-%dT%H:%M"), "venue": "烟柳园议事室", "method": "consensus"}  # fmt: skip
    refused = worker.post("/console/consultations", {**form, "title": ""})
    assert refused.status_code == 422 and 'id="e-title"' in text(refused)

    made = worker.post("/console/consultations", form)
    assert made.status_code == 303
    wizard = text(worker.get(made.headers["Location"]))
    assert "第一步:确定议题" in wizard and "草稿已保存" in wizard
    cid = made.headers["Location"].split("/")[-1].split("?")[0]
    assert worker.post(f"/console/consultations/{cid}/topics", {"title": "楼道堆物清理方案"}).status_code == 303
    notice = text(worker.get(f"/console/consultations/{cid}/notice"))
    assert "议题:已具备" in notice and "参会人:还需邀请参会人" in notice and "协商材料:还需协商材料" in notice
    stepper = re.findall(r'<li class="(\w+)"><a href="/console/consultations/[^/]+/(\w+)"', notice)
    assert stepper[:4] == [("done", "topics"), ("current", "participants"), ("todo", "arrangements"),
                           ("todo", "notice")]  # fmt: skip
    earliest = datetime.now(BEIJING) + timedelta(days=settings.notice_days)
    assert f"提前公告期 <strong>{settings.notice_days}</strong> 天" in notice
    assert f"开始时间不得早于 <strong>{earliest.year}年{earliest.month}月{earliest.day}日" in notice
    assert f"{starts.year}年{starts.month}月{starts.day}日 {starts:%H:%M}" in notice

    announced = worker.post(f"/console/consultations/{cid}/announce")
    assert announced.status_code == 409 and "发布公告前还需" in text(announced)
    participants = text(worker.get(f"/console/consultations/{cid}/participants"))
    assert "139****0001" in participants and "尚未邀请社会组织" in participants


def test_a_consultation_held_offline_is_recorded_and_its_task_carried_out_by_the_department(community, worker):
    matter = raise_matter(community, "resident1", "5栋楼道堆物占用消防通道", "楼道里堆满旧家具和纸箱,消防通道被堵。")
    worker.get("/console/triage")
    assert worker.post(f"/console/matters/{matter}/accept").status_code == 303
    held = datetime.now(BEIJING) - timedelta(days=3)
    worker.get("/console/recorded")
    deadline = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    form = {"title": "5栋楼道堆物议事(院坝会)", "form": "neighbourhood_point", "mode": "offline",
            "held_at": held.strftime("%Y-%m-%dT%H:%M"), "venue": "5栋楼下", "proposal_0": matter, "adopted_0": "1",
            "organisation_0": ORGANISATION, "deadline_0": deadline, "agreed_0": "城管办一周内清理楼道堆物",
            "attendance_resident_representative": "9", "attendance_party_member": "2", "decision": "decided",
            "method": "consensus", "minutes_url": "https://docs.example/minutes.pdf"}  # fmt: skip
    refused = worker.post("/console/recorded", {**form, "minutes_url": ""})
    assert refused.status_code == 422
    recorded = worker.post("/console/recorded", form)
    assert recorded.status_code == 303, text(recorded)
    outcome = text(worker.get(recorded.headers["Location"]))
    assert "补录已保存" in outcome and "城管办一周内清理楼道堆物" in outcome and "结果已公开" in outcome

    department = Visitor(community["platform"]).sign_in("org.office")
    listing = wait_until(lambda: "5栋楼道堆物" in text(department.get("/department")) and department, what="task")
    task = re.search(r'href="/department/tasks/([^"]+)"', text(listing.get("/department"))).group(1)
    department.get(f"/department/tasks/{task}")
    assert department.post(f"/department/tasks/{task}/accept").status_code == 303
    note = {"percent": "50", "note": "已清理一半", "evidence": "https://docs.example/photo.jpg"}
    noted = department.post(f"/department/tasks/{task}/progress", note)
    assert noted.status_code == 303
    refused = department.post(f"/department/tasks/{task}/extension", {"days": "", "reason": "等待物业配合"})
    assert refused.status_code == 422 and 'id="e-extension-days"' in text(refused)
    asked = department.post(f"/department/tasks/{task}/extension", {"days": "5", "reason": "等待物业配合"})
    assert asked.status_code == 303 and "已申请延期 5 天" in text(department.get(f"/department/tasks/{task}"))
    done = department.post(f"/department/tasks/{task}/complete", {"summary": "楼道已清理干净"})
    assert done.status_code == 303 and "已办结" in text(department.get(done.headers["Location"]))

    tasks = text(worker.get("/console/tasks"))
    assert "池阳街道城管办" in tasks and "已办结" in tasks and "响应率" in tasks
    assert "5栋楼道堆物" not in text(worker.get("/console/tasks?overdue=1"))  # done on time: not among the late
    assert "已清理一半" in text(worker.get(f"/console/tasks/{task}"))


def test_a_notice_is_previewed_with_its_parts_before_it_is_sent(community, worker):
    worker.get("/console/notices")
    content = "本周六上午九点在社区议事室讨论5栋楼道堆物清理方案,欢迎居民参加并提出意见。" * 2
    preview = worker.post("/console/notices", {"content": content, "action": "preview"})
    page = text(preview)
    assert preview.status_code == 200 and "短信预览" in page and "按 <strong>2</strong> 条短信计费" in page
    sent = worker.post("/console/notices", {"content": content, "action": "send"})
    assert sent.status_code == 200 and "通知已发送" in text(sent) and "已发给 2 位订阅居民" in text(sent)
    empty = worker.post("/console/notices", {"content": "", "action": "preview"})
    assert empty.status_code == 422 and 'id="e-content"' in text(empty)


def prepared(community, worker, starts: datetime) -> str:
    """A draft of 烟柳园 with its topic, a resident invited and materials, announced in the console."""
    api, headers = community["api"], community["worker"]
    draft = {"division_code": YANLIUYUAN, "title": "5栋楼道堆物怎么清理", "form": "community_council",
             "mode": "offline", "starts_at": starts.isoformat(), "venue": "烟柳园议事室",
             "materials": ["https://docs.example/5.pdf"]}  # fmt: skip
    cid = api.post("/api/v1/meetings/consultations", headers=headers, json=draft).json["id"]
    api.post(f"/api/v1/meetings/consultations/{cid}/topics", headers=headers,
             json={"title": "楼道堆物清理方案", "origin": "top_down"})  # fmt: skip
    invited = {"person_id": community["ids"]["resident1"], "category": "resident_representative"}
    invite = f"/api/v1/meetings/consultations/{cid}/participants"
    wait_until(lambda: api.post(invite, json=invited, headers=headers).status_code == 201,
               what="the directory in meetings")  # fmt: skip
    worker.get(f"/console/consultations/{cid}/notice")
    assert worker.post(f"/console/consultations/{cid}/announce").status_code == 303
    return cid


def test_the_day_s_sign_in_list_shows_who_signed_in_with_the_code(community, worker):
    starts = datetime.now(UTC) + timedelta(minutes=30)
    cid = prepared(community, worker, starts)
    session = text(worker.get(f"/console/consultations/{cid}/session"))
    code = re.search(r'class="code">(\d+)<', session).group(1)
    listing = text(worker.get(f"/console/consultations/{cid}/sign-in-list"))
    assert "已签到 <strong>0</strong> / 受邀 <strong>1</strong> 人" in listing

    resident = Visitor(community["platform"]).sign_in("resident.1")
    resident.get(f"/attend/{cid}")
    wrong = resident.post(f"/attend/{cid}/sign-in", {"code": "000000" if code != "000000" else "111111"})
    assert wrong.status_code == 422 and "签到码不正确" in text(wrong) and 'id="e-code"' in text(wrong)
    signed = resident.post(f"/attend/{cid}/sign-in", {"code": code})
    assert signed.status_code == 303 and "签到成功" in text(resident.get(signed.headers["Location"]))
    declared = resident.post(f"/attend/{cid}/profile", {"age_band": "30_44", "occupation": "", "stakeholder_type": ""})
    assert declared.status_code == 303 and declared.headers["Location"].endswith("done=profile")
    listing = text(worker.get(f"/console/consultations/{cid}/sign-in-list"))
    assert "已签到 <strong>1</strong> / 受邀 <strong>1</strong> 人" in listing and "139****0001" in listing
    early = worker.post(f"/console/consultations/{cid}/start")
    assert early.status_code == 409 and "尚未到公告的开始时间" in text(early)

    later = (starts + timedelta(days=1)).astimezone(BEIJING)
    unexplained = worker.post(f"/console/consultations/{cid}/postpone", {"starts_at": later.strftime("%Y-%m-%dT%H:%M")})
    assert unexplained.status_code == 422
    postponed = worker.post(f"/console/consultations/{cid}/postpone",
                            {"starts_at": later.strftime("%Y-%m-%dT%H:%M"), "reason": "议事室维修"})  # fmt: skip
    assert postponed.status_code == 303 and "已延期并重新公告" in text(worker.get(postponed.headers["Location"]))
    assert f"{later.month}月{later.day}日 {later:%H:%M}" in text(worker.get(f"/console/consultations/{cid}/notice"))


def how_signed_in(listing: str, masked_phone: str) -> str | None:
    """What the tablet list says of how the one with this (masked) number came to be signed in."""
    found = re.search(
        rf'{re.escape(masked_phone)}</span> <strong>已签到 [^<]+</strong> <span class="how">([^<]+)<', listing
    )
    return found.group(1) if found else None


def test_the_worker_ticks_in_a_resident_without_a_phone_on_the_tablet_list(community, worker):
    api, headers, ids = community["api"], community["worker"], community["ids"]
    later = prepared(community, worker, datetime.now(UTC) + timedelta(days=2))
    assert "/check-in" not in text(worker.get(f"/console/consultations/{later}/sign-in-list"))  # not the day yet
    early = worker.post(f"/console/consultations/{later}/check-in", {"person_id": ids["resident1"]})
    assert early.status_code == 409 and "签到尚未开始" in text(early)  # and meetings refuses it

    cid = prepared(community, worker, datetime.now(UTC) + timedelta(minutes=30))
    invite = f"/api/v1/meetings/consultations/{cid}/participants"
    invited = {"person_id": ids["resident2"], "category": "party_member"}
    assert api.post(invite, json=invited, headers=headers).status_code == 201
    tick = f'action="/console/consultations/{cid}/check-in"'
    assert text(worker.get(f"/console/consultations/{cid}/sign-in-list")).count(tick) == 2
    code = api.get(f"/api/v1/meetings/consultations/{cid}/attendance-code", headers=headers).json["attendance_code"]
    resident1 = community["auth"]("resident", YANLIUYUAN, subject=ids["resident1"])
    signed = api.post(f"/api/v1/meetings/consultations/{cid}/sign-in", json={"code": code}, headers=resident1)
    assert signed.status_code == 200

    forged = worker.post(f"/console/consultations/{cid}/check-in", {"person_id": ids["resident2"]}, csrf=False)
    assert forged.status_code == 403
    stranger = worker.post(f"/console/consultations/{cid}/check-in", {"person_id": "someone-else"})
    assert stranger.status_code == 422 and "该人员不是本次协商的受邀参会人" in text(stranger)
    listing = text(worker.get(f"/console/consultations/{cid}/sign-in-list"))
    assert listing.count(tick) == 1 and "已签到 <strong>1</strong> / 受邀 <strong>2</strong> 人" in listing

    ticked = worker.post(f"/console/consultations/{cid}/check-in", {"person_id": ids["resident2"]})
    assert ticked.status_code == 303 and ticked.headers["Location"].endswith("sign-in-list?done=checked_in")
    assert worker.post(f"/console/consultations/{cid}/check-in", {"person_id": ids["resident2"]}).status_code == 303
    listing = text(worker.get(ticked.headers["Location"]))
    assert "已代为签到" in listing and tick not in listing
    assert "已签到 <strong>2</strong> / 受邀 <strong>2</strong> 人(其中工作人员代签 1 人)" in listing  # twice, once
    assert (how_signed_in(listing, "139****0001"), how_signed_in(listing, "139****0002")) == ("本人签到", "由您代签")
    assert "已签到(工作人员代签)" in text(worker.get(f"/console/consultations/{cid}/participants"))
    participants = api.get(invite, headers=headers).json
    assert {p["person_id"]: p["checked_in_by"] for p in participants} == {
        ids["resident1"]: None, ids["resident2"]: ids["worker"]
    }  # fmt: skip


def test_a_street_administrator_decides_an_extension_in_the_console(community):
    accounts = community["platform"].platform.gateway().accounts
    accounts.create_user("chiyang.street", PASSWORD, "street_admin", CHIYANG, "池阳街道")
    matter = raise_matter(community, "resident1", "路灯不亮", "3栋门口的路灯坏了一个星期。")
    api = community["api"]
    assert api.post(f"/api/v1/intake/proposals/{matter}/refer", headers=community["worker"],
                    json={"department_id": ORGANISATION, "note": "请维修"}).status_code == 200  # fmt: skip
    office = community["auth"]("department", CHIYANG, subject=community["ids"]["department"])
    task = wait_until(lambda: next(iter(api.get("/api/v1/tracking/tasks", headers=office).json["items"]), None),
                      what="the referral's task")  # fmt: skip
    assert api.post(f"/api/v1/tracking/tasks/{task['id']}/accept", headers=office).status_code == 200
    asked = api.post(f"/api/v1/tracking/tasks/{task['id']}/extension", headers=office,
                     json={"days": 5, "reason": "灯具需要订货"})  # fmt: skip
    assert asked.status_code == 200, asked.json

    street = Visitor(community["platform"]).sign_in("chiyang.street")
    page = text(street.get(f"/console/tasks/{task['id']}"))
    assert "申请延期 5 天:灯具需要订货" in page and "同意延期" in page
    worker = Visitor(community["platform"]).sign_in("worker.yly")
    assert "同意延期" not in text(worker.get(f"/console/tasks/{task['id']}"))  # the street decides, not the community
    approved = street.post(f"/console/tasks/{task['id']}/extension", {"approve": "1", "note": "同意"})
    assert approved.status_code == 303
    after = api.get(f"/api/v1/tracking/tasks/{task['id']}", headers=office).json
    assert after["extension_requested"] is None and after["deadline"] > task["deadline"]


def test_without_consensus_the_outcome_explains_what_comes_next_and_assigns_nothing(community, worker):
    starts = datetime.now(UTC) + timedelta(seconds=2)
    cid = prepared(community, worker, starts)
    time.sleep(max(0.0, (starts - datetime.now(UTC)).total_seconds()) + 0.2)  # the announced start
    assert worker.post(f"/console/consultations/{cid}/start").status_code == 303
    worker.get(f"/console/consultations/{cid}/decision")
    unexplained = worker.post(f"/console/consultations/{cid}/no-consensus", {"reason": ""})
    assert unexplained.status_code == 422
    ended = worker.post(f"/console/consultations/{cid}/no-consensus", {"reason": "意见分歧较大,需听取物业意见"})
    assert ended.status_code == 303 and "议题转入继续协商" in text(worker.get(ended.headers["Location"]))
    outcome = text(worker.get(f"/console/consultations/{cid}/outcome"))
    assert "决议:" not in outcome and "公开结果" in outcome  # no adopted topic: nothing to assign
    refused = worker.post(f"/console/consultations/{cid}/publish", {"minutes": "到会1人,未达成共识。"})
    assert refused.status_code == 422 and 'id="e-explanation"' in text(refused)
    published = worker.post(f"/console/consultations/{cid}/publish",
                            {"minutes": "到会1人,未达成共识。", "explanation": "下月邀请物业再议"})  # fmt: skip
    assert published.status_code == 303
    page = text(worker.get(published.headers["Location"]))
    assert "说明:下月邀请物业再议" in page and "结果已公开" in page
