"""SMS end to end through the gateway, on RabbitMQ, PostgreSQL and a real Kannel (bearerbox, smsbox,
fakesmsc as the carrier), the whole platform in one real process (``--target all``):

a proposal submitted and accepted, and a consultation announced, reach the right people as the
right Chinese SMS (signed, through Kannel to the carrier) and as inbox entries; Kannel's delivery
reports mark every message delivered; a 退订 reply from a subscriber stops further SMS to that
number while the others still get theirs.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, func, select

from services.notify import domain, sms
from services.notify.models import sms_messages, sms_stops
from tests.conftest import YANLIUYUAN
from tests.integration.processes import Http
from tests.integration.sms_platform import SIGNATURE, env, ok, platform_with_kannel  # noqa: F401 - fixtures
from tests.kannel import SERVICE_NUMBER
from tests.support import wait_until

SUBMITTER_PHONE, SUBSCRIBER_PHONE, INVITEE_PHONE = "13800138001", "13800138002", "13800138003"
TITLE = "红光市场3号楼地下管网堵塞"
CONSULTATION = "红光市场管网改造议事会"
RSVP_PROMPT = re.compile(r"回复Y参加、N不参加\([A-Z]\d{3}\)。$")


def signed(template: str, **variables) -> str:
    return sms.signed(SIGNATURE, domain.render(template, **variables))


def texts_to(kannel, phone: str) -> list[str]:
    """The texts the carrier got for ``phone``, an invitation's RSVP prompt left out (its code is the
    question's: tests/integration/test_sms_participation.py answers it)."""
    return [RSVP_PROMPT.sub("", message.text) for message in kannel.received() if message.receiver == phone]


def test_proposal_and_announcement_reach_residents_by_sms_and_inbox_and_td_stops_them(platform_with_kannel, env, auth):
    base, kannel = platform_with_kannel
    http = Http(base_url=base)
    worker = auth("community_worker", YANLIUYUAN, subject="worker")
    submitter = auth("resident", YANLIUYUAN, subject="res-a")
    for phone, account in ((SUBMITTER_PHONE, "res-a"), (SUBSCRIBER_PHONE, None), (INVITEE_PHONE, "rep-1")):
        contact = {
            "phone": phone,
            "community_code": YANLIUYUAN,
            "kind": "resident",
            "app_user_id": account,
            "quiet_start": "00:00",
            "quiet_end": "00:00",
        }  # fmt: skip  (no quiet hours: the test runs any time)
        ok(http.call("POST", "/api/v1/notify/contacts", worker, contact), 201)

    # A proposal is submitted and accepted.
    body = {"community_code": YANLIUYUAN, "title": TITLE, "description": "污水外溢", "category": "environment"}
    proposal = ok(http.call("POST", "/api/v1/intake/proposals", submitter, body), 201)
    ok(http.call("POST", f"/api/v1/intake/proposals/{proposal['id']}/accept", worker))

    # A consultation of the community is announced, with rep-1 invited.
    starts_at = datetime.now(UTC) + timedelta(days=5)
    consultation = {"division_code": YANLIUYUAN, "title": CONSULTATION, "form": "community_council",
                    "mode": "offline", "starts_at": starts_at.isoformat(), "venue": "烟柳园社区议事厅",
                    "materials": ["https://docs.example/plan.pdf"]}  # fmt: skip
    cid = ok(http.call("POST", "/api/v1/meetings/consultations", worker, consultation), 201)["id"]
    ok(http.call("POST", f"/api/v1/meetings/consultations/{cid}/topics", worker, {"title": "管网改造方案"}), 201)
    invite = {"person_id": "rep-1", "category": "resident_representative"}  # once the contact reached meetings
    wait_until(lambda: http.call("POST", f"/api/v1/meetings/consultations/{cid}/participants", worker, invite)[0]
               == 201, timeout=20, what="the contact in meetings' replica of the directory")  # fmt: skip
    ok(http.call("POST", f"/api/v1/meetings/consultations/{cid}/announce", worker))

    when, place = domain.local_time(starts_at), "烟柳园社区议事厅"
    announced = {"title": CONSULTATION, "form_name": domain.form_name("community_council"), "starts_at": when,
                 "place": place}  # fmt: skip
    expected = {
        SUBMITTER_PHONE: [
            signed("proposal_received", title=TITLE),
            signed("proposal_accepted", relation="提交", title=TITLE),
            signed("community_announced", **announced),
        ],
        SUBSCRIBER_PHONE: [signed("community_announced", **announced)],
        INVITEE_PHONE: [signed("consultation_announced", **announced)],
    }
    kannel.wait_for(5, timeout=60)
    for phone, texts in expected.items():
        assert sorted(texts_to(kannel, phone)) == sorted(texts), phone
    assert all(message.sender == SERVICE_NUMBER for message in kannel.received())

    # The same steps in the submitter's inbox, through the gateway.
    inbox = ok(http.call("GET", "/api/v1/notify/inbox", submitter))
    bodies = {item["body"] for item in inbox["items"]}
    assert {text.removeprefix(f"【{SIGNATURE}】") for text in expected[SUBMITTER_PHONE]} <= bodies

    # Kannel's delivery reports mark every message delivered.
    def statuses():
        return [
            item["status"] for item in ok(http.call("GET", "/api/v1/notify/sms/messages?limit=50", worker))["items"]
        ]

    wait_until(lambda: statuses() == [sms.DELIVERED] * 5, timeout=30, what=f"delivered, got {statuses()}")

    # The subscriber replies 退订: the next notice reaches the others, not them.
    kannel.reply(SUBSCRIBER_PHONE, "退订")
    engine = create_engine(env["XIESHANG_NOTIFY_DATABASE_URL"])
    try:
        with engine.connect() as connection:
            wait_until(
                lambda: connection.scalar(select(func.count()).select_from(sms_stops)) == 1, timeout=20,
                what="the opt-out recorded",
            )  # fmt: skip
        later = (starts_at + timedelta(days=2)).isoformat()
        postpone = {"starts_at": later, "reason": "场地维修"}
        ok(http.call("POST", f"/api/v1/meetings/consultations/{cid}/postpone", worker, postpone))
        postponed = {"title": CONSULTATION, "starts_at": domain.local_time(later), "reason": "场地维修"}
        kannel.wait_for(7, timeout=60)
        assert signed("community_postponed", **postponed) in texts_to(kannel, SUBMITTER_PHONE)
        assert signed("consultation_postponed", **postponed) in texts_to(kannel, INVITEE_PHONE)
        assert texts_to(kannel, SUBSCRIBER_PHONE) == expected[SUBSCRIBER_PHONE]
        with engine.connect() as connection:  # nothing was even queued for the stopped number
            assert connection.scalar(select(func.count()).select_from(sms_messages)) == 7
    finally:
        engine.dispose()
