"""Tracking's rules: the task's lifecycle, the working-day schedule of 催办/督办/通报, ratings and
reopening, the rates and coverage (pure functions, hand-computed expectations)."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

import pytest

from services.tracking import domain
from services.tracking.workdays import is_workday
from shared.principal import Principal
from shared.problems import Conflict, Forbidden, Invalid
from tests.conftest import CHIYANG, YANLIUYUAN

ORG = "dept-housing"
T0 = datetime(2026, 9, 21, 1, 0, tzinfo=UTC)  # Monday 09:00 in Beijing
WINDOW = timedelta(days=15)
DEPARTMENT = Principal("dept-user", "department", "341702")
WORKER = Principal("worker", "community_worker", YANLIUYUAN)
STREET = Principal("street", "street_admin", CHIYANG)


def beijing(year, month, day, hour=9):
    return datetime(year, month, day, hour - 8, tzinfo=UTC)


def task(**changes) -> domain.Task:
    made = domain.new_task(
        source="resolution",
        source_id="res-1",
        community_code=YANLIUYUAN,
        title="杏花家园停车位改造",
        agreed="施划停车位 40 个",
        organisation_id=ORG,
        deadline=date(2026, 10, 8),
        now=T0,
        consultation_id="c-1",
        proposal_ids=["p-1"],
    )
    return replace(made, **changes)


# -- lifecycle ---------------------------------------------------------------------------------------


def test_a_task_goes_from_assignment_to_closure_each_step_recorded():
    t = task()
    t, accepted = domain.accept(t, DEPARTMENT, ORG, T0 + timedelta(hours=2))
    t, started, note = domain.report_progress(t, DEPARTMENT, ORG, T0 + timedelta(days=1), percent=30, note="已施工")
    t, same, _ = domain.report_progress(t, DEPARTMENT, ORG, T0 + timedelta(days=2), percent=60, note="过半")
    t, completed = domain.complete(t, DEPARTMENT, ORG, T0 + timedelta(days=5), summary="已完成", rating_window=WINDOW)
    t, evaluated = domain.evaluate(t, [], T0 + timedelta(days=21))
    t, closed = domain.close(t, WORKER, T0 + timedelta(days=22))
    assert [x.to_status for x in (accepted, started, completed, evaluated, closed)] == [
        "accepted", "in_progress", "completed", "evaluated", "closed"
    ]  # fmt: skip
    assert same is None and note.percent == 30 and t.progress == 100 and t.status == "closed"


def test_only_the_responsible_organisation_acts_on_its_task():
    with pytest.raises(Forbidden):
        domain.accept(task(), DEPARTMENT, "another-dept", T0)
    with pytest.raises(Forbidden):
        domain.accept(task(), WORKER, None, T0)


def test_progress_is_a_whole_percentage_that_never_goes_back():
    t, _ = domain.accept(task(), DEPARTMENT, ORG, T0)
    t, _, _ = domain.report_progress(t, DEPARTMENT, ORG, T0, percent=50, note="一半")
    for bad in (-1, 101, 40, True):
        with pytest.raises(Invalid):
            domain.report_progress(t, DEPARTMENT, ORG, T0, percent=bad, note="x")
    with pytest.raises(Invalid):
        domain.report_progress(t, DEPARTMENT, ORG, T0, percent=60, note="x", evidence=["ftp://x"])


def test_no_progress_before_signing_for_it():
    with pytest.raises(Conflict, match="任务当前状态为“已交办”,不能填报进展"):
        domain.report_progress(task(), DEPARTMENT, ORG, T0, percent=10, note="x")


def test_an_extension_is_asked_once_and_decided_by_the_supervising_level():
    t = domain.request_extension(task(), DEPARTMENT, ORG, days=10, reason="材料采购延迟")
    with pytest.raises(Conflict):
        domain.request_extension(t, DEPARTMENT, ORG, days=5, reason="again")
    with pytest.raises(Forbidden):
        domain.decide_extension(t, WORKER, T0, approve=True)
    extended = domain.decide_extension(replace(t, reminded_at=T0, escalation_level=1), STREET, T0, approve=True)
    assert extended.deadline == date(2026, 10, 18) and extended.reminded_at is None and extended.escalation_level == 0
    refused = domain.decide_extension(t, STREET, T0, approve=False)
    assert refused.deadline == date(2026, 10, 8) and refused.extension_requested is None
    with pytest.raises(Invalid):
        domain.request_extension(task(), DEPARTMENT, ORG, days=domain.MAX_EXTENSION_DAYS + 1, reason="太久")


# -- the schedule, on China's calendar --------------------------------------------------------------


def test_the_calendar_knows_the_holiday_and_the_adjusted_saturday():
    assert not is_workday(date(2026, 10, 5))  # National Day, a Monday
    assert is_workday(date(2026, 10, 10))  # 调休: a Saturday worked
    assert is_workday(date(2026, 9, 20))  # 调休: a Sunday worked


def test_the_calendar_falls_back_to_weekdays_for_a_year_it_does_not_know():
    assert is_workday(date(2099, 1, 5)) and not is_workday(date(2099, 1, 4))


SCHEDULE = domain.Schedule(remind_before=1, notice_after=3)


def steps(t: domain.Task, moments) -> list:
    """The step the clock owes at each moment, applying each as the scheduler would."""
    out = []
    for moment in moments:
        due = domain.due_escalation(t, moment, SCHEDULE, is_workday)
        out.append(due.step if due else None)
        if due:
            t = domain.apply_escalation(t, due, moment)
    return out


def test_the_reminder_comes_one_working_day_before_the_deadline_across_the_national_day_holiday():
    # Deadline Thursday 8 October, the first working day after 1-7 October: the working day
    # before it is Wednesday 30 September.
    moments = [beijing(2026, 9, 29), beijing(2026, 9, 30), beijing(2026, 10, 2), beijing(2026, 10, 8)]
    assert steps(task(), moments) == [None, "remind", None, None]


def test_escalation_when_the_deadline_passes_and_a_notice_after_three_working_days_counting_the_saturday():
    # Late from Friday 9 October: 9 (1), Saturday 10 worked (2), Sunday 11 not, Monday 12 (3).
    t = task(reminded_at=T0)
    moments = [beijing(2026, 10, 8, 23), beijing(2026, 10, 9), beijing(2026, 10, 10), beijing(2026, 10, 11),
               beijing(2026, 10, 12), beijing(2026, 10, 13)]  # fmt: skip
    assert steps(t, moments) == [None, "escalate", None, None, "notice", None]
    assert domain.working_days_late(date(2026, 10, 8), date(2026, 10, 12), is_workday) == 3


def test_a_completed_task_is_never_chased():
    t = task(status="completed", completed_at=T0, rating_closes_at=T0 + WINDOW)
    assert domain.due_escalation(t, beijing(2026, 10, 20), SCHEDULE, is_workday) is None


# -- satisfaction --------------------------------------------------------------------------------------

RESIDENT = Principal("resident-1", "resident", YANLIUYUAN)


def completed(at=T0) -> domain.Task:
    return task(status="completed", completed_at=at, rating_closes_at=at + WINDOW, accepted_at=at)


def test_a_rating_is_given_once_by_someone_concerned_within_the_window():
    t = completed()
    rating = domain.rate(t, RESIDENT, eligible=True, already=False, choice="satisfied", comment="很好", now=T0)
    assert rating.choice == "satisfied" and rating.comment == "很好"
    with pytest.raises(Conflict, match="已评价"):
        domain.rate(t, RESIDENT, eligible=True, already=True, choice="satisfied", comment=None, now=T0)
    with pytest.raises(Forbidden):
        domain.rate(t, RESIDENT, eligible=False, already=False, choice="satisfied", comment=None, now=T0)
    with pytest.raises(Conflict, match="评价期已结束"):
        domain.rate(t, RESIDENT, eligible=True, already=False, choice="satisfied", comment=None, now=T0 + WINDOW)
    with pytest.raises(Conflict):
        domain.rate(task(), RESIDENT, eligible=True, already=False, choice="satisfied", comment=None, now=T0)
    with pytest.raises(Invalid):
        domain.rate(t, RESIDENT, eligible=True, already=False, choice="so-so", comment=None, now=T0)


def ratings(*choices) -> list[domain.Rating]:
    return [domain.Rating("t", f"r{i}", c, None, T0) for i, c in enumerate(choices)]


def test_a_majority_of_unsatisfied_ratings_reopens_the_task_when_the_window_closes():
    t = completed()
    assert domain.evaluate(t, ratings("unsatisfied", "unsatisfied"), T0 + WINDOW - timedelta(seconds=1)) is None
    reopened, line = domain.evaluate(t, ratings("unsatisfied", "unsatisfied", "satisfied"), T0 + WINDOW)
    assert reopened.status == "reopened" and reopened.reopened == 1 and reopened.completed_at is None
    assert line.reason == "3条评价中2条不满意,重新办理"
    evaluated, _ = domain.evaluate(t, ratings("unsatisfied", "basically_satisfied"), T0 + WINDOW)  # half: not more
    assert evaluated.status == "evaluated"


# -- rates ---------------------------------------------------------------------------------------------


def test_the_rates_count_as_their_definitions_say():
    now = beijing(2026, 11, 1)
    fast = task(accepted_at=T0 + timedelta(hours=23), status="closed", completed_at=beijing(2026, 10, 8, 20))
    slow = task(accepted_at=T0 + timedelta(hours=25), status="evaluated", completed_at=beijing(2026, 10, 9))
    open_late = task(accepted_at=T0 + timedelta(hours=1), status="in_progress")
    never = task(deadline=date(2026, 12, 31))  # not due yet, never signed for
    figures = domain.rates([fast, slow, open_late, never], ratings("satisfied", "basically_satisfied", "unsatisfied"),
                           now)  # fmt: skip
    assert (figures.assigned, figures.responded, figures.resolved) == (4, 2, 2)
    assert figures.response_rate == Fraction(1, 2) and figures.resolution_rate == Fraction(1, 2)
    assert (figures.due, figures.on_time, figures.on_time_rate) == (3, 1, Fraction(1, 3))
    assert figures.satisfaction_rate == Fraction(2, 3)
    assert domain.rates([], [], now).response_rate is None


# -- coverage ------------------------------------------------------------------------------------------


def test_coverage_regularity_and_the_projected_date_of_full_coverage():
    figures = domain.CoverageFigures(
        communities=10, covered=6, months_with_consultation=30, window=12, topics=8, resident_topics=6,
        newly_covered_recently=2, pace_months=3,
    )  # fmt: skip
    assert figures.ratio == Fraction(3, 5) and figures.regularity == Fraction(1, 4)
    assert figures.bottom_up_ratio == Fraction(3, 4)
    # 4 communities missing at 2 per 3 months: 6 months (182.6 days) from today.
    assert figures.projected_full_coverage(date(2026, 12, 1)) == date(2026, 12, 1) + timedelta(days=183)
    target = domain.Target(Fraction(1), date(2027, 3, 31))
    assert domain.on_track(figures, target, date(2026, 12, 1)) is False
    assert domain.on_track(replace(figures, newly_covered_recently=6), target, date(2026, 12, 1)) is True
    stalled = replace(figures, newly_covered_recently=0)
    assert stalled.projected_full_coverage(date(2026, 12, 1)) is None


def test_the_window_is_the_last_twelve_calendar_months():
    months = domain.window_months(date(2026, 12, 1))
    assert domain.month_of(months[0]) == date(2026, 1, 1) and domain.month_of(months[-1]) == date(2026, 12, 1)
