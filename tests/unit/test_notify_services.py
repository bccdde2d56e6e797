"""Notify's use cases without HTTP: the contact import (good rows kept, bad ones reported),
preferences and quiet hours, a routed event told once per (event, recipient, channel), stop and
resume replies, a reminder due once per start time, and refusals that write nothing. Time is the
``clock`` fixture's (10:00 in Beijing unless a test moves it)."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from services.notify import domain, replies, schemas, services, sms
from services.notify.phones import vault_for
from shared.config import load_settings
from shared.principal import Principal
from shared.problems import Conflict, Forbidden, Invalid
from tests.conftest import CHIYANG, QIUPU_COMMUNITY, YANLIUYUAN
from tests.unit.notify_events import (
    COSIGNER,
    SUBMITTER,
    TASK_TITLE,
    TITLE,
    TRIAGE_DETAILS,
    event,
    rating_requested,
    submitted,
    supported,
    topics,
    triaged,
)

PHONE, OTHER_PHONE, THIRD_PHONE = "13812341234", "15900001111", "18622223333"
WORKER = Principal("worker-1", "community_worker", YANLIUYUAN)
LEAD = timedelta(hours=24)  # XIESHANG_REMINDER_HOURS' default
NOTICE = {"signature": "池州社区协商", "max_parts": 4}  # as the adapter passes its settings


@pytest.fixture
def notify(memory_service):
    return memory_service("notify")


@pytest.fixture
def vault(tmp_path):
    key = base64.b64encode(os.urandom(32)).decode()
    return vault_for(load_settings({"XIESHANG_DATA_DIR": str(tmp_path), "XIESHANG_NOTIFY_PHONE_KEY": key}))


@pytest.fixture
def run(notify):
    """``run(use_case, *args, **kwargs)``: one use case in its own unit of work."""

    def call(use_case, *args, **kwargs):
        with notify.unit_of_work() as uow:
            return use_case(uow, *args, **kwargs)

    return call


@pytest.fixture
def add(run, vault, clock):
    """``add(phone, **fields)``: a contact of 烟柳园 added by its community worker; its id."""

    def make(phone: str = PHONE, **fields) -> str:
        data = {"phone": phone, "community_code": YANLIUYUAN, "kind": "resident", **fields}
        return run(services.create_contact, WORKER, vault, data, now=clock.now())["id"]

    return make


@pytest.fixture
def take(run, clock):
    """``take(envelope)``: an event as notify's handlers take it, at the clock's time."""

    def deliver(envelope) -> None:
        run(services.take_event, envelope.type, envelope.id, envelope.payload, envelope.division_code, now=clock.now())

    return deliver


def snapshot(notify) -> dict:
    """Every row of notify's tables (the registry replica aside)."""
    with notify.db.sessions() as session:
        return {
            name: sorted(map(repr, session.execute(select(table)).all()))
            for name, table in notify.spec.metadata.tables.items()
            if name != "division"
        }


def inbox(run, user_id: str) -> list[str]:
    """The bodies of someone's app notifications."""
    return [item["body"] for item in run(services.inbox, Principal(user_id, "resident", YANLIUYUAN))["items"]]


def texts(run, **where) -> list[dict]:
    """The SMS of 烟柳园 (the worker's log), those matching ``where``."""
    items = run(services.sms_log, WORKER, status=None, contact_id=None, limit=100, cursor=None)["items"]
    return [item for item in items if all(item[key] == value for key, value in where.items())]


def consultation(verb: str, starts_at: datetime, invitees: list[str], **extra):
    """c-1 of 烟柳园 announced (or postponed…) to start at ``starts_at``, inviting ``invitees``."""
    details = {"venue": "烟柳园社区党群服务中心"} if verb == "announced" else {}
    return topics(
        verb, ["p-1"], title="红光市场管网改造议事会", form="community_council", mode="offline",
        starts_at=starts_at.isoformat(), invitee_ids=invitees, **details, **extra,
    )  # fmt: skip


# -- the contact directory -----------------------------------------------------------------------------

