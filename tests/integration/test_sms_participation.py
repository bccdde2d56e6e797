"""A resident who only has a phone takes part by SMS, end to end: the whole platform in one real
process (``--target all``) on RabbitMQ and PostgreSQL, sending through a real Kannel (bearerbox,
smsbox, fakesmsc as the carrier) whose sms-service calls notify's replies URL.

The resident has a contact in the directory and no app account. They receive the community's
notice about a matter and reply 1 to co-sign it; they are invited to the consultation (as
``contact:<id>``) and reply Y; after the resolution's task completes they reply 1 to rate it.
Every reply reaches carrier-to-API twice (Kannel may deliver an MO twice): each effect is visible
in the API once (the supporters, the RSVP, the rating). A garbled reply, twice, gets one help SMS.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from services.notify import domain, sms
from tests.conftest import YANLIUYUAN
from tests.integration.processes import Http
from tests.integration.sms_platform import SIGNATURE, env, ok, platform_with_kannel  # noqa: F401 - fixtures
from tests.support import wait_until

SMS_ONLY, REPRESENTATIVE, SUBMITTER = "13800138011", "13800138012", "13800138013"
TITLE = "杏花家园停车难"
C, T = "/api/v1/meetings/consultations", "/api/v1/tracking"
HOUSING = {"kind": "department", "name": "贵池区住房和城乡建设局", "scope": "341702"}
LEAD = 35  # seconds between the announcement and the start: the invitation's SMS and its answer travel


def texts_to(kannel, phone: str) -> list[str]:
    return [message.text for message in kannel.received() if message.receiver == phone]


def await_sms(kannel, phone: str, containing: str) -> str:
    """The SMS the carrier got for ``phone`` with ``containing`` in it (waiting for it)."""
    found = wait_until(
        lambda: [text for text in texts_to(kannel, phone) if containing in text], timeout=60,
        what=f"an SMS with {containing!r} to {phone}",
    )  # fmt: skip
    return found[-1]


def code_in(text: str) -> str:
    """The question's code a prompt ends with: …(K472)。"""
    return text.rsplit("(", 1)[1][:4]


def twice(kannel, phone: str, text: str) -> None:
    """The same MO delivered twice, as Kannel may."""
    kannel.reply(phone, text)
    kannel.reply(phone, text)


def settle() -> None:
    """Let a duplicate's (non-)effect travel the same path as the first one's did."""
    time.sleep(3)


