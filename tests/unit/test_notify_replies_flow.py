"""Residents who only have a phone, in notify's use cases (no HTTP): an SMS that asks something ends
with its prompt and code; a reply is matched to the newest question sent to the number (or the one
its code names) and told to the service that acts on it once per number and question; 查询 is
answered with the matter's status; a longer text raises a matter; a garbled reply gets one help SMS
a day and a number without a contact one answer how to register, nothing kept but the hash."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from services.notify import domain, replies, services, sms
from services.notify.models import sms_messages, sms_replies
from shared.principal import Principal
from tests.conftest import YANLIUYUAN
from tests.unit.notify_events import TITLE, event, rating_requested, submitted, topics
from tests.unit.test_notify_services import notify, run, vault  # noqa: F401 - their fixtures

PHONE, OTHER_PHONE, STRANGER_PHONE = "13812341234", "15900001111", "18622223333"
WORKER = Principal("worker-1", "community_worker", YANLIUYUAN)
SIGNING = {"signature": "池州社区协商", "max_parts": 4}
REPLY = "notify.reply.received"


@pytest.fixture
def resident(run, vault, clock):
    """A resident of 烟柳园 without an app account (SMS only): their person id ``contact:<id>``."""
    data = {"phone": PHONE, "community_code": YANLIUYUAN, "kind": "resident", "quiet_start": "00:00",
            "quiet_end": "00:00"}  # fmt: skip
    contact_id = run(services.create_contact, WORKER, vault, data, now=clock.now())["id"]
    return f"contact:{contact_id}"


@pytest.fixture
def take(run, clock):
    def deliver(envelope) -> None:
        run(services.take_event, envelope.type, envelope.id, envelope.payload, envelope.division_code, now=clock.now())

    return deliver


@pytest.fixture
def send(run, vault, clock):
    """``send()``: the sender's steps for every due SMS; the texts sent, by number."""

    def go() -> dict[str, list[str]]:
        sent: dict[str, list[str]] = {}
        claimed = run(services.claim_ready_sms, vault, batch=50, lease=timedelta(minutes=2), public_url=None,
                      now=clock.now(), **SIGNING)  # fmt: skip
        for message, ready in claimed:
            if ready is not None:
                accepted = services.Accepted(message.id, ready.text, "kannel", reference=None, delivered=False)
                run(services.sms_accepted, [accepted], now=clock.now())
                sent.setdefault(ready.phone, []).append(ready.text.body)
        return sent

    return go


@pytest.fixture
def reply(run, vault, clock):
    def answer(text: str, sender: str = PHONE) -> str:
        return run(services.reply, vault, provider="kannel", signature=vault.sign("replies:kannel"), sender=sender,
                   text=text, now=clock.now())  # fmt: skip

    return answer


def code_asked(notify, template: str) -> str:
    with notify.db.sessions() as session:
        question_id = session.scalar(select(sms_messages.c.question_id).where(sms_messages.c.template == template))
    return replies.code_of(question_id)


def invitation(invitees: list[str], starts_at):
    return topics("announced", ["p-1"], title="红光市场管网改造议事会", form="community_council", mode="offline",
                  starts_at=starts_at.isoformat(), venue="烟柳园社区议事厅", invitee_ids=invitees)  # fmt: skip


def test_a_notice_about_a_matter_asks_to_co_sign_and_a_reply_co_signs_once(notify, run, take, send, reply, resident,
                                                                          clock):  # fmt: skip
    take(submitted("p-1"))
    sent = run(services.send_notice, WORKER, community_code=YANLIUYUAN, variables={"content": f"居民反映“{TITLE}”"},
               notice_id=None, proposal_id="p-1", now=clock.now(), **SIGNING)  # fmt: skip
    assert sent["sms"] == 1
    code = code_asked(notify, "community_notice")
    assert send() == {PHONE: [f"【池州社区协商】社区通知:居民反映“{TITLE}”回复1附议({code})。"]}

    assert reply("１") == "answered"
    assert reply("１") == "repeated"  # the same MO delivered twice
    assert reply(f"附议 {code}") == "repeated"  # or answered again
    [told] = notify.emitted(REPLY)
    assert {k: told[k] for k in ("kind", "person_id", "community_code", "target_id", "answer")} == {
        "kind": "support", "person_id": resident, "community_code": YANLIUYUAN, "target_id": "p-1", "answer": None,
    }  # fmt: skip
    assert PHONE not in repr(notify.events)  # no number in any event


def test_a_notice_may_ask_to_co_sign_only_a_matter_of_its_community(run, resident, clock):
    with pytest.raises(services.Invalid):
        run(services.send_notice, WORKER, community_code=YANLIUYUAN, variables={"content": "请附议"},
            notice_id=None, proposal_id="p-unknown", now=clock.now(), **SIGNING)  # fmt: skip


def test_an_invitation_is_answered_y_or_n_and_a_bare_n_stops_only_when_none_waits(notify, take, send, reply,
                                                                                  resident, clock):  # fmt: skip
    assert reply("N") == "stop" and reply("订阅") == "resume"  # nothing asked: N is 退订, as before
    take(invitation([resident], clock.now() + timedelta(days=3)))
    [text] = send()[PHONE]
    code = code_asked(notify, "consultation_announced")
    assert text.startswith("【池州社区协商】您受邀参加“红光市场管网改造议事会”") and text.endswith(
        f"回复Y参加、N不参加({code})。"
    )
    assert reply("n") == "answered"
    [told] = notify.emitted(REPLY)
    assert (told["kind"], told["target_id"], told["answer"], told["person_id"]) == ("rsvp", "c-1", "declined", resident)