CSV = (
    "phone,community_code,kind,app_user_id,department_id,channels,quiet_start,quiet_end\n"
    f"{PHONE},{YANLIUYUAN},resident,resident-a,,sms;app,22:30,07:00\n"  # 2 good
    f"12345,{YANLIUYUAN},resident,,,,,\n"  # 3 bad phone
    f"{OTHER_PHONE},{QIUPU_COMMUNITY},resident,,,,,\n"  # 4 out of scope
    f"{THIRD_PHONE},{YANLIUYUAN},department_contact,,,sms,,\n"  # 5 no department
    f"{THIRD_PHONE},{YANLIUYUAN},department_contact,,贵池区住建局,sms,,\n"  # 6 good
    f"{THIRD_PHONE},{YANLIUYUAN},department_contact,,贵池区住建局,app,,\n"  # 7 the same number again
)


def test_an_import_keeps_good_rows_and_reports_bad_ones_then_updates_them(run, vault, clock):
    result = run(services.import_contacts, WORKER, vault, schemas.import_rows(CSV), now=clock.now())
    assert (result["imported"], result["updated"]) == (2, 0)
    assert {row["line"]: row["errors"] for row in result["rejected"]} == {
        3: ["手机号:手机号须为11位中国大陆手机号"],
        4: ["社区代码:该社区不在您的管辖范围内"],
        5: ["部门联系人须填写部门(department_id)"],
        7: ["与第6行的手机号重复"],
    }
    listed = run(services.list_contacts, WORKER, vault, community=None, kind=None, limit=10, cursor=None)["items"]
    assert sorted((c["phone"], c["kind"]) for c in listed) == [
        ("138****1234", "resident"),
        ("186****3333", "department_contact"),
    ]
    again = run(services.import_contacts, WORKER, vault, schemas.import_rows(CSV), now=clock.now())
    assert (again["imported"], again["updated"]) == (0, 2)


def test_an_import_without_a_good_row_is_refused_and_writes_nothing(notify, run, vault, clock):
    before = snapshot(notify)
    bad = schemas.import_rows(f"phone,community_code,kind\n123,{YANLIUYUAN},resident\n{PHONE},{YANLIUYUAN},alien\n")
    with pytest.raises(Invalid) as refused:
        run(services.import_contacts, WORKER, vault, bad, now=clock.now())
    assert [row["line"] for row in refused.value.extra["rejected"]] == [2, 3]
    outside = schemas.import_rows(f"phone,community_code,kind\n{PHONE},{QIUPU_COMMUNITY},resident\n")
    with pytest.raises(Forbidden):
        run(services.import_contacts, WORKER, vault, outside, now=clock.now())
    assert snapshot(notify) == before


def test_contacts_added_removed_imported_or_resynced_are_told_by_ids(notify, run, vault, clock, add):
    contact_id = add(app_user_id="resident-a")
    run(services.remove_contact, WORKER, contact_id, now=clock.now())
    run(services.import_contacts, WORKER, vault, schemas.import_rows(CSV), now=clock.now())
    told = [c for payload in notify.emitted("notify.contacts.changed") for c in payload["contacts"]]
    me = {"contact_id": contact_id, "app_user_id": "resident-a", "kind": "resident", "community_code": YANLIUYUAN}
    assert told[:2] == [{**me, "removed": False}, {**me, "removed": True}]
    assert [(c["kind"], c["app_user_id"], c["removed"]) for c in told[2:]] == [
        ("resident", "resident-a", False),  # the number again: a new contact, the account with it
        ("department_contact", None, False),
    ]
    assert not any(PHONE in repr(e.payload) or THIRD_PHONE in repr(e.payload) for e in notify.events)
    assert {e.division_code for e in notify.events} == {YANLIUYUAN}
    assert run(services.resync_contacts) == 3
    resynced = notify.emitted("notify.contacts.changed")[-1]["contacts"]
    assert sorted((c["kind"], c["removed"]) for c in resynced) == [
        ("department_contact", False),
        ("resident", False),
        ("resident", True),
    ]


