"""The public board (居务公开) and the case library (典型案例): the use cases on an in-memory
tracking, then the routes through the gateway (HTML and JSON, caching, 404s, the case library's
filters, export and featuring)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

import pytest

from services.tracking import board, board_api, domain, services
from services.tracking.handlers import HANDLERS
from services.tracking.workdays import is_workday
from shared.events import new_event
from shared.principal import Principal
from shared.problems import Conflict, Forbidden, NotFound
from tests.conftest import CHIYANG, QIUPU_COMMUNITY, XIJIE, YANLIUYUAN

# People, each with an id that must never show on the board.
DISTRICT = Principal("person-district-7a1", "district_admin", "341702")
DEPARTMENT = Principal("person-dept-3c9", "department", "341702")
WORKER = Principal("person-worker-5d2", "community_worker", YANLIUYUAN)
RESIDENTS = ("person-resident-1f4", "person-resident-8e6")
PEOPLE = (DISTRICT.subject, DEPARTMENT.subject, WORKER.subject, *RESIDENTS)
HOUSING = {"id": "gc-housing", "kind": "department", "name": "贵池区住建局", "scope": "341702"}
WINDOW = timedelta(days=15)
PHONE = "13800000000"


def proposal_event(proposal_id: str, title: str, category: str, at: datetime):
    payload = {
        "proposal_id": proposal_id,
        "community_code": YANLIUYUAN,
        "submitter_id": RESIDENTS[0],
        "title": title,
        "category": category,
        "channel": "app",
        "origin": "resident",
        "submitted_at": at,
    }
    return new_event("intake.proposal.submitted", payload, producer="intake", division_code=YANLIUYUAN)


def held(consultation_id: str, community: str, at: datetime, form: str = "residents_forum", **extra) -> dict:
    return {"consultation_id": consultation_id, "community_code": community, "held_at": at,
            "month": domain.month_index(domain.beijing_date(at)), "form": form, "attendees": 23, "topics": 1,
            "resident_topics": 1, "recorded_afterwards": False, **extra}  # fmt: skip


def outcome(consultation_id: str, resolutions: list[tuple[str, str, str, date]]) -> dict:
    """A published outcome of 烟柳园: (resolution id, proposal id, title, deadline) per resolution."""
    return {
        "consultation_id": consultation_id,
        "community_code": YANLIUYUAN,
        "topics": [{"topic_id": f"t-{rid}", "title": title} for rid, _, title, _ in resolutions],
        "resolutions": [{"resolution_id": rid, "topic_id": f"t-{rid}", "proposal_id": pid,
                         "responsible_party": "贵池区住建局", "organisation_id": "gc-housing",
                         "deadline": deadline.isoformat(), "agreed": f"{title}:按协商方案办理"}
                        for rid, pid, title, deadline in resolutions],
    }  # fmt: skip


def seed(unit_of_work, now: datetime) -> dict:
    """烟柳园 at ``now``: a consultation held the evening before (UTC; the morning of ``now``'s day
    in Beijing) and one 13 months ago, one in 西街; a parking task carried out, rated 满意 and
    不满意 and evaluated; a lighting task 3 weeks late and noticed (通报); a proposal replicated."""
    evening = (now - timedelta(days=1)).replace(hour=17, minute=0, second=0, microsecond=0)
    noted_at = (now - timedelta(days=1)).replace(hour=18, minute=30, second=0, microsecond=0)
    with unit_of_work() as uow:
        services.put_organisation(uow, DISTRICT, HOUSING, now)
        services.add_member(uow, DISTRICT, "gc-housing", DEPARTMENT.subject, now)
        services.concerned(uow, "consultation", "c-1", RESIDENTS)
        HANDLERS["intake.proposal.submitted"](uow, proposal_event("p-1", "杏花家园停车难", "management", now))
        services.held(uow, held("c-1", YANLIUYUAN, evening, recorded_afterwards=True))
        services.held(uow, held("c-old", YANLIUYUAN, now - timedelta(days=400)))
        services.held(uow, held("c-xj", XIJIE, now - timedelta(days=3), form="hearing"))
    with unit_of_work() as uow:  # the people concerned are written when the unit of work ends
        parking, lights = services.tasks_from_outcome(
            uow,
            outcome("c-1", [("r-1", "p-1", "杏花家园停车难", (now + timedelta(days=20)).date()),
                            ("r-2", None, "楼道灯不亮", (now - timedelta(days=21)).date())]),
            now - timedelta(days=30),
        )  # fmt: skip
        services.accept(uow, DEPARTMENT, parking.id, now - timedelta(days=2))
        services.report_progress(uow, DEPARTMENT, parking.id, noted_at, percent=50,
                                 note=f"已施划20个,联系人电话{PHONE}", evidence=[])  # fmt: skip
        services.complete(uow, DEPARTMENT, parking.id, noted_at, summary="已施划停车位40个", rating_window=WINDOW)
        for person, choice in zip(RESIDENTS, ("satisfied", "unsatisfied"), strict=True):
            services.rate(uow, Principal(person, "resident", YANLIUYUAN), parking.id, noted_at, choice=choice,
                          comment=f"{person}的意见")  # fmt: skip
    with unit_of_work() as uow:
        services.evaluate_due(uow, noted_at + WINDOW, Fraction(1, 2))
        services.escalate_due(uow, now, domain.Schedule(), is_workday)
    return {"parking": parking.id, "lights": lights.id, "evening": evening, "noted_at": noted_at}


@pytest.fixture
def tracking(memory_service):
    return memory_service("tracking")


@pytest.fixture
def world(tracking, clock):
    """Seeded 20 days ago (the parking task's rating window has closed since); the clock at now."""
    seeded = seed(tracking.unit_of_work, clock.now() - timedelta(days=20))
    return seeded


def the_board(tracking, clock, code=YANLIUYUAN) -> board.Board:
    with tracking.unit_of_work() as uow:
        return board.community_board(uow, code, clock.now())


# -- the board of a community -------------------------------------------------------------------------


def test_the_board_shows_the_community_its_area_and_its_figures(tracking, world, clock):
    shown = the_board(tracking, clock)
    assert (shown.community.name, [a.name for a in shown.parents]) == ("烟柳园社区", ["池阳街道", "贵池区"])
    assert shown.since == date(2026, 1, 1)  # the last 12 calendar months, as coverage counts them
    f = shown.figures
    assert (f.consultations, f.open_tasks, f.overdue_tasks) == (1, 1, 1)
    assert (f.ratings.satisfied, f.ratings.unsatisfied, f.ratings.satisfaction_rate) == (1, 1, 0.5)


def test_consultations_are_dated_in_beijing_and_named_in_chinese(tracking, world, clock):
    (line,) = the_board(tracking, clock).consultations  # the one of 13 months ago is out of the window
    assert world["evening"].date() == date(2026, 11, 10)  # 17:00 UTC on the 10th …
    assert line == board.HeldLine(date(2026, 11, 11), "residents_forum", "居民论坛", 23, True)  # … is the 11th


def test_tasks_show_organisation_status_progress_and_the_latest_note_masked_in_beijing_time(tracking, world, clock):
    late, done = the_board(tracking, clock).tasks  # open ones first
    assert (late.title, late.status_name, late.overdue, late.noticed) == ("楼道灯不亮", "已交办", True, True)
    assert (done.organisation, done.status_name, done.progress, done.overdue) == ("贵池区住建局", "已评价", 100, False)
    assert done.last_note == "已施划20个,联系人电话[已隐去]"
    assert done.last_note_at.isoformat() == "2026-11-11T02:30:00+08:00"  # 18:30 UTC the day before
    assert (done.ratings.satisfied, done.ratings.basically_satisfied, done.ratings.unsatisfied) == (1, 0, 1)


def test_a_noticed_task_is_on_the_board_with_its_organisation(tracking, world, clock):
    (notice,) = the_board(tracking, clock).notices
    assert (notice.title, notice.organisation, notice.still_open) == ("楼道灯不亮", "贵池区住建局", True)
    assert notice.noticed_at.utcoffset() == timedelta(hours=8)


def test_nobody_is_named_on_the_board(tracking, world, clock):
    dumped = json.dumps(board_api.BoardOut().dump(the_board(tracking, clock)), ensure_ascii=False)
    assert not [person for person in PEOPLE if person in dumped]
    assert PHONE not in dumped and "的意见" not in dumped  # nor what raters wrote


def test_an_unknown_or_malformed_community_has_no_board(tracking, clock):
    for code in ("999999999999", "3417020010", CHIYANG + "000", "34170200100x"):
        with pytest.raises(NotFound), tracking.unit_of_work() as uow:
            board.community_board(uow, code, clock.now())


# -- the summary of an area ---------------------------------------------------------------------------


def test_a_streets_summary_has_a_line_per_community_and_the_totals(tracking, world, clock):
    with tracking.unit_of_work() as uow:
        summary = board.area_summary(uow, CHIYANG, clock.now())
    lines = {f.code: f for f in summary.communities}
    assert (summary.area.name, [p.name for p in summary.parents]) == ("池阳街道", ["贵池区"])
    assert sorted(lines) == ["341702001001", "341702001002", "341702001003", "341702001004"]
    ours = lines[YANLIUYUAN]
    assert (ours.consultations, ours.open_tasks, ours.overdue_tasks, ours.ratings.satisfaction_rate) == (1, 1, 1, 0.5)
    assert (lines[XIJIE].consultations, lines[XIJIE].ratings.satisfaction_rate) == (1, None)
    assert (summary.total.consultations, summary.total.open_tasks, summary.total.ratings.total) == (2, 1, 2)


def test_a_district_by_six_digits_or_twelve_and_a_community_by_its_code(tracking, world, clock):
    with tracking.unit_of_work() as uow:
        district = board.area_summary(uow, "341702", clock.now())
        again = board.area_summary(uow, "341702000000", clock.now())
        one = board.area_summary(uow, YANLIUYUAN, clock.now())
    assert len(district.communities) == 6 and QIUPU_COMMUNITY in {f.code for f in district.communities}
    assert again == district
    assert [f.code for f in one.communities] == [YANLIUYUAN]


def test_an_unknown_area_is_not_found(tracking, clock):
    for code in ("341702999", "34170", "341702000", "3417", "abcdef", "341700000000"):
        with pytest.raises(NotFound), tracking.unit_of_work() as uow:
            board.area_summary(uow, code, clock.now())


# -- the case library ---------------------------------------------------------------------------------


def cases(tracking, principal=WORKER, limit=20, cursor=None, **filters):
    with tracking.unit_of_work() as uow:
        return board.list_cases(uow, principal, filters=filters, limit=limit, cursor=cursor)


def test_a_finished_task_is_a_case_with_its_story(tracking, world):
    (case,), _ = cases(tracking)
    assert (case.task_id, case.title, case.proposal_title) == (world["parking"], "杏花家园停车难", "杏花家园停车难")
    assert (case.category, case.category_name, case.form, case.form_name) == (
        "management", "管理", "residents_forum", "居民论坛")  # fmt: skip
    assert (case.agreed, case.result, case.held_on) == ("杏花家园停车难:按协商方案办理", "已施划停车位40个",
                                                        date(2026, 11, 11))  # fmt: skip
    assert (case.ratings.satisfied, case.ratings.unsatisfied, case.featured) == (1, 1, False)


@pytest.mark.parametrize(
    ("filters", "found"),
    [
        ({"category": "management"}, 1),
        ({"category": "environment"}, 0),
        ({"form": "residents_forum"}, 1),
        ({"form": "hearing"}, 0),
        ({"community": CHIYANG}, 1),
        ({"community": XIJIE}, 0),
        ({"q": "停车位40"}, 1),  # words of the result
        ({"q": "停车难"}, 1),
        ({"q": "%"}, 0),  # no wildcard
        ({"featured": True}, 0),
        ({"featured": False}, 1),
    ],
)
def test_cases_are_filtered(tracking, world, filters, found):
    assert len(cases(tracking, **filters)[0]) == found


def test_cases_are_scoped_like_tasks(tracking, world):
    assert cases(tracking, Principal("w2", "community_worker", QIUPU_COMMUNITY))[0] == []
    assert cases(tracking, Principal("other-dept", "department", "341702"))[0] == []  # not its organisation
    assert len(cases(tracking, DEPARTMENT)[0]) == 1
    assert len(cases(tracking, Principal("r", "resident", YANLIUYUAN))[0]) == 1


def test_cases_come_a_page_at_a_time_the_latest_evaluated_first(tracking, world, clock):
    with tracking.unit_of_work() as uow:
        (task,) = services.tasks_from_outcome(uow, outcome("c-2", [("r-3", None, "垃圾分类", date(2026, 12, 20))]),
                                              clock.now())  # fmt: skip
        services.accept(uow, DEPARTMENT, task.id, clock.now())
        services.complete(uow, DEPARTMENT, task.id, clock.now(), summary="已设置分类桶", rating_window=timedelta(0))
    with tracking.unit_of_work() as uow:
        services.evaluate_due(uow, clock.now(), Fraction(1, 2))
    first, cursor = cases(tracking, limit=1)
    second, last = cases(tracking, limit=1, cursor=cursor)
    assert [c.title for c in first + second] == ["垃圾分类", "杏花家园停车难"] and last is None
    assert (first[0].proposal_title, first[0].category, first[0].form) == (None, None, None)  # a top-down topic
    with tracking.unit_of_work() as uow:
        exported, truncated = board.export_cases(uow, WORKER, filters={}, limit=1)
    assert ([c.title for c in exported], truncated) == (["垃圾分类"], True)


def feature(tracking, principal, task_id, featured=True, now=None):
    with tracking.unit_of_work() as uow:
        return board.feature_case(uow, principal, task_id, featured, now or datetime(2026, 12, 1, tzinfo=UTC))


def test_a_worker_features_a_case_which_then_shows_on_the_public_board(tracking, world, clock):
    case = feature(tracking, WORKER, world["parking"])
    assert case.featured is True
    assert [c.task_id for c in cases(tracking, featured=True)[0]] == [world["parking"]]
    (shown,) = the_board(tracking, clock).cases
    assert (shown.title, shown.form_name, shown.result) == ("杏花家园停车难", "居民论坛", "已施划停车位40个")
    assert feature(tracking, Principal("admin", "street_admin", CHIYANG), world["parking"]).featured  # again: kept
    assert feature(tracking, WORKER, world["parking"], featured=False).featured is False
    assert the_board(tracking, clock).cases == []


def test_featuring_is_refused_out_of_scope_to_other_roles_and_before_the_end_and_nothing_is_written(tracking, world):
    refusals = [
        (Principal("w2", "community_worker", QIUPU_COMMUNITY), world["parking"], NotFound),
        (Principal("d2", "district_admin", "341721"), world["parking"], NotFound),
        (Principal("r", "resident", YANLIUYUAN), world["parking"], Forbidden),
        (DEPARTMENT, world["parking"], Forbidden),
        (WORKER, world["lights"], Conflict),  # still open
        (WORKER, "no-such-task", NotFound),
    ]
    for principal, task_id, error in refusals:
        with pytest.raises(error):
            feature(tracking, principal, task_id)
    assert cases(tracking, featured=True)[0] == []


def test_a_proposal_is_replicated_once_however_often_it_comes(tracking, clock):
    event = proposal_event("p-9", "路灯不亮", "environment", clock.now())
    for _ in range(2):
        with tracking.unit_of_work() as uow:
            HANDLERS["intake.proposal.submitted"](uow, event)
    from services.tracking.models import case_proposals

    with tracking.unit_of_work() as uow:
        rows = uow.session.execute(case_proposals.select()).mappings().all()
    assert [(r["proposal_id"], r["title"], r["category"]) for r in rows] == [("p-9", "路灯不亮", "environment")]
    assert RESIDENTS[0] not in {str(v) for r in rows for v in r.values()}  # the submitter is not kept


def test_a_title_with_a_phone_number_shows_without_it_on_the_board(tracking, world, clock):
    deadline = (clock.now() + timedelta(days=20)).date()
    with tracking.unit_of_work() as uow:
        services.tasks_from_outcome(
            uow, outcome("c-2", [("r-3", None, "请联系138 1234 5678张三", deadline)]), clock.now()
        )
    shown = the_board(tracking, clock)
    assert "请联系[已隐去]张三" in [task.title for task in shown.tasks]
    assert "5678" not in json.dumps(board_api.BoardOut().dump(shown), ensure_ascii=False)


# -- over HTTP ---------------------------------------------------------------------------------------------


@pytest.fixture
def env(env):
    # The background clock would take steps of its own on the seeded tasks: not what is tested here.
    return {**env, "XIESHANG_TRACKING_CLOCK_SECONDS": "3600"}


@pytest.fixture
def live(platform_all):
    """The platform's tracking seeded at the real time (its clock is the system's)."""
    runtime = platform_all.platform.runtime("tracking")
    return seed(runtime.unit_of_work, datetime.now(UTC))


def beijing_day(moment: datetime) -> str:
    return board_api._day(moment.astimezone(domain.BEIJING))


def test_the_board_page_is_accessible_light_and_names_nobody(gateway, live):
    answer = gateway.get(f"/public/{YANLIUYUAN}")
    assert answer.status_code == 200 and answer.mimetype == "text/html"
    html = answer.get_data(as_text=True)
    assert '<html lang="zh-CN">' in html and 'name="viewport"' in html
    assert "<caption" in html and '<th scope="col">' in html and "<h1>" in html
    assert "烟柳园社区" in html and "池阳街道" in html and "贵池区住建局" in html and "已超期" in html
    assert f'<th scope="row">{beijing_day(live["evening"])}</th>' in html  # the day in Beijing
    noted = live["noted_at"].astimezone(domain.BEIJING)
    assert f"{beijing_day(noted)} {noted:%H:%M}" in html
    assert not [person for person in PEOPLE if person in html] and PHONE not in html
    assert len(answer.get_data()) < 150 * 1024


def test_the_page_stays_under_150_kb_with_every_text_at_its_longest(platform_all, gateway):
    runtime, now = platform_all.platform.runtime("tracking"), datetime.now(UTC)
    long = "杏花家园停车难题协商" * 200  # 2000 characters
    late = (now - timedelta(days=30)).date()
    resolutions = [(f"r-{n}", None, f"{n}{long}"[:200], late) for n in range(board.BOARD_TASKS + 10)]
    with runtime.unit_of_work() as uow:
        services.put_organisation(uow, DISTRICT, {**HOUSING, "name": long[:100]}, now)
        services.add_member(uow, DISTRICT, "gc-housing", DEPARTMENT.subject, now)
        for n in range(board.BOARD_CONSULTATIONS + 10):
            services.held(uow, held(f"c-{n}", YANLIUYUAN, now - timedelta(hours=n), form="owners_meeting"))
        made = services.tasks_from_outcome(uow, {**outcome("c-1", resolutions), "topics": []}, now)
        for task in made:
            services.accept(uow, DEPARTMENT, task.id, now)
            services.report_progress(uow, DEPARTMENT, task.id, now, percent=10, note=long, evidence=[])
        for task in made[: board.BOARD_CASES]:
            services.complete(uow, DEPARTMENT, task.id, now, summary=long, rating_window=timedelta(0))
    with runtime.unit_of_work() as uow:
        services.evaluate_due(uow, now, Fraction(1, 2))
        services.escalate_due(uow, now, domain.Schedule(), is_workday)
        for task in made[: board.BOARD_CASES]:
            board.feature_case(uow, WORKER, task.id, True, now)
    answer = gateway.get(f"/public/{YANLIUYUAN}")
    assert answer.status_code == 200
    assert answer.get_data(as_text=True).count("<article") == board.BOARD_CASES
    assert len(answer.get_data()) < 150 * 1024


def test_the_board_as_json_has_the_numbers_and_nobody(gateway, live):
    answer = gateway.get(f"/public/{YANLIUYUAN}.json")
    assert answer.status_code == 200 and answer.mimetype == "application/json"
    body = answer.json
    assert body["community"]["name"] == "烟柳园社区" and [p["name"] for p in body["parents"]] == ["池阳街道", "贵池区"]
    assert (body["figures"]["consultations"], body["figures"]["open_tasks"], body["figures"]["overdue_tasks"]) == (
        1, 1, 1)  # fmt: skip
    assert body["figures"]["ratings"]["satisfaction_rate"] == 0.5
    assert [t["status_name"] for t in body["tasks"]] == ["已交办", "已评价"]
    assert body["tasks"][1]["last_note_at"].endswith("+08:00")
    assert body["consultations"][0]["form_name"] == "居民论坛" and len(body["notices"]) == 1
    text = answer.get_data(as_text=True)
    assert not [person for person in PEOPLE if person in text] and PHONE not in text


def test_the_board_is_cacheable_and_a_known_etag_is_a_304(gateway, live):
    for path in (f"/public/{YANLIUYUAN}", f"/public/{YANLIUYUAN}.json", f"/public/area/{CHIYANG}"):
        first = gateway.get(path)
        assert first.headers["Cache-Control"] == "public, max-age=300" and first.headers["ETag"]
        again = gateway.get(path, headers={"If-None-Match": first.headers["ETag"]})
        assert (again.status_code, again.get_data()) == (304, b"")
        assert gateway.get(path, headers={"If-None-Match": '"other"'}).status_code == 200


def test_an_unknown_code_is_a_404_page_or_problem(gateway):
    page = gateway.get("/public/999999999999")
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert "未找到该社区" in page.get_data(as_text=True) and 'lang="zh-CN"' in page.get_data(as_text=True)
    problem = gateway.get("/public/999999999999.json")
    assert problem.status_code == 404 and problem.mimetype == "application/problem+json"
    assert problem.json["detail"] == board.COMMUNITY_UNKNOWN
    assert gateway.get("/public/area/341702999").status_code == 404
    assert gateway.get("/public/area/341702999.json").json["detail"] == board.AREA_UNKNOWN


def test_a_streets_summary_links_each_communitys_board(gateway, live):
    page = gateway.get(f"/public/area/{CHIYANG}").get_data(as_text=True)
    assert f'href="/public/{YANLIUYUAN}"' in page and "西街社区" in page and "<caption" in page
    body = gateway.get(f"/public/area/{CHIYANG}.json").json
    ours = next(f for f in body["communities"] if f["code"] == YANLIUYUAN)
    assert (ours["consultations"], ours["open_tasks"], ours["overdue_tasks"]) == (1, 1, 1)
    assert ours["ratings"]["satisfaction_rate"] == 0.5 and body["total"]["consultations"] == 2


def test_cases_over_http_filtered_exported_and_featured_in_scope_only(gateway, auth, live):
    worker = auth("community_worker", YANLIUYUAN)
    listed = gateway.get("/api/v1/tracking/cases?category=management&q=停车", headers=worker).json
    assert [c["task_id"] for c in listed["items"]] == [live["parking"]] and listed["next_cursor"] is None
    assert gateway.get("/api/v1/tracking/cases?form=hearing", headers=worker).json["items"] == []

    exported = gateway.get("/api/v1/tracking/cases/export?format=csv", headers=worker)
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    raw = exported.get_data()
    assert raw.startswith("\ufeff".encode())  # Excel reads UTF-8
    header, row = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert header[:4] == ["任务编号", "社区代码", "社区", "事项"]
    assert dict(zip(header, row, strict=True))["办理结果"] == "已施划停车位40个"
    as_json = gateway.get("/api/v1/tracking/cases/export?format=json", headers=worker).json
    assert len(as_json["items"]) == 1 and as_json["truncated"] is False
    assert gateway.get("/api/v1/tracking/cases/export?format=json&category=environment", headers=worker).json == {
        "items": [], "truncated": False}  # fmt: skip

    path = f"/api/v1/tracking/cases/{live['parking']}/featured"
    stranger = auth("community_worker", QIUPU_COMMUNITY)
    assert gateway.put(path, json={"featured": True}, headers=stranger).status_code == 404
    assert gateway.put(path, json={"featured": True}, headers=auth("resident", YANLIUYUAN)).status_code == 403
    featured = gateway.put(path, json={"featured": True}, headers=worker)
    assert featured.status_code == 200 and featured.json["featured"] is True
    shown = gateway.get(f"/public/{YANLIUYUAN}.json").json["cases"]
    assert [c["task_id"] for c in shown] == [live["parking"]]