def test_a_rating_is_answered_by_its_digit_and_an_answer_that_does_not_fit_gets_the_help(notify, take, send, reply,
                                                                                         resident, clock):  # fmt: skip
    take(rating_requested([resident], closes_at=clock.now() + timedelta(days=7)))
    send()
    assert reply("Y") == "help"  # Y does not rate
    assert reply("２") == "answered"
    [told] = notify.emitted(REPLY)
    assert (told["kind"], told["target_id"], told["answer"]) == ("rating", "t-1", "basically_satisfied")


def test_the_newest_question_wins_and_a_code_names_an_older_one(notify, take, send, reply, resident, clock):
    take(invitation([resident], clock.now() + timedelta(days=3)))
    send()
    rsvp_code = code_asked(notify, "consultation_announced")
    clock.advance(timedelta(minutes=1))
    take(rating_requested([resident], closes_at=clock.now() + timedelta(days=7)))
    send()
    assert reply("1") == "answered"  # the rating, the newest
    assert reply(f"Y {rsvp_code}") == "answered"  # the invitation, by its code
    assert [(e["kind"], e["answer"]) for e in notify.emitted(REPLY)] == [("rating", "satisfied"), ("rsvp", "accepted")]


def test_an_expired_question_is_not_answered(notify, take, send, reply, resident, clock):
    take(rating_requested([resident], closes_at=clock.now() + timedelta(days=7)))
    send()
    clock.advance(timedelta(days=8))
    assert reply("1") == "help" and notify.emitted(REPLY) == []


def test_a_garbled_reply_gets_one_help_sms_a_day(take, send, reply, resident, clock):
    assert reply("??") == "help"
    assert reply("asdf") == "ignored"  # the day's help is sent already
    assert send() == {PHONE: [sms.signed("池州社区协商", domain.render("reply_help"))]}
    clock.advance(timedelta(days=1))
    assert reply("??") == "help"


def test_a_number_without_a_contact_is_told_how_to_register_and_only_its_hash_stays(notify, send, reply, vault):
    assert reply("1", sender=STRANGER_PHONE) == "register"
    assert reply("我想参加", sender=STRANGER_PHONE) == "ignored"  # once a day
    assert send() == {STRANGER_PHONE: [sms.signed("池州社区协商", domain.render("reply_register"))]}
    with notify.db.sessions() as session:
        [row] = session.execute(select(sms_messages)).mappings().all()
        assert row["phone_cipher"] is None and row["status"] == sms.SENT  # the number erased once sent
        assert session.execute(select(sms_replies)).all() == []


def test_a_longer_text_raises_a_matter_in_the_contacts_community_once(notify, reply, resident):
    text = "反映:红光市场3号楼地下管网堵塞,请联系13800000000。污水外溢好几天了"
    assert reply(text) == "raised"
    assert reply(text) == "repeated"
    [told] = notify.emitted(REPLY)
    assert (told["kind"], told["person_id"], told["community_code"]) == ("matter", resident, YANLIUYUAN)
    assert told["title"] == "红光市场3号楼地下管网堵塞,请联系[已隐去]"  # redacted in the event
    assert "13800000000" not in repr(notify.events)


def sms_submitted(proposal_id: str, submitter: str, similar: list[dict]):
    envelope = submitted(proposal_id, submitter=submitter)
    return event("intake.proposal.submitted", **{**envelope.payload, "channel": "sms", "similar": similar})


def test_the_receipt_of_a_matter_raised_by_sms_offers_its_duplicates_and_answers_its_status(
    notify, take, send, reply, resident, clock
):
    take(submitted("p-old", title="三号楼管网堵塞"))
    take(sms_submitted("p-new", resident, [{"proposal_id": "p-old", "title": "三号楼管网堵塞"}]))
    [receipt] = send()[PHONE]
    code = code_asked(notify, "proposal_received")
    assert receipt == (
        f"【池州社区协商】您提交的建议“{TITLE}”已收到,社区将尽快处理。"
        f"编号{code}。相似事项:1“三号楼管网堵塞”,回复序号改为附议该事项;回复“查询{code}”查进度。"
    )
    assert reply("1") == "answered"
    [told] = notify.emitted(REPLY)
    assert (told["kind"], told["target_id"]) == ("support", "p-old")  # co-signs the duplicate instead

    take(event("intake.proposal.accepted", proposal_id="p-new", community_code=YANLIUYUAN, submitter_id=resident,
               title=TITLE, actor_id="worker-1", category="environment", origin="resident"))  # fmt: skip
    send()
    assert reply(f"查询 {code}") == "queried"
    assert reply(f"查询{code}") == "repeated"  # once a day for the same status
    [status] = send()[PHONE]
    assert status == f"【池州社区协商】您的事项“{TITLE}”(编号{code}):已列为协商议题。社区将安排协商"


def test_an_app_user_answering_by_sms_is_their_account(notify, run, take, send, reply, vault, clock):
    data = {"phone": OTHER_PHONE, "community_code": YANLIUYUAN, "kind": "resident", "app_user_id": "resident-a",
            "quiet_start": "00:00", "quiet_end": "00:00"}  # fmt: skip
    run(services.create_contact, WORKER, vault, data, now=clock.now())
    take(rating_requested(["resident-a"], closes_at=clock.now() + timedelta(days=7)))
    send()
    assert reply("满意", sender=OTHER_PHONE) == "answered"
    assert notify.emitted(REPLY)[0]["person_id"] == "resident-a"
