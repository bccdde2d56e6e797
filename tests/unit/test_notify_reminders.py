"""Notify's own clock: reminders before a consultation and the dead-letter watch
(services/notify/periodic/reminders.py, dead_letters.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from services.notify import sms
from services.notify.domain import alert_id, reminder_id
from services.notify.models import notifications, sms_messages
from services.notify.periodic.dead_letters import DeadLetterWatch
from services.notify.periodic.reminders import Reminders
from services.notify.periodic.sender import SmsSender
from services.notify.spec import background
from tests.unit.notify_events import apply, event, topics

NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # 10:00 in Beijing: no quiet hours
INVITEES = ["resident-a", "resident-b"]
TITLE = "红光市场管网改造议事会"
VENUE = "烟柳园社区党群服务中心"


def announced_at(starts_at: datetime, invitees=INVITEES):
    return topics(
        "announced", ["p-1"], title=TITLE, form="community_council", mode="offline",
        starts_at=starts_at.isoformat(), venue=VENUE, invitee_ids=invitees,
    )  # fmt: skip


def postponed_to(starts_at: datetime, previous: datetime, invitees=INVITEES):
    return topics(
        "postponed", ["p-1"], title=TITLE, form="community_council", mode="offline",
        starts_at=starts_at.isoformat(), previous_starts_at=previous.isoformat(), reason="主要议题材料尚未备齐",
        invitee_ids=invitees,
    )  # fmt: skip


@pytest.fixture
def reminders(notify):
    return Reminders(notify.unit_of_work, notify.settings, notify.clock)


def reminder_messages(notify, template="consultation_reminder") -> list[tuple[str, str, str]]:
    """(event id, recipient, body) of the app messages of a template."""
    n = notifications.c
    with notify.db.sessions() as session:
        query = select(n.event_id, n.recipient_id, n.body).where(n.channel == "app", n.template == template)
        return sorted(tuple(row) for row in session.execute(query))


def sms_of(notify, event_id: str) -> list[dict]:
    m = sms_messages.c
    with notify.db.sessions() as session:
        return [dict(row) for row in session.execute(select(sms_messages).where(m.event_id == event_id)).mappings()]


def reminder_text(when: str) -> str:
    return f"提醒:您受邀参加的“{TITLE}”将于{when}开始,地点:{VENUE}。"


# -- reminders ----------------------------------------------------------------------------------------


def test_invitees_are_reminded_once_a_day_ahead_in_the_app_and_by_sms(notify, add_contact, reminders):
    contact_id = add_contact("13800138000", app_user_id="resident-a")
    starts_at = NOW + timedelta(hours=20)  # 12月1日 06:00 in Beijing
    apply(notify, announced_at(starts_at))
    assert reminders.remind_due(NOW) == 1
    event_id = reminder_id("c-1", starts_at)
    assert reminder_messages(notify) == [(event_id, who, reminder_text("12月1日 06:00")) for who in INVITEES]
    [message] = sms_of(notify, event_id)
    assert (message["contact_id"], message["status"], message["variables"]) == (
        contact_id,
        sms.QUEUED,
        {"title": TITLE, "starts_at": "12月1日 06:00", "place": VENUE},
    )
    assert reminders.remind_due(NOW + timedelta(minutes=1)) == 0
    assert len(reminder_messages(notify)) == 2 and len(sms_of(notify, event_id)) == 1


def test_a_consultation_more_than_a_day_ahead_is_not_reminded_yet(notify, reminders):
    starts_at = NOW + timedelta(hours=30)
    apply(notify, announced_at(starts_at))
    assert reminders.remind_due(NOW) == 0 and reminder_messages(notify) == []
    assert reminders.remind_due(NOW + timedelta(hours=7)) == 1  # now 23 h ahead
    assert {who for _, who, _ in reminder_messages(notify)} == set(INVITEES)


def test_a_postponement_after_the_reminder_makes_a_new_one_due(notify, reminders):
    first = NOW + timedelta(hours=20)
    apply(notify, announced_at(first))
    reminders.remind_due(NOW)
    later = NOW + timedelta(hours=23)  # 12月1日 09:00 in Beijing
    apply(notify, postponed_to(later, first, [*INVITEES, "resident-c"]))
    assert reminders.remind_due(NOW + timedelta(minutes=5)) == 1
    second = reminder_id("c-1", later)
    assert [(who, body) for event_id, who, body in reminder_messages(notify) if event_id == second] == [
        (who, reminder_text("12月1日 09:00")) for who in [*INVITEES, "resident-c"]
    ]
    assert len(reminder_messages(notify)) == 2 + 3
    assert reminders.remind_due(NOW + timedelta(minutes=10)) == 0


def test_someone_invited_after_the_reminder_is_reminded_too_and_nobody_twice(notify, reminders):
    starts_at = NOW + timedelta(hours=20)
    apply(notify, announced_at(starts_at))
    reminders.remind_due(NOW)
    late = announced_at(starts_at, ["resident-late"])
    apply(notify, event("meetings.consultation.invited", **late.payload))
    assert reminders.remind_due(NOW + timedelta(minutes=5)) == 1
    assert sorted(who for _, who, _ in reminder_messages(notify)) == sorted([*INVITEES, "resident-late"])


def test_a_cancelled_consultation_is_not_reminded(notify, reminders):
    apply(notify, announced_at(NOW + timedelta(hours=20)))
    apply(notify, topics("cancelled", ["p-1"], reason="暴雨预警,暂停聚集活动"))
    assert reminders.remind_due(NOW) == 0 and reminder_messages(notify) == []


def test_a_consultation_already_started_is_not_reminded(notify, reminders):
    apply(notify, announced_at(NOW - timedelta(minutes=30)))
    assert reminders.remind_due(NOW) == 0 and reminder_messages(notify) == []


def test_the_lead_time_is_configurable(notify):
    apply(notify, announced_at(NOW + timedelta(hours=30)))
    two_days = Reminders(notify.unit_of_work, notify.settings.replace(reminder_hours=48.0), notify.clock)
    assert two_days.remind_due(NOW) == 1


# -- the dead-letter watch ----------------------------------------------------------------------------------


def watch(notify, counts: dict[str, int]) -> DeadLetterWatch:
    return DeadLetterWatch(
        notify.settings, notify.topology, notify.unit_of_work, notify.clock, lambda names: dict(counts)
    )


def test_operators_hear_of_a_piling_dead_letter_queue_once_an_hour(notify, add_contact):
    add_contact("13700137000", kind="operator", app_user_id="ops-1")
    assert watch(notify, {"intake": 12, "meetings": 3}).check(NOW) == {"intake": 12}
    assert reminder_messages(notify, "operations_dead_letters") == [
        (alert_id("intake", NOW), "ops-1", "运维提醒:intake服务有12条事件处理失败,已转入死信队列,请查看并重放。")
    ]
    assert len(sms_of(notify, alert_id("intake", NOW))) == 1
    watch(notify, {"intake": 15}).check(NOW + timedelta(minutes=20))  # same hour
    assert len(reminder_messages(notify, "operations_dead_letters")) == 1
    watch(notify, {"intake": 15}).check(NOW + timedelta(hours=1))
    assert len(reminder_messages(notify, "operations_dead_letters")) == 2


def test_a_few_dead_letters_tell_nobody_but_set_the_gauge(notify, add_contact):
    add_contact("13700137000", kind="operator", app_user_id="ops-1")
    assert watch(notify, {"intake": 3, "tracking": 0}).check(NOW) == {}
    assert reminder_messages(notify, "operations_dead_letters") == []
    with notify.db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(sms_messages)) == 0
    assert REGISTRY.get_sample_value("xieshang_bus_dead_letters", {"service": "intake"}) == 3
    assert REGISTRY.get_sample_value("xieshang_bus_dead_letters", {"service": "tracking"}) == 0


def test_the_gauge_follows_the_queue(notify):
    watch(notify, {"meetings": 12}).check(NOW)
    assert REGISTRY.get_sample_value("xieshang_bus_dead_letters", {"service": "meetings"}) == 12
    watch(notify, {"meetings": 0}).check(NOW)
    assert REGISTRY.get_sample_value("xieshang_bus_dead_letters", {"service": "meetings"}) == 0


def test_on_the_in_memory_bus_the_watch_does_nothing(notify):
    idle = DeadLetterWatch(notify.settings, notify.topology, notify.unit_of_work, notify.clock)
    assert idle.count_dead_letters is None and idle.check(NOW) == {}
    idle.start()
    assert idle._thread is None
    idle.stop()


def test_the_notify_worker_runs_the_sender_the_reminders_and_the_watch(notify):
    parts = background(notify)
    assert [type(part) for part in parts] == [SmsSender, Reminders, DeadLetterWatch]
