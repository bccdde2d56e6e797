"""Notify's SMS: carriers' length rules, who gets an SMS and when, the sender's outcomes, delivery
reports and opt-out replies (services/notify/sms.py, services.py, periodic/sender.py, sms_api.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select, update

from services.notify import domain, handlers, replies, services, sms
from services.notify.models import notifications, sms_messages, sms_stops
from services.notify.periodic.sender import RateLimit, SmsSender
from services.notify.phones import vault_for
from services.notify.providers import Accepted, FileProvider, ProviderError
from shared.clock import FixedClock
from tests.conftest import QIUPU_COMMUNITY, XIJIE, YANLIUYUAN
from tests.unit.notify_events import (
    PHONE_TITLE,
    PHONE_TITLE_SHOWN,
    SUBMITTER,
    TASK_TITLE,
    TITLE,
    announced,
    apply,
    escalated,
    event,
    extended,
    outcome_published,
    rating_requested,
    reopened,
    submitted,
    unredacted,
)

PHONE, OTHER_PHONE = "13800138000", "13900139000"
PUBLIC_URL = "https://xieshang.chizhou.example"
BOARD = f"{PUBLIC_URL}/public/{YANLIUYUAN}"
DAYTIME = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 in Beijing
NIGHT = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # 23:00 in Beijing


# -- carriers' length rules and replies (pure) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("characters", "parts"), [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (268, 4), (269, 5)]
)
def test_seventy_characters_fit_one_sms_and_sixty_seven_each_part_beyond(characters, parts):
    assert sms.parts("协" * characters) == parts


def test_characters_outside_the_basic_plane_count_twice():
    assert sms.units("协商😀") == 4
    assert sms.parts("协" * 69 + "😀") == 2


def test_the_signature_counts_and_a_text_beyond_the_parts_allowed_is_refused():
    notice = domain.TEMPLATES["community_notice"]
    text = sms.compose(notice, {"content": "请按时参加"}, signature="池州社区协商", max_parts=1)
    assert text.body == "【池州社区协商】社区通知:请按时参加" and text.parts == 1
    with pytest.raises(sms.TooLong, match="超过1条短信的上限70字"):
        sms.compose(notice, {"content": "协" * 60}, signature="池州社区协商", max_parts=1)


def test_an_event_text_is_fitted_by_shortening_its_title():
    template = domain.TEMPLATES["proposal_accepted"]
    long_title = "关于" + "红光市场地下管网" * 30
    text = sms.compose_fitted(
        template, {"relation": "提交", "title": long_title}, signature="池州社区协商", max_parts=2,
        shortenable=domain.SHORTENABLE,
    )  # fmt: skip
    assert text.parts == 2 and sms.units(text.body) <= 134
    assert "…”已被列为协商议题。" in text.body and text.body.startswith("【池州社区协商】您提交的建议“关于红光市场")


def test_a_title_is_redacted_before_it_is_shortened_so_no_part_of_a_number_shows():
    template = domain.TEMPLATES["proposal_accepted"]
    title = "红光市场地下管网疏通改造" * 4 + "请联系13812345678张三"
    text = sms.compose_fitted(
        template, {"relation": "提交", "title": title}, signature="池州社区协商", max_parts=1,
        shortenable=domain.SHORTENABLE,
    )  # fmt: skip
    assert text.parts == 1 and "…”已被列为协商议题。" in text.body
    assert not any(char.isdigit() for char in text.body)


def test_the_boards_link_ends_the_text_and_counts_one_per_character():
    template, variables = domain.TEMPLATES["rating_requested"], {"title": TITLE, "closes_at": "12月11日"}
    plain = sms.compose_fitted(template, variables, signature="池州社区协商", max_parts=4, shortenable=())
    assert plain.body == f"【池州社区协商】您关注的“{TITLE}”已办结,请在12月11日前评价:满意、基本满意或不满意。"
    text = sms.compose_fitted(template, variables, signature="池州社区协商", max_parts=4, shortenable=(), link=BOARD)
    assert text.body == f"{plain.body}详见社区公示栏:{BOARD}"
    assert sms.units(text.body) == len(text.body) == sms.units(plain.body) + len("详见社区公示栏:") + len(BOARD)
    assert (plain.parts, text.parts) == (1, 2)  # 55 characters, then 113: the link's ASCII counts as UCS-2
    outcome = domain.TEMPLATES["community_outcome"]
    told = sms.compose_fitted(outcome, {"title": TITLE, "decision": "已形成协商决定"}, signature="池州社区协商",
                              max_parts=4, shortenable=(), link=BOARD)  # fmt: skip
    assert told.body.endswith(f"的协商结果已公布:已形成协商决定。详见社区公示栏:{BOARD}")


def test_the_link_is_never_cut_a_title_is_and_without_room_the_text_goes_without_it():
    template = domain.TEMPLATES["rating_requested"]
    long_title = "关于" + "红光市场地下管网" * 30
    fitted = sms.compose_fitted(template, {"title": long_title, "closes_at": "12月11日"}, signature="池州社区协商",
                                max_parts=2, shortenable=domain.SHORTENABLE, link=BOARD)  # fmt: skip
    assert fitted.body.endswith(f"…”已办结,请在12月11日前评价:满意、基本满意或不满意。详见社区公示栏:{BOARD}")
    assert fitted.parts == 2 and sms.units(fitted.body) <= 134
    alone = sms.compose_fitted(template, {"title": TITLE, "closes_at": "12月11日"}, signature="池州社区协商",
                               max_parts=1, shortenable=domain.SHORTENABLE, link=BOARD)  # fmt: skip
    assert BOARD not in alone.body and alone.parts == 1 and TITLE in alone.body


def test_quiet_hours_hold_a_message_until_they_end_in_beijing_time():
    assert sms.quiet_until("22:00", "07:00", DAYTIME) is None
    assert sms.quiet_until("22:00", "07:00", NIGHT) == datetime(2026, 12, 1, 23, 0, tzinfo=UTC)  # 07:00 next day
    early = datetime(2026, 11, 30, 22, 59, tzinfo=UTC)  # 06:59 in Beijing
    assert sms.quiet_until("22:00", "07:00", early) == datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    assert sms.quiet_until("12:00", "14:00", datetime(2026, 12, 1, 4, 30, tzinfo=UTC)) is not None  # 12:30
    assert sms.quiet_until("00:00", "00:00", NIGHT) is None  # no quiet hours


def test_retries_back_off_then_give_up():
    now = DAYTIME
    assert sms.retry_at(1, (30.0, 120.0), now) == now + timedelta(seconds=30)
    assert sms.retry_at(2, (30.0, 120.0), now) == now + timedelta(seconds=120)
    assert sms.retry_at(3, (30.0, 120.0), now) is None


def test_reports_never_move_a_message_back():
    assert sms.advances(sms.SENDING, sms.SENT) and sms.advances(sms.SENT, sms.DELIVERED)
    assert not sms.advances(sms.DELIVERED, sms.SENT) and not sms.advances(sms.FAILED, sms.SENT)


# -- who gets an SMS, and when ----------------------------------------------------------------------


def queued(notify, **where) -> list[dict]:
    m = sms_messages.c
    with notify.db.sessions() as session:
        query = select(sms_messages).where(*(getattr(m, k) == v for k, v in where.items()))
        return [dict(row) for row in session.execute(query.order_by(m.created_at, m.id)).mappings()]


def app_messages(notify, event_id: str) -> dict[str, str]:
    n = notifications.c
    with notify.db.sessions() as session:
        return dict(session.execute(select(n.recipient_id, n.body).where(n.event_id == event_id)).all())


@pytest.fixture
def daytime(notify, monkeypatch):
    """Fan-out (notify's handlers and API) and sender see a fixed Beijing time (10:00 unless a test
    moves it)."""
    clock = FixedClock(DAYTIME)
    monkeypatch.setattr(handlers, "clock", clock)
    monkeypatch.setattr(notify, "clock", clock)
    return clock


def test_a_submitter_with_a_contact_entry_gets_the_app_message_and_an_sms(notify, add_contact, daytime):
    contact_id = add_contact(app_user_id=SUBMITTER)
    envelope = submitted("p-1")
    assert apply(notify, envelope) == "processed"
    [message] = queued(notify, event_id=envelope.id)
    assert (message["contact_id"], message["status"], message["template"]) == (
        contact_id,
        sms.QUEUED,
        "proposal_received",
    )
    assert message["variables"] == {"title": TITLE} and message["not_before"] == DAYTIME
    assert SUBMITTER in app_messages(notify, envelope.id)
    assert PHONE not in json.dumps(message, default=str)  # the row holds no number


def test_an_account_without_a_contact_entry_is_told_in_the_app_only(notify, daytime):
    envelope = submitted("p-1")
    apply(notify, envelope)
    assert queued(notify) == [] and SUBMITTER in app_messages(notify, envelope.id)


def test_channels_and_opt_outs_decide_per_channel(notify, add_contact, daytime):
    add_contact(app_user_id=SUBMITTER, channels=["sms"])
    envelope = submitted("p-1")
    apply(notify, envelope)
    assert len(queued(notify)) == 1 and app_messages(notify, envelope.id) == {}

    add_contact(OTHER_PHONE, app_user_id="resident-2", opt_outs=["proposal"])
    other = submitted("p-2", submitter="resident-2")
    apply(notify, other)
    assert queued(notify, event_id=other.id) == [] and app_messages(notify, other.id) == {}


def test_quiet_hours_defer_an_sms_until_morning_but_not_an_urgent_one(notify, add_contact, daytime):
    daytime.set(NIGHT)
    add_contact(app_user_id="resident-invitee")
    announcement = announced(["resident-invitee"])
    apply(notify, announcement)
    [deferred] = queued(notify, event_id=announcement.id)
    assert deferred["status"] == sms.DEFERRED
    assert deferred["not_before"] == datetime(2026, 12, 1, 23, 0, tzinfo=UTC)  # 07:00 in Beijing

    cancellation = event(
        "meetings.consultation.cancelled", consultation_id="c-1", community_code=YANLIUYUAN, proposal_ids=["p-1"],
        reason="场地临时停电",
    )  # fmt: skip
    apply(notify, cancellation)
    [urgent] = queued(notify, event_id=cancellation.id, template="consultation_cancelled")
    assert (urgent["status"], urgent["urgent"], urgent["not_before"]) == (sms.QUEUED, True, NIGHT)


def test_an_announcement_reaches_every_subscriber_of_the_community_once(notify, add_contact, daytime):
    invitee = add_contact("13800000001", app_user_id="resident-invitee")
    subscribers = [add_contact(f"1380000001{i}") for i in range(3)]
    add_contact("13800000020", community=XIJIE)  # another community
    add_contact("13800000021", kind="department_contact", department_id="dept-water")
    opted_out = add_contact("13800000022", opt_outs=["community"])
    envelope = announced(["resident-invitee"])
    apply(notify, envelope)
    apply(notify, envelope)  # redelivered: nothing more
    rows = queued(notify, event_id=envelope.id)
    by_contact = {row["contact_id"]: row["template"] for row in rows}
    assert by_contact == {invitee: "consultation_announced", **dict.fromkeys(subscribers, "community_announced")}
    assert opted_out not in by_contact and len(rows) == 4


def test_department_contacts_hear_of_their_tasks(notify, add_contact, daytime):
    water = add_contact(kind="department_contact", department_id="dept-water", community=QIUPU_COMMUNITY)
    add_contact(OTHER_PHONE, kind="department_contact", department_id="dept-roads")
    escalated = event(
        "tracking.task.escalated", task_id="t-1", community_code=YANLIUYUAN, proposal_ids=["p-1"],
        department_id="dept-water", title=TITLE, reason="超过办结时限7天",
    )  # fmt: skip
    apply(notify, escalated)
    [message] = queued(notify, event_id=escalated.id)
    assert message["contact_id"] == water and message["template"] == "task_escalated"


@pytest.mark.parametrize("envelope", [escalated(2), extended(True), extended(False), reopened()], ids=lambda e: e.type)
def test_department_contacts_hear_of_escalations_extensions_and_reopened_tasks(notify, add_contact, daytime,
                                                                               envelope):  # fmt: skip
    water = add_contact(kind="department_contact", department_id="dept-water", community=QIUPU_COMMUNITY)
    add_contact(OTHER_PHONE, kind="department_contact", department_id="dept-roads")
    apply(notify, envelope)
    apply(notify, envelope)  # redelivered: nothing more
    [message] = queued(notify, event_id=envelope.id)
    assert message["contact_id"] == water and message["template"].startswith("task_")
    assert message["variables"]["title"] == TASK_TITLE and message["status"] == sms.QUEUED


def test_a_rating_request_texts_each_rater_with_a_contact_entry_once(notify, add_contact, daytime):
    rater = add_contact(app_user_id=SUBMITTER)
    add_contact(OTHER_PHONE, app_user_id="resident-not-asked")
    asked = rating_requested([SUBMITTER, "resident-without-entry"])
    apply(notify, asked)
    apply(notify, asked)  # redelivered: nothing more
    [message] = queued(notify, event_id=asked.id)
    assert (message["contact_id"], message["template"], message["category"]) == (rater, "rating_requested", "rating")
    assert message["variables"] == {"title": TASK_TITLE, "closes_at": "12月11日"}
    assert set(app_messages(notify, asked.id)) == {SUBMITTER, "resident-without-entry"}
    assert PHONE not in json.dumps(message, default=str)


@pytest.mark.parametrize("envelope", [rating_requested([SUBMITTER]), extended(True), reopened()],
                         ids=lambda e: e.type)  # fmt: skip
def test_quiet_hours_hold_the_asks_and_notices_of_a_task_until_morning(notify, add_contact, daytime, envelope):
    daytime.set(NIGHT)
    add_contact(app_user_id=SUBMITTER)
    add_contact(OTHER_PHONE, kind="department_contact", department_id="dept-water")
    apply(notify, submitted("p-1"))  # SUBMITTER's proposal: the task's topic
    apply(notify, envelope)
    rows = queued(notify, event_id=envelope.id)
    assert rows and {(row["status"], row["urgent"]) for row in rows} == {(sms.DEFERRED, False)}
    assert {row["not_before"] for row in rows} == {datetime(2026, 12, 1, 23, 0, tzinfo=UTC)}  # 07:00 in Beijing


def test_opting_out_of_rating_asks_keeps_the_other_notices(notify, add_contact, daytime):
    add_contact(app_user_id=SUBMITTER, opt_outs=["rating"])
    asked = rating_requested([SUBMITTER])
    apply(notify, asked)
    apply(notify, submitted("p-1"))
    assert queued(notify, event_id=asked.id) == [] and app_messages(notify, asked.id) == {}
    assert [row["template"] for row in queued(notify)] == ["proposal_received"]


def test_a_stopped_number_gets_no_sms(notify, add_contact, daytime):
    add_contact(app_user_id=SUBMITTER)
    with notify.db.transaction() as session:
        session.execute(
            sms_stops.insert().values(
                phone_hash=vault_for(notify.settings).digest(PHONE), keyword="TD", stopped_at=DAYTIME
            )
        )
    envelope = submitted("p-1")
    apply(notify, envelope)
    assert queued(notify) == [] and SUBMITTER in app_messages(notify, envelope.id)


# -- the sender ---------------------------------------------------------------------------------------


class Carrier:
    """A provider that records what it was given and answers as told (one answer per send)."""

    name = "carrier"

    def __init__(self, *answers):
        self.answers = list(answers)
        self.sent = []

    def send(self, message):
        self.sent.append(message)
        answer = self.answers.pop(0) if self.answers else Accepted()
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture
def sender(notify, daytime):
    def make(provider, **settings):
        values = {"sms_retry_delays": (30.0, 60.0), "sms_callback_url": "https://xs.example/api/v1/notify/sms",
                  **settings}  # fmt: skip
        return SmsSender(notify.db, notify.unit_of_work, provider, vault_for(notify.settings),
                         notify.settings.replace(**values), daytime)  # fmt: skip

    return make


@pytest.fixture
def one_queued(notify, add_contact, daytime):
    add_contact(app_user_id=SUBMITTER)
    apply(notify, submitted("p-1"))
    [message] = queued(notify)
    return message["id"]


def test_the_sender_sends_the_signed_text_to_the_number_and_records_it(notify, sender, one_queued):
    carrier = Carrier(Accepted(reference="r-1"))
    assert sender(carrier).send_due() == 1
    [outgoing] = carrier.sent
    assert outgoing.phone == PHONE and outgoing.parts == 1
    assert outgoing.text == f"【池州社区协商】您提交的建议“{TITLE}”已收到,社区将尽快处理。"
    assert outgoing.report_url.startswith(f"https://xs.example/api/v1/notify/sms/reports/carrier?id={one_queued}&sig=")
    [row] = queued(notify)
    assert (row["status"], row["body"], row["provider_reference"], row["attempts"]) == (
        sms.SENT, outgoing.text, "r-1", 1
    )  # fmt: skip
    assert sender(carrier).send_due() == 0  # nothing is due any more


def test_a_title_is_texted_without_the_number_typed_into_it(notify, sender, add_contact):
    add_contact(app_user_id=SUBMITTER)
    apply(notify, unredacted(submitted("p-1"), title=PHONE_TITLE))
    carrier = Carrier(Accepted(reference="r-1"))
    assert sender(carrier).send_due() == 1
    [outgoing] = carrier.sent
    assert outgoing.text == f"【池州社区协商】您提交的建议“{PHONE_TITLE_SHOWN}”已收到,社区将尽快处理。"


def test_a_refused_message_retries_with_back_off_then_fails_with_the_reason(notify, sender, one_queued, daytime):
    carrier = Carrier(ProviderError("Kannel 503: busy", permanent=False), ProviderError("timeout", permanent=False))
    sending = sender(carrier)
    sending.send_due()
    [row] = queued(notify)
    assert (row["status"], row["attempts"], row["error"]) == (sms.QUEUED, 1, "Kannel 503: busy")
    assert row["not_before"] == DAYTIME + timedelta(seconds=30)
    assert sending.send_due() == 0  # not due yet
    daytime.advance(timedelta(seconds=31))
    sending.send_due()
    daytime.advance(timedelta(seconds=61))
    carrier.answers.append(ProviderError("timeout", permanent=False))
    sending.send_due()
    [row] = queued(notify)
    assert (row["status"], row["attempts"], row["error"]) == (sms.FAILED, 3, "timeout")


def test_a_permanent_refusal_fails_at_once(notify, sender, one_queued):
    sender(Carrier(ProviderError("Kannel 403: Authorization failed", permanent=True))).send_due()
    [row] = queued(notify)
    assert (row["status"], row["error"]) == (sms.FAILED, "Kannel 403: Authorization failed")


def test_an_opt_out_after_queuing_suppresses_the_message(notify, sender, one_queued):
    with notify.db.transaction() as session:
        session.execute(
            sms_stops.insert().values(
                phone_hash=vault_for(notify.settings).digest(PHONE), keyword="退订", stopped_at=DAYTIME
            )
        )
    carrier = Carrier()
    sender(carrier).send_due()
    assert carrier.sent == []
    [row] = queued(notify)
    assert (row["status"], row["error"]) == (sms.SUPPRESSED, "该号码已回复退订")


def test_a_claim_whose_lease_ran_out_is_sent_again(notify, sender, one_queued, daytime):
    m = sms_messages.c
    with notify.db.transaction() as session:  # as a sender killed after its claim leaves it
        session.execute(
            update(sms_messages).values(status=sms.SENDING, lease_until=DAYTIME + timedelta(seconds=5), attempts=1)
        )
    carrier = Carrier()
    assert sender(carrier).send_due() == 0  # the lease still holds
    daytime.advance(timedelta(seconds=6))
    assert sender(carrier).send_due() == 1
    with notify.db.sessions() as session:
        assert session.execute(select(m.status, m.attempts)).one() == (sms.SENT, 2)


class StoppedWhileSending(Carrier):
    """A carrier during whose first send the sender is told to stop (SIGTERM mid-batch)."""

    def __init__(self):
        super().__init__()
        self.sender = None

    def send(self, message):
        self.sender.signal_stop()
        return super().send(message)


def test_a_sender_stopped_mid_batch_puts_back_what_it_had_not_handed_over(notify, sender, add_contact):
    for i in range(3):
        add_contact(f"1380000001{i}")
    apply(notify, announced([]))
    carrier = StoppedWhileSending()
    carrier.sender = sending = sender(carrier)
    assert sending.send_due() == 3
    [handed_over] = carrier.sent
    rows = {row["id"]: row for row in queued(notify)}
    assert (rows[handed_over.message_id]["status"], rows[handed_over.message_id]["attempts"]) == (sms.SENT, 1)
    put_back = [row for message_id, row in rows.items() if message_id != handed_over.message_id]
    assert [(row["status"], row["lease_until"], row["attempts"]) for row in put_back] == [(sms.QUEUED, None, 0)] * 2
    sending.finish()  # the stop's backstop finds nothing more in hand
    assert sender(Carrier()).send_due() == 2  # the next sender takes them at once, not after the lease


def test_a_message_being_handed_over_when_the_stop_gives_up_waiting_is_left_to_its_report(notify, sender, one_queued):
    class Slow(Carrier):
        def send(self, message):
            sending.finish()  # stop_all's finish, while this send is still under way
            return super().send(message)

    carrier = Slow(Accepted(reference="r-1"))
    sending = sender(carrier)
    sending.send_due()
    [row] = queued(notify)
    assert (row["status"], row["provider_reference"]) == (sms.SENT, "r-1")
    assert len(carrier.sent) == 1


def test_the_file_provider_writes_masked_numbers_and_counts_as_delivered(notify, sender, one_queued, tmp_path):
    outbox = tmp_path / "sms-outbox.jsonl"
    sender(FileProvider(outbox), sms_callback_url=None).send_due()
    [line] = [json.loads(text) for text in outbox.read_text(encoding="utf-8").splitlines()]
    assert line["to"] == "138****8000" and line["text"].startswith("【池州社区协商】") and line["id"] == one_queued
    [row] = queued(notify)
    assert row["status"] == sms.DELIVERED and row["delivered_at"] is not None


@pytest.fixture
def outcome_and_ask(notify, add_contact, daytime):
    """An outcome notice to a subscriber and a rating ask to a rater, queued."""
    add_contact(app_user_id=SUBMITTER)
    apply(notify, announced([]))
    apply(notify, outcome_published())
    apply(notify, rating_requested([SUBMITTER]))
    return {row["template"] for row in queued(notify)}


def sent_by_template(notify, carrier) -> dict[str, str]:
    templates = {row["id"]: row["template"] for row in queued(notify)}
    return {templates[message.message_id]: message.text for message in carrier.sent}


def test_with_a_public_url_the_outcome_and_the_ask_end_with_the_boards_link(notify, sender, outcome_and_ask):
    assert {"community_announced", "community_outcome", "rating_requested"} <= outcome_and_ask
    carrier = Carrier()
    sender(carrier, public_url=PUBLIC_URL + "/").send_due()  # a trailing slash is not doubled
    texts = sent_by_template(notify, carrier)
    assert texts["community_outcome"] == (
        f"【池州社区协商】本社区“红光市场管网改造议事会”的协商结果已公布:已形成协商决定。详见社区公示栏:{BOARD}"
    )
    [asked] = [row["question_id"] for row in queued(notify) if row["template"] == "rating_requested"]
    how = replies.prompt(replies.RATING, replies.code_of(asked))  # the ask says how to rate by reply
    assert texts["rating_requested"] == (
        f"【池州社区协商】您关注的“{TASK_TITLE}”已办结,请在12月11日前评价:满意、基本满意或不满意。{how}"
        f"详见社区公示栏:{BOARD}"
    )
    assert BOARD not in texts["community_announced"]  # only the outcome and the ask are linked
    parts = {message.text: message.parts for message in carrier.sent}
    assert parts[texts["rating_requested"]] == sms.parts(texts["rating_requested"]) == 3
    [row] = [row for row in queued(notify) if row["template"] == "rating_requested"]
    assert (row["body"], row["parts"]) == (texts["rating_requested"], 3)  # the log keeps what was sent


def test_without_a_public_url_the_texts_stay_as_they_were(notify, sender, outcome_and_ask):
    carrier = Carrier()
    sender(carrier).send_due()
    texts = sent_by_template(notify, carrier)
    assert texts["community_outcome"] == (
        "【池州社区协商】本社区“红光市场管网改造议事会”的协商结果已公布:已形成协商决定。详见社区公示栏。"
    )
    [asked] = [row["question_id"] for row in queued(notify) if row["template"] == "rating_requested"]
    assert texts["rating_requested"] == (
        f"【池州社区协商】您关注的“{TASK_TITLE}”已办结,请在12月11日前评价:满意、基本满意或不满意。"
        + replies.prompt(replies.RATING, replies.code_of(asked))
    )
    assert not any("http" in text for text in texts.values())


# -- callbacks: delivery reports and replies ------------------------------------------------------------


@pytest.fixture
def client(notify):
    return notify.create_api().test_client()


def report(client, notify, message_id, kind, *, sig=None, answer=""):
    sig = sig or vault_for(notify.settings).sign(f"report:{message_id}")
    return client.get(
        "/api/v1/notify/sms/reports/kannel", query_string={"id": message_id, "sig": sig, "type": kind, "answer": answer}
    )


def test_delivery_reports_move_a_message_on_and_never_back(client, notify, sender, one_queued):
    sender(Carrier()).send_due()
    assert report(client, notify, one_queued, 1).status_code == 204
    assert report(client, notify, one_queued, 8, answer="ACK/").status_code == 204  # late "accepted"
    [row] = queued(notify)
    assert row["status"] == sms.DELIVERED and row["delivered_at"] is not None


def test_reports_arriving_together_are_applied_in_one_transaction_in_either_order(notify, sender, one_queued):
    sender(Carrier()).send_due()
    together = [
        services.DeliveryReport(one_queued, sms.DELIVERED),
        services.DeliveryReport(one_queued, sms.SENT),  # its "accepted", later than the handset's
        services.DeliveryReport("no-such-message", sms.FAILED, "短信中心拒收"),
    ]
    with notify.unit_of_work() as uow:
        services.apply_reports(uow, together, now=DAYTIME)
    [row] = queued(notify)
    assert row["status"] == sms.DELIVERED and row["delivered_at"] is not None


def test_a_report_is_committed_before_its_request_is_answered(client, notify, sender, one_queued):
    sender(Carrier()).send_due()
    reports = notify.group_commit(services.apply_reports)
    batches = reports.batches
    assert report(client, notify, one_queued, 1).status_code == 204
    assert reports.batches == batches + 1 and queued(notify)[0]["status"] == sms.DELIVERED


def test_a_failure_report_keeps_the_carriers_reason(client, notify, sender, one_queued):
    sender(Carrier()).send_due()
    report(client, notify, one_queued, 16, answer="NACK/0x0000000b/Invalid Destination Address")
    [row] = queued(notify)
    assert row["status"] == sms.FAILED and row["error"] == "短信中心拒收(NACK/0x0000000b/Invalid Destination Address)"


def test_a_report_with_a_bad_signature_is_refused_and_changes_nothing(client, notify, sender, one_queued):
    sender(Carrier()).send_due()
    other_signature = vault_for(notify.settings).sign("report:another-message")
    response = report(client, notify, one_queued, 1, sig=other_signature)
    assert response.status_code == 403 and response.content_type == "application/problem+json"
    for forged in ("签名", "é" * 32):  # any text is compared, none is a 500
        assert report(client, notify, one_queued, 1, sig=forged).status_code == 403
    assert queued(notify)[0]["status"] == sms.SENT


def reply(client, notify, sender_number, text, sig=None):
    sig = sig or vault_for(notify.settings).sign("replies:kannel")
    return client.get(
        "/api/v1/notify/sms/replies/kannel", query_string={"sig": sig, "from": sender_number, "text": text}
    )


def test_a_td_reply_stops_further_sms_and_a_subscribe_reply_resumes_them(client, notify, add_contact, daytime):
    add_contact(app_user_id=SUBMITTER)
    assert reply(client, notify, f"+86{PHONE}", "TD").json == {"action": "stop"}
    apply(notify, submitted("p-1"))
    assert queued(notify) == []
    assert reply(client, notify, PHONE, "订阅").json == {"action": "resume"}
    apply(notify, submitted("p-2"))
    assert len(queued(notify)) == 1


def test_a_number_without_a_contact_is_told_how_to_register_and_unsigned_replies_refused(client, notify):
    assert reply(client, notify, PHONE, "收到,谢谢").json == {"action": "register"}
    assert reply(client, notify, PHONE, "TD", sig="0" * 32).status_code == 403
    with notify.db.sessions() as session:
        assert session.execute(select(sms_stops)).all() == []


# -- hand-sent community notices --------------------------------------------------------------------------


def test_a_notice_is_previewed_and_sent_to_the_subscribers(client, notify, add_contact, auth, daytime):
    worker = auth("community_worker", YANLIUYUAN)
    for i in range(3):
        add_contact(f"1380000003{i}")
    preview = client.post("/api/v1/notify/sms/preview", json={"variables": {"content": "周六上午清理楼道杂物"}},
                          headers=worker)  # fmt: skip
    assert preview.status_code == 200
    assert preview.json == {"text": "【池州社区协商】社区通知:周六上午清理楼道杂物", "characters": 23, "parts": 1}
    body = {"community_code": YANLIUYUAN, "variables": {"content": "周六上午清理楼道杂物"}}
    sent = client.post("/api/v1/notify/sms/notices", json=body, headers=worker)
    assert sent.status_code == 202 and sent.json["subscribers"] == 3 and sent.json["sms"] == 3


@pytest.mark.parametrize(
    ("variables", "detail"),
    [({"content": "协" * 300}, "超过4条短信的上限268字"), ({"text": "x"}, "缺少content,多余text"),
     ({"content": "  "}, "非空的单行文本")],
)  # fmt: skip
def test_a_bad_notice_is_refused_in_chinese_and_queues_nothing(client, notify, add_contact, auth, variables, detail):
    add_contact()
    body = {"community_code": YANLIUYUAN, "variables": variables}
    response = client.post("/api/v1/notify/sms/notices", json=body, headers=auth("community_worker", YANLIUYUAN))
    assert response.status_code == 422 and detail in response.json["detail"]
    assert queued(notify) == []


def test_a_notice_outside_the_callers_scope_is_forbidden(client, notify, add_contact, auth):
    add_contact(community=XIJIE)
    body = {"community_code": XIJIE, "variables": {"content": "通知"}}
    response = client.post("/api/v1/notify/sms/notices", json=body, headers=auth("community_worker", YANLIUYUAN))
    assert response.status_code == 403 and queued(notify) == []


def test_the_rate_limit_lets_a_seconds_worth_through_then_spaces_the_parts():
    clock = {"now": 0.0}
    limit = RateLimit(10, clock=lambda: clock["now"])
    assert [limit.wait_time(2) for _ in range(5)] == [0.0] * 5  # ten parts in the first second
    assert limit.wait_time(2) == pytest.approx(0.2)  # then two parts every 0.2 s
    clock["now"] = 0.2
    assert limit.wait_time(2) == 0.0
    assert RateLimit(1, clock=lambda: 0.0).wait_time(4) == 0.0  # longer than a second's worth: goes alone


def test_sending_and_reports_are_counted_by_channel_and_step(client, notify, sender, one_queued):
    def counted(status):
        return REGISTRY.get_sample_value("xieshang_notify_messages_total", {"channel": "sms", "status": status}) or 0

    before = {status: counted(status) for status in (sms.SENT, sms.DELIVERED)}
    sender(Carrier()).send_due()
    report(client, notify, one_queued, 1)
    assert counted(sms.SENT) == before[sms.SENT] + 1 and counted(sms.DELIVERED) == before[sms.DELIVERED] + 1


def test_settled_messages_leave_the_log_after_the_retention(notify, sender, one_queued):
    sending = sender(Carrier(Accepted(delivered=True)), sms_retention_days=30)
    sending.send_due()
    assert sending.purge(DAYTIME + timedelta(days=29)) == 0
    assert sending.purge(DAYTIME + timedelta(days=31)) == 1 and queued(notify) == []
