"""烟柳园社区's worker on a tablet, through the demo: she triages the matters (a duplicate merged
into the one waiting for co-signers, which she accepts as a topic), walks the consultation wizard
(the topic, two residents invited from the contact directory, materials and the decision method
fixed, the notice), runs the day (the attendance code, the tablet sign-in list while one resident
signs in on her phone and the worker ticks the other in, a round of opinions summarised, the
vote), records the decision and publishes the outcome with a resolution for 池阳街道城管办, whose
member takes the task on, reports progress with evidence and completes it; she sees it completed
among the community's tasks and previews an SMS notice with its parts. Every page passes axe-core
and is photographed."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
import urllib3

from shared.clock import BEIJING
from tests.browser.conftest import Phone, bearer

YANLIUYUAN = "341702001001"
WAITING = "烟柳园5栋楼道堆物占用消防通道"  # the demo's matter waiting for co-signers
DUPLICATE = "5栋楼道堆满杂物,消防通道堵了"
LEAD = timedelta(seconds=100)  # from the draft to the start: the preparation and the notice fit in it


def context(browser, width: int, height: int, mobile: bool):
    # bypass_csp: axe-core is injected into the page, which the pages' own policy would refuse.
    made = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN", is_mobile=mobile,
                               has_touch=True, bypass_csp=True)  # fmt: skip
    page = made.new_page()
    page.set_default_timeout(15_000)
    return made, page


@pytest.fixture
def screens(browser, site):
    """Open screens by name: the worker's tablet (1024 px), phones (412 px) for the others."""
    opened = {}

    def screen(name: str, tablet: bool = False) -> Phone:
        if name not in opened:
            made, page = context(browser, 1024, 768, False) if tablet else context(browser, 412, 915, True)
            opened[name] = (made, Phone(page, site[0]))
        return opened[name][1]

    yield screen
    for made, _ in opened.values():
        made.close()


def call(url: str, username: str, method: str, path: str, body: dict | None = None) -> dict:
    """The gateway's API with the account's own token (as a resident's app would call it)."""
    answer = urllib3.request(method, url + path, json=body, headers=bearer(url, username))
    assert answer.status in (200, 201), (path, answer.status, answer.data)
    return json.loads(answer.data)


def local(moment: datetime) -> str:
    return moment.astimezone(BEIJING).strftime("%Y-%m-%dT%H:%M:%S")


def reload_until(page, locator, attempts: int = 30):
    """Events move the platform on (a task made from a resolution): reload until it shows."""
    for _ in range(attempts):
        if locator.count():
            return locator
        page.wait_for_timeout(500)
        page.reload()
    raise AssertionError(f"never appeared: {locator}")


