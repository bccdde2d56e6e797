"""A resident on her phone, through the demo of 池阳街道: she registers with the SMS code, raises a
matter and is shown the likely duplicate, co-signs it instead, gives an opinion in the online
consultation, sees an inbox entry arrive live, and rates a completed task; every page passes
axe-core and is photographed."""

from __future__ import annotations

import json

import urllib3

from shared.principal import Principal

YANLIUYUAN = "341702001001"


def code_sent(settings, phone_number: str) -> str:
    """The code as the embedded file provider wrote it (number masked; a code is no personal data)."""
    masked = f"{phone_number[:3]}****{phone_number[-4:]}"
    lines = [json.loads(line) for line in (settings.data_dir / "sms-outbox.jsonl").read_text("utf-8").splitlines()]
    text = [line["text"] for line in lines if line["to"] == masked][-1]
    return text.split("验证码为", 1)[1][:6]


def sign_in(phone, username: str):
    """A resident signs in and lands on her home page."""
    page = phone.sign_in(username)
    page.wait_for_url(phone.base_url + "/")
    return page


def test_a_resident_registers_raises_and_co_signs_instead(phone, site, settings):
    url, demo, _ = site
    page = phone.go("/register")
    phone.check("01-register")
    page.get_by_label("手机号").fill("13905660001")
    page.get_by_label("所在社区").select_option(YANLIUYUAN)
    page.get_by_role("button", name="获取验证码").click()
    page.get_by_label("短信验证码").fill(code_sent(settings, "13905660001"))
    page.get_by_label("用户名").fill("chen.ayi")
    page.get_by_label("称呼(选填)").fill("陈阿姨")
    page.get_by_label("密码").fill("Yanliuyuan-2026")
    phone.check("02-register-code")
    page.get_by_role("button", name="注册").click()
    page.wait_for_url(url + "/")
    assert page.get_by_role("heading", name="我的社区").is_visible()
    phone.check("03-home")

    # A matter like one already raised: the look-up shows it while she types, she co-signs it.
    page.get_by_role("link", name="提出一件事").click()
    page.get_by_label("类别").select_option("environment")
    page.get_by_label("事项(一句话)").fill("5栋楼道堆物把消防通道堵了")
    suggestion = page.get_by_role("button", name="附议:烟柳园5栋楼道堆物占用消防通道")
    suggestion.wait_for()
    phone.check("04-raise-duplicate")
    suggestion.click()
    page.wait_for_url(f"{url}/matters/{demo['live_consultation']['waiting_matter']}?done=1")
    assert page.get_by_text("附议 1 人").is_visible() and page.get_by_role("status").is_visible()
    phone.check("05-matter")

    # Bad input is refused beside the field, nothing saved.
    page = phone.go("/matters/new")
    page.get_by_label("类别").select_option("environment")
    page.get_by_label("事项(一句话)").fill("路灯")
    page.get_by_label("详细情况").fill("x" * 5001)
    page.get_by_role("button", name="提交").click()
    assert page.locator("#e-description").is_visible()
    phone.check("06-raise-refused")


def test_an_invited_resident_deliberates_sees_the_inbox_live_and_rates(phone, site):
    url, demo, platform = site
    page = sign_in(phone, "resident.001.1")
    page = phone.go(f"/consultations/{demo['live_consultation']['id']}")
    page.get_by_label("支持").check()
    page.get_by_label("意见内容").fill("建议每月第一个周六集中清理,物业提供临时堆放点。")
    page.get_by_role("button", name="发表").click()
    assert page.locator("li", has_text="建议每月第一个周六集中清理").first.is_visible()
    phone.check("07-consultation")

    page = phone.go("/inbox")
    page.locator("html[data-inbox=live]").wait_for(state="attached")  # the page's event stream is open
    worker = platform.gateway().issuer.issue(Principal("demo-worker", "community_worker", YANLIUYUAN))
    matter = demo["live_consultation"]["waiting_matter"]
    accepted = urllib3.request(
        "POST", f"{url}/api/v1/intake/proposals/{matter}/accept", headers={"Authorization": f"Bearer {worker}"}
    )
    assert accepted.status == 200, accepted.data
    page.locator("#inbox li.unread", has_text="已被列为协商议题").first.wait_for()
    phone.check("08-inbox-live")

    # A co-signer rates the completed task of 杏花家园's parking lot.
    sign_out = page.get_by_role("button", name="退出")
    sign_out.click()
    page = sign_in(phone, "resident.004.2")
    page = phone.go(f"/matters/{demo['matters'][0]['proposal_id']}")
    page.get_by_label("满意", exact=True).check()
    page.get_by_role("button", name="提交评价").click()
    assert page.get_by_text("您的评价:满意").is_visible()
    phone.check("09-rated")