def test_a_refused_contact_writes_nothing(notify, run, vault, clock, add):
    add()
    street = Principal("street-1", "street_admin", CHIYANG)
    before = snapshot(notify)
    refusals = [
        (Forbidden, {"phone": OTHER_PHONE, "community_code": QIUPU_COMMUNITY, "kind": "resident"}),
        (Invalid, {"phone": OTHER_PHONE, "community_code": "341702001999", "kind": "resident"}),  # no such community
        (Invalid, {"phone": OTHER_PHONE, "community_code": YANLIUYUAN, "kind": "department_contact"}),
        (Conflict, {"phone": PHONE, "community_code": YANLIUYUAN, "kind": "resident"}),  # the number is there
    ]
    for problem, data in refusals:
        with pytest.raises(problem):
            run(services.create_contact, street, vault, data, now=clock.now())
    assert snapshot(notify) == before


def test_preferences_and_quiet_hours_decide_what_is_sent_and_when(run, vault, clock, add, take):
    add(app_user_id=SUBMITTER)
    me = Principal(SUBMITTER, "resident", YANLIUYUAN)
    changes = {"opt_outs": ["consultation"], "quiet_start": "21:00", "quiet_end": "06:30"}
    mine = run(services.change_mine, me, vault, changes, now=clock.now())
    assert mine["phone"] == "138****1234"
    assert (mine["opt_outs"], mine["quiet_start"], mine["quiet_end"]) == (["consultation"], "21:00", "06:30")

    clock.set(datetime(2026, 12, 1, 13, 30, tzinfo=UTC))  # 21:30 in Beijing: inside the quiet hours
    take(submitted("p-1"))
    [held] = texts(run)
    assert (held["status"], held["not_before"]) == (sms.DEFERRED, datetime(2026, 12, 1, 22, 30, tzinfo=UTC))
    assert inbox(run, SUBMITTER) == [f"您提交的建议“{TITLE}”已收到,社区将尽快处理。"]  # the app is not held

    clock.set(datetime(2026, 12, 2, 2, 0, tzinfo=UTC))  # 10:00 in Beijing
    take(consultation("announced", clock.now() + timedelta(days=3), [SUBMITTER]))
    assert texts(run, template="consultation_announced") == []  # opted out of consultations' notices
    [community] = texts(run, template="community_announced")  # but still subscribed to the community's
    assert (community["status"], community["not_before"]) == (sms.QUEUED, clock.now())
    assert not any(body.startswith("您受邀参加") for body in inbox(run, SUBMITTER))


# -- delivery ----------------------------------------------------------------------------------------------


def test_a_routed_event_is_told_once_per_event_recipient_and_channel(run, add, take):
    contact_id = add(app_user_id=SUBMITTER)
    for envelope in (submitted("p-1"), supported("p-1", COSIGNER)):
        take(envelope)
    accepted = triaged("accepted", "p-1", **TRIAGE_DETAILS["accepted"])
    take(accepted)
    take(accepted)  # delivered again: nothing more
    assert inbox(run, SUBMITTER)[0] == f"您提交的建议“{TITLE}”已被列为协商议题。"
    assert inbox(run, COSIGNER) == [f"您附议的建议“{TITLE}”已被列为协商议题。"]  # no contact entry: the app only
    [text] = texts(run, event_id=accepted.id)
    assert (text["contact_id"], text["status"]) == (contact_id, sms.QUEUED)


def test_a_rating_ask_is_told_once_per_rater_and_channel_its_sms_ending_with_the_boards_link(
    run, vault, clock, add, take
):
    add(app_user_id=SUBMITTER)
    asked = rating_requested([SUBMITTER, COSIGNER])
    take(asked)
    take(asked)  # delivered again: nothing more
    ask = f"您关注的“{TASK_TITLE}”已办结,请在12月11日前评价:满意、基本满意或不满意。"
    assert inbox(run, SUBMITTER) == [ask] and inbox(run, COSIGNER) == [ask]  # the app message has no link
    [text] = texts(run, event_id=asked.id)
    assert text["status"] == sms.QUEUED

    def ready(public_url):
        """The SMS as a sender claims it (again once the last claim's lease has run out)."""
        clock.set(clock.now() + timedelta(minutes=3))
        [(_message, claimed)] = run(services.claim_ready_sms, vault, batch=10, lease=timedelta(minutes=2),
                                    public_url=public_url, now=clock.now(), **NOTICE)  # fmt: skip
        return claimed

    linked = ready("https://xieshang.chizhou.example")
    assert linked.phone == PHONE
    # The SMS asks too: how to rate by reply, with the question's code (the app has its buttons).
    asks = replies.prompt(replies.RATING, replies.code_of(domain.question_id(asked.id, "rating_requested")))
    assert linked.text.body == (
        f"【池州社区协商】{ask}{asks}详见社区公示栏:https://xieshang.chizhou.example/public/{YANLIUYUAN}"
    )
    assert ready(None).text.body == f"【池州社区协商】{ask}{asks}"  # unset: no link