def test_a_worker_takes_a_matter_from_triage_to_a_task_a_department_completes(screens, site):
    url, demo, _ = site
    call(url, "resident.001.2", "POST", "/api/v1/intake/proposals", {
        "community_code": YANLIUYUAN, "title": DUPLICATE, "category": "environment",
        "description": "5栋楼道里旧家具、纸箱越堆越多,消防通道都堵死了,很危险。"})  # fmt: skip
    tablet = screens("worker", tablet=True)
    page = tablet.sign_in("worker.001")
    assert page.url == f"{url}/console" and page.get_by_role("heading", name="社区工作台").is_visible()
    tablet.check("30-console")

    # Triage: the new matter beside the one it repeats; merged into it, which becomes a topic.
    page.get_by_role("link", name="事项分拣").first.click()
    duplicate = page.locator("section.triage", has=page.get_by_role("heading", name=DUPLICATE))
    assert duplicate.locator("li", has_text=WAITING).is_visible()  # the likely duplicate, side by side
    tablet.check("31-triage")
    duplicate.get_by_label("合并到").select_option(label=WAITING)
    duplicate.get_by_role("button", name=f"合并:{DUPLICATE}").click()
    assert page.get_by_text("已合并,附议人一并转入").is_visible()
    page.get_by_role("button", name=f"列为议题:{WAITING}").click()
    assert page.get_by_text("已列为议题").first.is_visible()

    # The wizard: a draft, its topic, participants from the directory, materials, the notice.
    page = tablet.go("/console/consultations")
    starts = datetime.now(UTC) + LEAD
    page.get_by_label("协商名称").fill("5栋楼道堆物怎么清理")
    page.get_by_label("协商形式").select_option("community_council")
    page.get_by_label("协商方式").select_option("offline")
    page.get_by_label("开始时间(北京时间)").fill(local(starts))
    page.get_by_label("地点(线下)").fill("烟柳园社区议事室")
    page.get_by_role("button", name="保存草稿").click()
    assert page.get_by_role("heading", name="第一步:确定议题").is_visible()
    page.get_by_label("已列为议题的居民事项").select_option(demo["live_consultation"]["waiting_matter"])
    page.get_by_role("button", name="加入议题").click()
    assert page.get_by_text("议题已加入").is_visible()
    page.get_by_role("link", name="邀请参会人").click()
    for phone_number, category in (("139****0000", "resident_representative"), ("139****0001", "stakeholder")):
        page.get_by_label(f"{phone_number} 的身份类别").select_option(category)
        page.get_by_role("button", name=f"邀请 {phone_number}").click()
    assert page.get_by_role("heading", name="已邀请 2 人").is_visible()
    assert page.get_by_text("尚未邀请社会组织").is_visible()  # what the report's mix still lacks
    tablet.check("32-wizard-participants")
    page.get_by_role("link", name="材料、形式与决策方式").click()
    page.get_by_label("协商材料(每行一个链接)").fill("https://docs.example/yanliuyuan-5-corridor.pdf")
    page.get_by_label("协商一致(无人反对即通过)").check()
    page.get_by_role("button", name="保存安排").click()
    page.get_by_role("link", name="提前公告").click()
    assert page.get_by_text("议题:已具备").is_visible() and page.get_by_text("协商材料:已具备").is_visible()
    assert f"{starts.astimezone(BEIJING):%H:%M}" in page.locator(".notice-days").inner_text()  # Beijing time
    tablet.check("33-wizard-notice")
    page.get_by_role("button", name="发布公告").click()
    assert page.get_by_text("已发布公告,参会人已收到通知").is_visible()
    cid = page.url.split("/console/consultations/")[1].split("/")[0]

    # Before the day: a round of opinions until the start; on the day the code and the sign-in list.
    page.get_by_role("button", name="安排一轮意见征集").click()
    assert page.get_by_text("意见征集轮次已安排").is_visible()
    topic = call(url, "worker.001", "GET", f"/api/v1/meetings/consultations/{cid}")["topics"][0]["id"]
    call(url, "resident.001.1", "POST", f"/api/v1/meetings/consultations/{cid}/opinions",
         {"topic_id": topic, "stance": "proposal", "text": "建议每月集中清理一次,物业提供临时堆放点。"})  # fmt: skip
    code = page.locator(".code").inner_text()
    page.get_by_role("link", name="打开签到平板页").click()
    assert page.get_by_text("已签到 0 / 受邀 2 人").is_visible()
    phone = screens("resident.001.1")
    phone.sign_in("resident.001.1")
    resident = phone.go(f"/consultations/{cid}")  # the consultation's page leads to the day's
    resident.get_by_role("link", name="参会签到与表决").click()
    resident.get_by_label("签到码").fill(code)
    resident.get_by_role("button", name="签到", exact=True).click()
    assert resident.get_by_text("签到成功").is_visible()
    # She says she is at work and under 45: counted in the mix, never shown by name.
    resident.get_by_label("年龄段").select_option("30_44")
    resident.get_by_label("职业").select_option("employed")
    resident.get_by_role("button", name="提交", exact=True).click()
    assert resident.get_by_text("仅用于统计参与面").first.is_visible()
    phone.check("34-attend-signed-in")
    page.get_by_role("link", name="刷新名单").click()
    assert page.get_by_text("已签到 1 / 受邀 2 人").is_visible()
    # 居民乙 arrives without the code on a phone: the worker ticks her in at the door.
    page.get_by_role("button", name="签到:利益相关方 139****0001").click()
    assert page.get_by_text("已代为签到").is_visible()
    assert page.get_by_text("已签到 2 / 受邀 2 人(其中工作人员代签 1 人)").is_visible()
    assert page.locator(".sign-in-list li", has_text="139****0000").get_by_text("本人签到").is_visible()
    assert page.locator(".sign-in-list li", has_text="139****0001").get_by_text("由您代签").is_visible()
    tablet.check("35-sign-in-tablet")

    time.sleep(max(0.0, (starts - datetime.now(UTC)).total_seconds()) + 1)
    page = tablet.go(f"/console/consultations/{cid}/session")
    page.get_by_role("button", name="开始协商").click()
    assert page.get_by_text("协商已开始").is_visible()
    page = tablet.go(f"/console/consultations/{cid}/session")
    page.get_by_label("第1轮小结(本轮截止后填写)").fill("共1条意见:居民建议每月集中清理,物业提供临时堆放点。")
    page.get_by_role("button", name="发布小结").click()
    assert page.get_by_text("小结:共1条意见").is_visible()

    # The vote, by the method fixed beforehand, then the decision.
    screens("resident.001.2").sign_in("resident.001.2")  # ticked in, she votes on her own phone
    for username in ("resident.001.1", "resident.001.2"):
        phone = screens(username)
        resident = phone.go(f"/attend/{cid}")
        resident.get_by_role("button", name=f"提交表决:{WAITING}").click()
        assert resident.get_by_text("表决已记录").is_visible()
    phone.check("36-attend-voted")
    page = tablet.go(f"/console/consultations/{cid}/decision")
    page.get_by_role("button", name="按事先确定的方式形成决定").click()
    results = page.get_by_role("table", name="表决结果")
    assert results.get_by_role("cell", name="通过", exact=True).is_visible()
    quality = page.locator("dl.rates")
    assert quality.locator("div", has_text="非退休人员占比").get_by_text("100%").is_visible()
    tablet.check("37-wizard-decided")

    # The outcome: minutes and the resolution, assigned to a registered organisation.
    page.get_by_role("link", name="公开结果与落实").click()
    page.get_by_label("会议纪要").fill("到会2人,议题协商一致通过:每月集中清理5栋楼道,城管办牵头。")
    page.get_by_label("责任单位").select_option(label="池阳街道城管办(职能部门)")
    page.get_by_label("办结期限").fill((datetime.now(BEIJING) + timedelta(days=30)).date().isoformat())
    page.get_by_label("决议内容").fill("城管办一周内清理5栋楼道堆物,此后每月集中清理一次")
    page.get_by_role("button", name="公开结果").click()
    assert page.get_by_text("结果已公开,决议已交办责任单位").is_visible()
    reload_until(page, page.locator("a[href^='/console/tasks/']"))
    tablet.check("38-wizard-published")

    # The department: 签收, progress with evidence, completion.
    office = screens("org.chiyang-office")
    desk = office.sign_in("org.chiyang-office")
    assert desk.url == f"{url}/department"
    desk.get_by_role("link", name=WAITING).click()
    desk.get_by_role("button", name="签收").click()
    assert desk.get_by_text("已签收,请按期办理").is_visible()
    desk.get_by_label("完成百分比").fill("60")
    desk.get_by_label("做了什么").fill("已清走旧家具和纸箱,张贴了禁止堆物的提示")
    desk.get_by_label("佐证材料链接(照片、文件,每行一个)").fill("https://docs.example/5-corridor-after.jpg")
    desk.get_by_role("button", name="提交进展").click()
    assert desk.get_by_text("进展已记录").is_visible()
    office.check("39-department-task")
    desk.get_by_label("办结说明(将公开并请居民评价)").fill("5栋楼道已清理干净,每月第一个周六集中清理")
    desk.get_by_role("button", name="办结").click()
    assert desk.get_by_text("已办结,已请相关居民评价").is_visible()

    # The community's tasks: completed, awaiting the residents' ratings; a notice previewed and sent.
    page = tablet.go("/console/tasks")
    row = page.get_by_role("row", name=WAITING)
    assert row.get_by_text("已办结").is_visible() and row.get_by_text("池阳街道城管办").is_visible()
    tablet.check("40-tasks")
    page = tablet.go("/console/notices")
    notice = "5栋楼道堆物已清理完毕,今后每月第一个周六集中清理。请参加协商的居民在应用里评价办理结果。"
    page.get_by_label("通知内容").fill(notice)
    page.get_by_role("button", name="预览").click()
    assert page.get_by_role("heading", name="短信预览").is_visible() and page.get_by_text("条短信计费").is_visible()
    tablet.check("41-notice-preview")
    page.get_by_role("button", name="确认发送").click()
    assert page.get_by_text("通知已发送").is_visible()


