"""Tracking's use cases without HTTP: the registry, organisations, tasks, ratings, the clock, coverage, rates."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from types import SimpleNamespace

import pytest

from services.tracking import domain, repository, services
from services.tracking.workdays import is_workday
from shared.principal import Principal
from shared.problems import Conflict, Forbidden, Invalid, NotFound
from tests.conftest import CHIYANG, YANLIUYUAN


@pytest.fixture
def tracking(memory_service):
    return memory_service("tracking")  # the registry already holds the shipped file


def street_admin() -> Principal:
    return Principal("admin-1", "street_admin", CHIYANG)


def test_loading_the_same_file_again_changes_and_publishes_nothing(tracking, divisions):
    with tracking.unit_of_work() as uow:
        assert services.load_divisions(uow, divisions) == []
    assert tracking.emitted("tracking.divisions.changed") == []


def test_a_renamed_community_is_stored_and_published_alone(tracking, divisions):
    renamed = [replace(d, name="烟柳园新社区") if d.code == YANLIUYUAN else d for d in divisions]
    with tracking.unit_of_work() as uow:
        changed = services.load_divisions(uow, renamed)
    assert [d.code for d in changed] == [YANLIUYUAN]
    (payload,) = tracking.emitted("tracking.divisions.changed")
    assert [d["name"] for d in payload["divisions"]] == ["烟柳园新社区"]
    with tracking.unit_of_work() as uow:
        assert services.get_division(uow, street_admin(), YANLIUYUAN).name == "烟柳园新社区"


def test_a_resync_publishes_the_whole_registry_in_parts(tracking, divisions):
    with tracking.unit_of_work() as uow:
        assert len(services.load_divisions(uow, divisions, resync=True)) == len(divisions)
    parts = tracking.emitted("tracking.divisions.changed")
    assert sum(len(p["divisions"]) for p in parts) == len(divisions)
    assert {p["parts"] for p in parts} == {len(parts)}


def test_a_caller_sees_its_scope_and_the_areas_above_it_but_not_beside_it(tracking):
    with tracking.unit_of_work() as uow:
        assert services.get_division(uow, street_admin(), "341702000000").level == "county"  # above
        assert services.get_division(uow, street_admin(), YANLIUYUAN).level == "community"  # inside
        with pytest.raises(NotFound):
            services.get_division(uow, street_admin(), "341702002000")  # another street
        with pytest.raises(NotFound):
            services.get_division(uow, street_admin(), "999999999999")


def test_lists_stay_inside_the_scope(tracking):
    with tracking.unit_of_work() as uow:
        streets = services.list_divisions(uow, Principal("op", "city_operator", "3417"), parent="341702000000")
        mine = services.list_divisions(uow, street_admin(), parent="341702000000")
    assert len(streets) > 1 and all(d.parent_code == "341702000000" for d in streets)
    assert [d.code for d in mine] == [CHIYANG + "000"]


# -- organisations ----------------------------------------------------------------------------------


DISTRICT = Principal("district-admin", "district_admin", "341702")
HOUSING = {"id": "gc-housing", "kind": "department", "name": "贵池区住建局", "scope": "341702"}


def test_an_organisation_is_registered_in_scope_and_announced(tracking, clock):
    with tracking.unit_of_work() as uow:
        services.put_organisation(uow, DISTRICT, HOUSING, clock.now())
    (payload,) = tracking.emitted("tracking.organisations.changed")
    assert payload["organisations"] == [{**HOUSING, "active": True}]
    with tracking.unit_of_work() as uow:
        seen = services.list_organisations(uow, Principal("w", "community_worker", YANLIUYUAN), None)
    assert [o.id for o in seen] == ["gc-housing"]  # a district's department serves its communities


def test_organisations_are_refused_out_of_scope_or_with_an_unknown_scope_and_nothing_is_written(tracking, clock):
    for record, error in (
        ({**HOUSING, "scope": "341721"}, Forbidden),  # 东至县: not the admin's district
        ({**HOUSING, "scope": "3417029"}, Invalid),  # not a whole division
        ({**HOUSING, "kind": "church"}, Invalid),
    ):
        with pytest.raises(error), tracking.unit_of_work() as uow:
            services.put_organisation(uow, DISTRICT, record, clock.now())
    with pytest.raises(Forbidden), tracking.unit_of_work() as uow:
        services.put_organisation(uow, Principal("w", "community_worker", YANLIUYUAN), HOUSING, clock.now())
    assert tracking.emitted("tracking.organisations.changed") == []


def test_an_import_keeps_good_rows_and_reports_bad_ones_by_line(tracking, clock):
    rows = [
        (2, HOUSING),
        (3, {"id": "xh-property", "kind": "property_company", "name": "杏花家园物业", "scope": "341702001004"}),
        (4, {**HOUSING, "name": "again"}),
        (5, {"id": "bad", "kind": "department", "name": "东至县民政局", "scope": "341721"}),
    ]
    with tracking.unit_of_work() as uow:
        report = services.import_organisations(uow, DISTRICT, rows, clock.now())
    assert report.imported == 2
    assert [(e["line"], e["field"]) for e in report.errors] == [(4, "id"), (5, None)]


# -- tasks ---------------------------------------------------------------------------------------------

DEPARTMENT = Principal("dept-account", "department", "341702")
WINDOW = timedelta(days=15)
RESIDENT = Principal("resident-a", "resident", YANLIUYUAN)
WORKER = Principal("worker", "community_worker", YANLIUYUAN)


def outcome(resolution_id="res-1", deadline="2026-12-18"):
    return {
        "consultation_id": "c-1",
        "community_code": YANLIUYUAN,
        "topics": [{"topic_id": "t-1", "title": "杏花家园停车难"}],
        "resolutions": [{"resolution_id": resolution_id, "topic_id": "t-1", "proposal_id": "p-1",
                         "responsible_party": "贵池区住建局", "organisation_id": "gc-housing",
                         "deadline": deadline, "agreed": "施划停车位40个"}],
    }  # fmt: skip


@pytest.fixture
def assigned(tracking, clock):
    """A task of a published resolution, its organisation registered with one account, the
    proposal's submitter and the consultation's invitee concerned."""
    with tracking.unit_of_work() as uow:
        services.put_organisation(uow, DISTRICT, HOUSING, clock.now())
        services.add_member(uow, DISTRICT, "gc-housing", DEPARTMENT.subject, clock.now())
        services.concerned(uow, "proposal", "p-1", ["resident-a"])
        services.concerned(uow, "consultation", "c-1", ["resident-b", "resident-a"])
        (task,) = services.tasks_from_outcome(uow, outcome(), clock.now())
    return task


def test_each_resolution_becomes_one_task_however_often_the_outcome_arrives(tracking, assigned, clock):
    with tracking.unit_of_work() as uow:
        assert services.tasks_from_outcome(uow, outcome(), clock.now()) == []
    (payload,) = tracking.emitted("tracking.task.assigned")
    assert payload["department_id"] == "gc-housing" and payload["title"] == "杏花家园停车难"
    assert payload["due_at"] == "2026-12-18T16:00:00+00:00"  # the end of 18 December in Beijing


def test_the_organisation_carries_the_task_out_and_the_people_concerned_are_asked_to_rate(tracking, assigned, clock):
    with tracking.unit_of_work() as uow:
        services.accept(uow, DEPARTMENT, assigned.id, clock.advance(timedelta(hours=3)))
        services.report_progress(uow, DEPARTMENT, assigned.id, clock.now(), percent=50, note="已施划20个", evidence=[])
        done = services.complete(uow, DEPARTMENT, assigned.id, clock.now(), summary="已完成", rating_window=WINDOW)
    assert done.status == "completed"
    assert tracking.emitted("tracking.task.accepted")[0]["within_a_day"] is True
    assert len(tracking.emitted("tracking.task.started")) == 1
    (request,) = tracking.emitted("tracking.rating.requested")
    assert request["rater_ids"] == ["resident-a", "resident-b"]
    with tracking.unit_of_work() as uow:
        lines = [(h["from_status"], h["to_status"]) for h in services.task_history(uow, WORKER, assigned.id)]
    assert lines == [(None, "assigned"), ("assigned", "accepted"), ("accepted", "in_progress"),
                     ("in_progress", "completed")]  # fmt: skip


def test_another_organisations_account_cannot_act_nor_see_the_task(tracking, assigned, clock):
    stranger = Principal("other-dept", "department", "341702")
    with pytest.raises(NotFound), tracking.unit_of_work() as uow:
        services.accept(uow, stranger, assigned.id, clock.now())
    with tracking.unit_of_work() as uow:
        page, _ = services.list_tasks(uow, stranger, filters={}, sort="-assigned_at", limit=20, cursor=None,
                                      now=clock.now())  # fmt: skip
    assert page == []


def completed(tracking, task, clock):
    with tracking.unit_of_work() as uow:
        services.accept(uow, DEPARTMENT, task.id, clock.now())
        return services.complete(uow, DEPARTMENT, task.id, clock.now(), summary="已完成", rating_window=WINDOW)


def test_a_rating_comes_once_from_someone_concerned(tracking, assigned, clock):
    completed(tracking, assigned, clock)
    with tracking.unit_of_work() as uow:
        services.rate(uow, RESIDENT, assigned.id, clock.now(), choice="satisfied", comment=None)
    with pytest.raises(Conflict), tracking.unit_of_work() as uow:
        services.rate(uow, RESIDENT, assigned.id, clock.now(), choice="unsatisfied", comment=None)
    with pytest.raises(Forbidden), tracking.unit_of_work() as uow:
        services.rate(uow, Principal("passer-by", "resident", YANLIUYUAN), assigned.id, clock.now(),
                      choice="unsatisfied", comment=None)  # fmt: skip
    with tracking.unit_of_work() as uow:
        summary = services.rating_summary(uow, RESIDENT, assigned.id)
    assert (summary.ratings, summary.mine, summary.satisfaction_rate) == (1, "satisfied", Fraction(1))


def test_the_clock_reopens_a_task_most_raters_are_unhappy_with_and_evaluates_the_others(tracking, assigned, clock):
    completed(tracking, assigned, clock)
    with tracking.unit_of_work() as uow:
        for who in ("resident-a", "resident-b"):
            services.rate(uow, Principal(who, "resident", YANLIUYUAN), assigned.id, clock.now(), choice="unsatisfied",
                          comment="还是停不下")  # fmt: skip
    with tracking.unit_of_work() as uow:
        assert services.evaluate_due(uow, clock.now(), Fraction(1, 2)) == 0  # the window is open
    with tracking.unit_of_work() as uow:
        assert services.evaluate_due(uow, clock.advance(WINDOW), Fraction(1, 2)) == 1
        task = services.get_task(uow, WORKER, assigned.id)
    assert task.status == "reopened" and task.deadline > assigned.deadline
    assert tracking.emitted("tracking.task.reopened")[0]["reason"] == "2条评价中2条不满意,重新办理"


def test_the_clock_reminds_then_escalates_then_notices_each_once(tracking, assigned, clock):
    schedule = domain.Schedule(remind_before=1, notice_after=3)

    def tick(at: datetime) -> int:
        clock.set(at)
        with tracking.unit_of_work() as uow:
            return services.escalate_due(uow, clock.now(), schedule, is_workday)

    # Deadline Friday 18 December 2026: reminded on Thursday 17, escalated on Saturday 19,
    # noticed on Wednesday 23 (Monday 21, Tuesday 22, Wednesday 23: three working days late).
    assert [tick(datetime(2026, 12, d, 2, tzinfo=UTC)) for d in (16, 17, 17, 19, 22, 23, 24)] == [0, 1, 0, 1, 0, 1, 0]
    assert [p["level"] for p in tracking.emitted("tracking.task.escalated")] == [1, 2]
    assert len(tracking.emitted("tracking.task.reminded")) == 1
    with tracking.unit_of_work() as uow:
        assert repository.noticed_tasks(uow.session, YANLIUYUAN)[0].id == assigned.id


def test_a_referral_becomes_a_task_of_its_department(tracking, clock):
    with tracking.unit_of_work() as uow:
        task = services.task_from_referral(
            uow, {"proposal_id": "p-9", "community_code": YANLIUYUAN, "title": "路灯不亮", "department_id": "gc-lights",
                  "note": "请维修"}, clock.now(), date(2026, 12, 22),
        )  # fmt: skip
    assert (task.source, task.organisation_id, task.proposal_ids) == ("referral", "gc-lights", ("p-9",))


# -- coverage and rates -------------------------------------------------------------------------------


def held(consultation_id: str, community: str, day: date, origins=(("resident", 1),)) -> dict:
    at = datetime(day.year, day.month, day.day, 2, tzinfo=UTC)
    return {"consultation_id": consultation_id, "community_code": community, "held_at": at,
            "month": domain.month_index(day), "form": "community_council", "attendees": 12,
            "topics": sum(n for _, n in origins), "resident_topics": dict(origins).get("resident", 0),
            "recorded_afterwards": False}  # fmt: skip


def test_coverage_by_district_counts_the_communities_with_a_consultation_in_the_window(tracking):
    with tracking.unit_of_work() as uow:
        services.held(uow, held("a", "341702001001", date(2026, 11, 5)))
        services.held(uow, held("b", "341702001001", date(2026, 3, 5), (("top_down", 1),)))
        services.held(uow, held("c", "341702001002", date(2026, 10, 5)))
        services.held(uow, held("d", "341702002001", date(2025, 10, 5)))  # out of the window
        services.held(uow, held("e", "341721100001", date(2026, 1, 5)))
    city = Principal("op", "city_operator", "3417")
    with tracking.unit_of_work() as uow:
        total, guichi, dongzhi = services.coverage(uow, city, scope=None, level_digits=6, today=date(2026, 12, 1))
    assert (total.figures.communities, total.figures.covered) == (8, 3)
    assert (guichi.code, guichi.name, guichi.figures.communities, guichi.figures.covered) == ("341702", "贵池区", 6, 2)
    assert guichi.figures.regularity == Fraction(3, 6 * 12)  # three months with a consultation
    assert guichi.figures.bottom_up_ratio == Fraction(2, 3)
    assert guichi.figures.newly_covered_recently == 1  # 西街 first held in October (烟柳园 in March)
    assert guichi.silent == 4
    with tracking.unit_of_work() as uow:
        (chiyang,) = services.coverage(uow, city, scope="341702001", level_digits=9, today=date(2026, 12, 1))
    assert chiyang.silent_communities == ["341702001003", "341702001004"]
    assert (dongzhi.figures.communities, dongzhi.figures.covered) == (2, 1)


def test_the_aggregates_count_a_consultation_once_and_move_with_one_recorded_afterwards(tracking):
    city = Principal("op", "city_operator", "3417")

    def district():
        with tracking.unit_of_work() as uow:
            return services.coverage(uow, city, scope="341702", level_digits=6, today=date(2026, 12, 1))[0].figures

    with tracking.unit_of_work() as uow:
        assert services.held(uow, held("a", "341702001001", date(2026, 11, 5)))
        assert not services.held(uow, held("a", "341702001001", date(2026, 11, 5)))  # redelivered
        services.held(uow, held("a2", "341702001001", date(2026, 11, 20)))  # same month: one month counted
    assert (district().covered, district().months_with_consultation, district().newly_covered_recently) == (1, 1, 1)
    with tracking.unit_of_work() as uow:  # 补录: held in a room back in April, recorded now
        services.held(uow, {**held("b", "341702001001", date(2026, 4, 2)), "recorded_afterwards": True})
    after = district()
    assert (after.covered, after.months_with_consultation, after.newly_covered_recently) == (1, 2, 0)


def test_coverage_and_rates_refuse_a_scope_beyond_the_callers(tracking, clock):
    with pytest.raises(Forbidden), tracking.unit_of_work() as uow:
        services.coverage(uow, street_admin(), scope="341702", level_digits=9, today=date(2026, 12, 1))
    with pytest.raises(Invalid), tracking.unit_of_work() as uow:
        services.rates(uow, street_admin(), scope=None, since=clock.now(), until=clock.now(), now=clock.now())


def test_rates_over_a_period(tracking, assigned, clock):
    completed(tracking, assigned, clock)
    with tracking.unit_of_work() as uow:
        services.rate(uow, RESIDENT, assigned.id, clock.now(), choice="basically_satisfied", comment=None)
        figures = services.rates(uow, street_admin(), scope=None, since=clock.now() - timedelta(days=1),
                                 until=clock.now() + timedelta(days=1), now=clock.now())  # fmt: skip
    assert (figures.assigned, figures.responded, figures.due, figures.on_time) == (1, 1, 1, 1)
    assert figures.satisfaction_rate == Fraction(1)


def test_the_three_rates_by_area_are_each_areas_own_rates(tracking, assigned, clock):
    completed(tracking, assigned, clock)
    period = {"since": clock.now() - timedelta(days=1), "until": clock.now() + timedelta(days=1)}
    with tracking.unit_of_work() as uow:
        services.rate(uow, RESIDENT, assigned.id, clock.now(), choice="basically_satisfied", comment=None)
        lines = services.rates_by_level(uow, street_admin(), scope=None, level_digits=12, **period)
        each = {
            line.code: services.rates(uow, street_admin(), scope=line.code, now=clock.now(), **period) for line in lines
        }
    assert [line.code for line in lines] == [CHIYANG, *(f"{CHIYANG}{n:03d}" for n in (1, 2, 3, 4))]
    counts = ("assigned", "responded", "resolved", "ratings", "satisfied")
    for line in lines:  # every community listed, the quiet ones with zeros
        assert [getattr(line.rates, c) for c in counts] == [getattr(each[line.code], c) for c in counts]
    assert (lines[0].rates.assigned, lines[1].rates.satisfied, lines[1].name) == (1, 1, "烟柳园社区")
    with pytest.raises(Forbidden), tracking.unit_of_work() as uow:
        services.rates_by_level(uow, street_admin(), scope="341702", level_digits=9, **period)
    with pytest.raises(Invalid), tracking.unit_of_work() as uow:
        services.rates_by_level(uow, street_admin(), scope=YANLIUYUAN, level_digits=9, **period)


def test_the_gauges_give_coverage_and_tasks_by_district_and_city(tracking, assigned, clock, settings):
    from services.tracking.gauges import CoverageCollector

    with tracking.unit_of_work() as uow:
        services.held(uow, held("a", "341702001001", date(2026, 11, 5)))
    runtime = SimpleNamespace(settings=settings, now=clock.now, unit_of_work=tracking.unit_of_work)
    text = CoverageCollector(runtime)()
    assert 'xieshang_coverage_communities{level="district",area="341702"} 6.0' in text
    assert 'xieshang_coverage_covered_communities{level="city",area="3417"} 1.0' in text
    assert 'xieshang_coverage_ratio{level="district",area="341721"} 0.0' in text
    assert 'xieshang_tasks_open{level="district",area="341702"} 1.0' in text
    assert "xieshang_coverage_target_ratio 1.0" in text
    assert "341702001001" not in text  # never a community


def test_rebuilding_the_aggregates_in_bulk_gives_what_they_were_kept_at(tracking):
    from sqlalchemy import select

    from services.tracking.models import area_months, community_coverage

    with tracking.unit_of_work() as uow:
        for n, (community, day) in enumerate([("341702001001", date(2026, 11, 5)), ("341702001001", date(2026, 4, 2)),
                                              ("341702001001", date(2026, 11, 25)), ("341702001002", date(2026, 9, 1)),
                                              ("341721100001", date(2025, 12, 1))]):  # fmt: skip
            services.held(uow, held(f"c{n}", community, day, (("resident", n % 2), ("top_down", 1))))

    def snapshot():
        with tracking.unit_of_work() as uow:
            months = {tuple(r) for r in uow.session.execute(select(area_months)).all() if any(r[3:])}
            return months, set(uow.session.execute(select(community_coverage)).all())

    kept = snapshot()
    with tracking.unit_of_work() as uow:
        repository.rebuild_coverage(uow.session)
    assert snapshot() == kept


def test_the_clock_counts_working_days_across_the_national_day_holiday_and_a_worked_saturday(tracking, clock):
    """Deadline Thursday 8 October 2026, after the 1-7 October holiday: the reminder comes on the
    last working day before it (30 September), escalation on Friday 9, the public notice on Monday
    12 — the third working day late, counting Saturday 10 (调休) and not Sunday 11."""
    from services.tracking.periodic import TaskClock

    clock.set(datetime(2026, 9, 21, 1, tzinfo=UTC))
    with tracking.unit_of_work() as uow:
        services.put_organisation(uow, DISTRICT, HOUSING, clock.now())
        services.tasks_from_outcome(uow, outcome(deadline="2026-10-08"), clock.now())
    settings = SimpleNamespace(tracking_clock_seconds=60, remind_before_workdays=1, notice_after_workdays=3,
                               reopen_share=0.5)  # fmt: skip
    task_clock = TaskClock(tracking.unit_of_work, clock, settings)
    steps = {}
    for day in range(29, 30 + 15):
        clock.set(datetime(2026, 9, 1, 2, tzinfo=UTC) + timedelta(days=day - 1))
        if task_clock.run_once()[0]:
            steps[clock.now().date().isoformat()] = [e.type for e in tracking.events[-1:]]
    assert steps == {
        "2026-09-30": ["tracking.task.reminded"],
        "2026-10-09": ["tracking.task.escalated"],
        "2026-10-12": ["tracking.task.escalated"],
    }
    assert [p["level"] for p in tracking.emitted("tracking.task.escalated")] == [1, 2]


def test_every_organisation_can_be_published_again_for_a_new_replica(tracking, clock):
    with tracking.unit_of_work() as uow:
        services.put_organisation(uow, DISTRICT, HOUSING, clock.now())
        assert services.resync_organisations(uow) == 1
    assert [p["organisations"][0]["id"] for p in tracking.emitted("tracking.organisations.changed")] == [
        "gc-housing",
        "gc-housing",
    ]


def test_the_participation_mix_of_an_area_over_the_window(tracking):
    mixes = [
        {"declared_age": 10, "under_45": 3, "declared_occupation": 8, "not_retired": 2, "social_organisations": 1},
        {"declared_age": 10, "under_45": 5, "declared_occupation": 12, "not_retired": 8, "social_organisations": 0},
    ]
    with tracking.unit_of_work() as uow:
        for n, mix in enumerate(mixes):
            services.held(uow, {**held(f"m{n}", "341702001001", date(2026, 10, 1 + n)), **mix})
        (street,) = services.coverage(uow, street_admin(), scope=None, level_digits=9, today=date(2026, 12, 1))
    mix = street.figures.mix
    assert (mix.share_under_45, mix.share_not_retired, mix.social_organisation_share) == (
        Fraction(8, 20), Fraction(10, 20), Fraction(1, 2)
    )  # fmt: skip


def test_a_scrape_without_the_database_still_answers_without_the_gauges(settings, clock):
    import contextlib

    from sqlalchemy.exc import OperationalError

    from services.tracking.gauges import CoverageCollector

    @contextlib.contextmanager
    def unreachable(*, read_only: bool = False):
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))
        yield

    assert CoverageCollector(SimpleNamespace(settings=settings, now=clock.now, unit_of_work=unreachable))() == ""


def test_coverage_in_a_calendar_period_counts_each_community_once(tracking):
    with tracking.unit_of_work() as uow:
        services.held(uow, held("a", "341702001001", date(2026, 2, 5)))
        services.held(uow, held("b", "341702001001", date(2026, 5, 5)))
        services.held(uow, held("c", "341702001002", date(2025, 12, 5)))  # before the period
        lines = services.coverage_in_period(uow, street_admin(), scope=None, level_digits=12,
                                            first=date(2026, 1, 1), last=date(2026, 12, 1))  # fmt: skip
    total, *areas = lines
    assert (total.code, total.communities, total.covered, total.consultations) == ("341702001", 4, 1, 2)
    assert {a.code: a.covered for a in areas} == {"341702001001": 1, "341702001002": 0, "341702001003": 0,
                                                 "341702001004": 0}  # fmt: skip
    with pytest.raises(Invalid), tracking.unit_of_work() as uow:
        services.coverage_in_period(uow, street_admin(), scope=None, level_digits=12, first=date(2026, 6, 1),
                                    last=date(2026, 1, 1))  # fmt: skip


def test_the_gauges_give_the_three_rates_of_the_last_thirty_days_by_district_and_city(tracking, assigned, clock,
                                                                                        settings):  # fmt: skip
    from services.tracking.gauges import CoverageCollector

    clock.advance(timedelta(hours=3))
    completed(tracking, assigned, clock)  # accepted 3 hours after assignment: responded
    with tracking.unit_of_work() as uow:
        services.rate(uow, RESIDENT, assigned.id, clock.now(), choice="basically_satisfied", comment=None)
        resident_b = Principal("resident-b", "resident", YANLIUYUAN)
        services.rate(uow, resident_b, assigned.id, clock.now(), choice="unsatisfied", comment=None)
    clock.advance(timedelta(minutes=1))  # the scrape
    runtime = SimpleNamespace(settings=settings, now=clock.now, unit_of_work=tracking.unit_of_work)
    text = CoverageCollector(runtime)()
    for level, area in (("district", "341702"), ("city", "3417")):
        labels = f'{{level="{level}",area="{area}"}}'
        assert f"xieshang_tasks_assigned{labels} 1.0" in text
        assert f"xieshang_tasks_response_ratio{labels} 1.0" in text  # 响应率
        assert f"xieshang_tasks_resolution_ratio{labels} 0.0" in text  # 解决率: completed, not yet evaluated
        assert f"xieshang_tasks_satisfaction_ratio{labels} 0.5" in text  # 满意率
    clock.advance(timedelta(days=31))
    assert "xieshang_tasks_assigned{" not in CoverageCollector(runtime)()  # out of the window