def test_a_stop_reply_stops_the_number_and_a_subscribe_reply_lifts_it(run, vault, clock, add, take):
    add(app_user_id=SUBMITTER)

    def reply(text: str, signature: str | None = None) -> str:
        signature = signature or vault.sign("replies:kannel")
        return run(services.reply, vault, provider="kannel", signature=signature, sender=f"+86{PHONE}", text=text,
                   now=clock.now())  # fmt: skip

    assert reply("退订") == "stop"
    stopped = submitted("p-1")
    take(stopped)
    assert texts(run, event_id=stopped.id) == [] and len(inbox(run, SUBMITTER)) == 1  # the app still tells

    with pytest.raises(Forbidden):
        reply("订阅", signature="0" * 32)  # unsigned: changes nothing
    assert reply("订阅") == "resume"
    resumed = submitted("p-2")
    take(resumed)
    assert [t["status"] for t in texts(run, event_id=resumed.id)] == [sms.QUEUED]
    assert reply("好的,谢谢") == "help"  # no question open: how to reply (tests/unit/test_notify_replies_*)


def test_a_notice_goes_to_the_subscribers_and_a_bad_one_writes_nothing(notify, run, clock, add):
    for phone in (PHONE, OTHER_PHONE):
        add(phone)
    before = snapshot(notify)
    for variables in ({"content": "协" * 300}, {"text": "x"}):
        with pytest.raises(Invalid):
            run(services.send_notice, WORKER, community_code=YANLIUYUAN, variables=variables, notice_id=None,
                now=clock.now(), **NOTICE)  # fmt: skip
    with pytest.raises(Forbidden):
        run(services.send_notice, Principal("w", "community_worker", QIUPU_COMMUNITY), community_code=YANLIUYUAN,
            variables={"content": "通知"}, notice_id=None, now=clock.now(), **NOTICE)  # fmt: skip
    assert snapshot(notify) == before
    sent = run(services.send_notice, WORKER, community_code=YANLIUYUAN, variables={"content": "周六清理楼道"},
               notice_id=None, now=clock.now(), **NOTICE)  # fmt: skip
    assert (sent["subscribers"], sent["sms"], sent["sms_deferred"]) == (2, 2, 0)


# -- reminders ----------------------------------------------------------------------------------------------


def test_a_reminder_is_due_once_per_start_time(run, clock, take):
    now = clock.now()
    first = now + timedelta(hours=20)
    take(consultation("announced", first, ["resident-a"]))
    assert run(services.reminders_due, lead=LEAD, now=now) == ["c-1"]
    assert run(services.remind, "c-1", lead=LEAD, now=now) is True
    assert run(services.reminders_due, lead=LEAD, now=now) == []
    assert run(services.remind, "c-1", lead=LEAD, now=now) is False  # a second worker finds it done
    assert inbox(run, "resident-a")[0].startswith("提醒:")

    later = now + timedelta(hours=23)
    take(consultation("postponed", later, ["resident-a"], previous_starts_at=first.isoformat(), reason="材料未齐"))
    assert run(services.remind, "c-1", lead=LEAD, now=now) is True  # a new start, a new reminder
    reminders = [body for body in inbox(run, "resident-a") if body.startswith("提醒:")]
    assert len(reminders) == 2 and domain.reminder_id("c-1", first) != domain.reminder_id("c-1", later)


def test_a_cancelled_consultation_is_not_reminded(run, clock, take):
    take(consultation("announced", clock.now() + timedelta(hours=20), ["resident-a"]))
    take(event("meetings.consultation.cancelled", consultation_id="c-1", community_code=YANLIUYUAN,
               proposal_ids=["p-1"], reason="暴雨预警"))  # fmt: skip
    assert run(services.reminders_due, lead=LEAD, now=clock.now()) == []