def test_a_worker_records_a_consultation_held_offline(screens):
    tablet = screens("worker", tablet=True)
    tablet.sign_in("worker.001")
    page = tablet.go("/console/recorded")
    page.get_by_label("协商名称").fill("5栋门前院坝议事(线下)")
    page.get_by_label("协商形式").select_option("neighbourhood_point")
    page.get_by_label("协商方式").select_option("offline")
    page.get_by_label("举行时间(北京时间)").fill(local(datetime.now(UTC) - timedelta(days=2)))
    page.get_by_label("地点").fill("5栋门前院坝")
    page.locator("#topic-0").fill("院坝晾晒区划分")
    page.get_by_label("居民代表").fill("8")
    page.get_by_label("党员").fill("2")
    page.get_by_label("责任单位(通过的议题)").first.select_option(label="池阳街道城管办")
    page.locator("#deadline-0").fill((datetime.now(BEIJING) + timedelta(days=20)).date().isoformat())
    page.locator("#agreed-0").fill("城管办划定5栋门前晾晒区")
    page.get_by_label("会议纪要链接(扫描件或文档)").fill("https://docs.example/yuanba-minutes.pdf")
    tablet.check("42-recorded-form")
    page.get_by_role("button", name="保存补录").click()
    assert page.get_by_text("补录已保存").is_visible() and page.get_by_text("结果已公开").first.is_visible()
    assert page.get_by_role("link", name="会议纪要(扫描件)").is_visible()