def test_a_resident_without_an_app_takes_part_by_sms_each_reply_acted_on_once(platform_with_kannel, auth):
    base, kannel = platform_with_kannel
    http = Http(base_url=base)
    worker = auth("community_worker", YANLIUYUAN, subject="organiser")
    operator = auth("city_operator", "3417", subject="operator")
    clerk = auth("department", "341702", subject="housing-clerk")
    people = {name: auth("resident", YANLIUYUAN, subject=name) for name in ("rep-1", "res-a")}
    contact_ids = {}
    for phone, account in ((SMS_ONLY, None), (REPRESENTATIVE, "rep-1"), (SUBMITTER, "res-a")):
        contact = {
            "phone": phone,
            "community_code": YANLIUYUAN,
            "kind": "resident",
            "app_user_id": account,
            "quiet_start": "00:00",
            "quiet_end": "00:00",
        }  # fmt: skip  (no quiet hours: any time)
        contact_ids[phone] = ok(http.call("POST", "/api/v1/notify/contacts", worker, contact), 201)["id"]
    person = f"contact:{contact_ids[SMS_ONLY]}"
    ok(http.call("PUT", f"{T}/organisations/gc-housing", operator, HOUSING))
    ok(http.call("POST", f"{T}/organisations/gc-housing/members", operator, {"account_id": "housing-clerk"}))

    # A matter raised in the app; the community's notice about it asks its subscribers to co-sign.
    body = {"community_code": YANLIUYUAN, "title": TITLE, "description": "空地可改停车场", "category": "management"}
    proposal = ok(http.call("POST", "/api/v1/intake/proposals", people["res-a"], body), 201)
    pid = proposal["id"]
    notice = {"community_code": YANLIUYUAN, "variables": {"content": f"居民反映“{TITLE}”,欢迎附议"}, "proposal_id": pid}
    wait_until(lambda: http.call("POST", "/api/v1/notify/sms/notices", worker, notice)[0] == 202, timeout=20,
               what="the proposal in notify's replica")  # fmt: skip
    asked = await_sms(kannel, SMS_ONLY, "回复1附议")
    assert asked.startswith(f"【{SIGNATURE}】社区通知:居民反映“{TITLE}”,欢迎附议回复1附议(")
    twice(kannel, SMS_ONLY, "1")
    wait_until(lambda: ok(http.call("GET", f"/api/v1/intake/proposals/{pid}", worker))["supporters"] == 1,
               timeout=30, what="the co-signature by SMS")  # fmt: skip
    settle()
    assert ok(http.call("GET", f"/api/v1/intake/proposals/{pid}", worker))["supporters"] == 1
    assert len(ok(http.call("GET", f"/api/v1/intake/proposals/{pid}/supporters", worker))) == 1

    # A garbled reply, twice: one help SMS.
    twice(kannel, SMS_ONLY, "请问这是什么?")
    help_text = sms.signed(SIGNATURE, domain.render("reply_help"))
    await_sms(kannel, SMS_ONLY, "未能识别")
    settle()
    assert texts_to(kannel, SMS_ONLY).count(help_text) == 1

    # Accepted, put on a consultation to which the resident is invited by their contact; they reply Y.
    ok(http.call("POST", f"/api/v1/intake/proposals/{pid}/accept", worker))
    starts_at = datetime.now(UTC) + timedelta(seconds=LEAD)
    consultation = {"division_code": YANLIUYUAN, "title": "杏花家园停车场议事会", "form": "community_council",
                    "mode": "offline", "starts_at": starts_at.isoformat(), "venue": "烟柳园社区议事厅",
                    "materials": ["https://docs.example/plan.pdf"]}  # fmt: skip
    cid = ok(http.call("POST", C, worker, consultation), 201)["id"]
    wait_until(lambda: http.call("POST", f"{C}/{cid}/topics", worker, {"proposal_id": pid})[0] == 201, timeout=20,
               what="the accepted proposal in meetings")  # fmt: skip
    topic_id = ok(http.call("GET", f"{C}/{cid}", worker))["topics"][0]["id"]
    for invitee in ("rep-1", person):
        invitation = {"person_id": invitee, "category": "resident_representative"}
        ok(http.call("POST", f"{C}/{cid}/participants", worker, invitation), 201)
    ok(http.call("POST", f"{C}/{cid}/announce", worker))
    invited = await_sms(kannel, SMS_ONLY, "回复Y参加")
    assert invited.startswith(f"【{SIGNATURE}】您受邀参加“杏花家园停车场议事会”") and code_in(invited) != code_in(asked)
    twice(kannel, SMS_ONLY, "Y")

    def answer() -> str:
        (mine,) = [p for p in ok(http.call("GET", f"{C}/{cid}/participants", worker)) if p["person_id"] == person]
        return mine["rsvp"]

    wait_until(lambda: answer() == "accepted", timeout=30, what="the RSVP by SMS")

    # The consultation decides, the task is done; the resident rates it 1 (满意), twice.
    code = ok(http.call("GET", f"{C}/{cid}/attendance-code", worker))["attendance_code"]
    ok(http.call("POST", f"{C}/{cid}/sign-in", people["rep-1"], {"code": code}))
    time.sleep(max(0.0, (starts_at - datetime.now(UTC)).total_seconds()) + 0.2)
    ok(http.call("POST", f"{C}/{cid}/start", worker))
    ok(http.call("POST", f"{C}/{cid}/votes", people["rep-1"], {"topic_id": topic_id, "choice": "support"}), 201)
    ok(http.call("POST", f"{C}/{cid}/decide", worker))
    deadline = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    resolution = {"topic_id": topic_id, "organisation_id": "gc-housing", "deadline": deadline,
                  "agreed": "利用空地建设停车场"}  # fmt: skip
    ok(http.call("POST", f"{C}/{cid}/publish", worker, {"minutes": "一致同意", "resolutions": [resolution]}))
    (task,) = wait_until(lambda: ok(http.call("GET", f"{T}/tasks", clerk))["items"], timeout=20, what="the task")
    ok(http.call("POST", f"{T}/tasks/{task['id']}/accept", clerk))
    ok(http.call("POST", f"{T}/tasks/{task['id']}/complete", clerk, {"summary": "停车场已建成,新增车位40个"}))
    rate = await_sms(kannel, SMS_ONLY, "回复1满意")
    assert "评价" in rate and code_in(rate) not in (code_in(asked), code_in(invited))
    twice(kannel, SMS_ONLY, "1")

    def ratings() -> dict:
        return ok(http.call("GET", f"{T}/tasks/{task['id']}/ratings", worker))

    wait_until(lambda: ratings()["ratings"] == 1, timeout=30, what="the rating by SMS")
    settle()
    summary = ratings()
    assert summary["ratings"] == 1 and summary["by_choice"]["satisfied"] == 1

    # Each effect once, after every duplicate has travelled.
    assert ok(http.call("GET", f"/api/v1/intake/proposals/{pid}", worker))["supporters"] == 1
    assert answer() == "accepted"
    assert texts_to(kannel, SMS_ONLY).count(help_text) == 1
