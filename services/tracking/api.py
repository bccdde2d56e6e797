"""Tracking's HTTP routes (thin: parse, call one use case, serialise): the division registry,
organisations, tasks and their steps, ratings, coverage and rates."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, timedelta
from fractions import Fraction

from services.tracking import domain, services
from services.tracking.schemas import (
    AreaRatesQuery,
    CompleteIn,
    CoverageOut,
    CoverageQuery,
    DivisionOut,
    DivisionQuery,
    ExtensionDecisionIn,
    ExtensionIn,
    HistoryOut,
    ImportOut,
    MemberIn,
    MemberOut,
    OrganisationIn,
    OrganisationOut,
    OrganisationQuery,
    PeriodOut,
    PeriodQuery,
    ProgressIn,
    ProgressOut,
    RatesByAreaOut,
    RatesOut,
    RatesQuery,
    RatingIn,
    RatingOut,
    RatingSummaryOut,
    TaskOut,
    TaskPage,
    TaskQuery,
)
from shared.http import Blueprint, current_principal, requires
from shared.service import current_runtime
from shared.uploads import CSV_BODY, csv_rows, csv_text

divisions = Blueprint(
    "divisions", __name__, url_prefix="/api/v1/tracking/divisions", description="区划(统计用区划代码)"
)
organisations = Blueprint("organisations", __name__, url_prefix="/api/v1/tracking/organisations",
                          description="责任单位(职能部门、物业公司、业委会、社会组织、驻区单位)")  # fmt: skip
tasks = Blueprint(
    "tasks", __name__, url_prefix="/api/v1/tracking/tasks", description="成果落实与评价(多方办事、公众评事)"
)
figures = Blueprint("coverage", __name__, url_prefix="/api/v1/tracking", description="协商覆盖率与三率")
BLUEPRINTS = (divisions, organisations, tasks, figures)

# Who reads the coverage and the rates: officials, the supervisory committee, the city, district systems.
FIGURE_READERS = ("community_worker", "street_admin", "district_admin", "supervisor", "city_operator", "system")
DEPARTMENT = ("department",)
EXTENSION_DECIDERS = ("street_admin", "district_admin", "city_operator")
LEVEL_DIGITS = {"district": 6, "street": 9, "community": 12}


def _ratio(value: Fraction | None) -> float | None:
    return None if value is None else round(float(value), 4)


# -- the division registry ------------------------------------------------------------------------------


@divisions.get("")
@divisions.arguments(DivisionQuery, location="query")
@divisions.response(200, DivisionOut(many=True))
def list_divisions(query):
    """Divisions under a parent (default: the caller's scope), limited to the caller's scope."""
    with current_runtime().unit_of_work() as uow:
        found = services.list_divisions(uow, current_principal(), query["parent"])
    return [d.to_dict() for d in found]


@divisions.get("/<code>")
@divisions.response(200, DivisionOut)
def get_division(code: str):
    """One division."""
    with current_runtime().unit_of_work() as uow:
        return services.get_division(uow, current_principal(), code).to_dict()


# -- organisations -------------------------------------------------------------------------------------


def _organisation(o: domain.Organisation) -> dict:
    return {**asdict(o), "kind_name": domain.ORGANISATION_KINDS[o.kind]}


@organisations.get("")
@organisations.arguments(OrganisationQuery, location="query")
@organisations.response(200, OrganisationOut(many=True))
def list_organisations(query):
    """Organisations that carry outcomes out in the caller's area (and those serving areas above it)."""
    with current_runtime().unit_of_work() as uow:
        return [_organisation(o) for o in services.list_organisations(uow, current_principal(), query["kind"])]


@organisations.put("/<organisation_id>")
@organisations.arguments(OrganisationIn)
@organisations.response(200, OrganisationOut)
@requires(*domain.REGISTRARS)
def put_organisation(body, organisation_id: str):
    """Register or change an organisation (职能部门, 物业公司, 业委会, 社会组织, 驻区单位)."""
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        found = services.put_organisation(uow, current_principal(), {"id": organisation_id, **body}, runtime.now())
    return _organisation(found)


@organisations.post("/import")
@organisations.response(200, ImportOut)
@organisations.doc(requestBody=CSV_BODY)
@requires(*domain.REGISTRARS)
def import_organisations():
    """Import organisations from CSV (id,kind,name,scope[,active]): good rows kept, bad ones reported."""
    rows = csv_rows(csv_text(), {"id", "kind", "name", "scope"})
    records = [
        (line, {**row, "active": row.get("active", "1").lower() not in ("0", "false", "no")}) for line, row in rows
    ]
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        report = services.import_organisations(uow, current_principal(), records, runtime.now())
    return asdict(report)


@organisations.post("/<organisation_id>/members")
@organisations.arguments(MemberIn)
@organisations.response(200, MemberOut)
@requires(*domain.REGISTRARS)
def add_member(body, organisation_id: str):
    """An account of role department acts for this organisation (its tasks, 签收, progress)."""
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        services.add_member(uow, current_principal(), organisation_id, body["account_id"], runtime.now())
    return {"account_id": body["account_id"], "organisation_id": organisation_id}


# -- tasks -----------------------------------------------------------------------------------------------


def _task(task: domain.Task, now) -> dict:
    return {
        **asdict(task),
        "proposal_ids": list(task.proposal_ids),
        "status_name": domain.STATUS_NAMES[task.status],
        "overdue": task.status in domain.OPEN and now >= domain.due_at(task.deadline),
    }


@tasks.get("")
@tasks.arguments(TaskQuery, location="query")
@tasks.response(200, TaskPage)
def list_tasks(query):
    """Tasks the caller may see (a department its own; others those in scope), one page at a time."""
    runtime = current_runtime()
    cursor, limit, sort = query.pop("cursor"), query.pop("limit"), query.pop("sort")
    now = runtime.now()
    with runtime.unit_of_work() as uow:
        items, next_cursor = services.list_tasks(
            uow, current_principal(), filters=query, sort=sort, limit=limit, cursor=cursor, now=now
        )
    return {"items": [_task(t, now) for t in items], "next_cursor": next_cursor}


@tasks.get("/<task_id>")
@tasks.response(200, TaskOut)
def get_task(task_id: str):
    """One task."""
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        return _task(services.get_task(uow, current_principal(), task_id), runtime.now())


@tasks.get("/<task_id>/history")
@tasks.response(200, HistoryOut(many=True))
def task_history(task_id: str):
    """Every step of the task (and each 催办, 督办, 通报): when, by which role, and why."""
    with current_runtime().unit_of_work() as uow:
        return services.task_history(uow, current_principal(), task_id)


@tasks.get("/<task_id>/progress")
@tasks.response(200, ProgressOut(many=True))
def task_progress(task_id: str):
    """The organisation's progress notes, oldest first."""
    with current_runtime().unit_of_work() as uow:
        return [asdict(n) for n in services.task_progress(uow, current_principal(), task_id)]


def _step(task_id: str, act) -> dict:
    runtime = current_runtime()
    now = runtime.now()
    with runtime.unit_of_work() as uow:
        task = act(uow, current_principal(), task_id, now)
    return _task(task, now)


@tasks.post("/<task_id>/accept")
@tasks.response(200, TaskOut)
@requires(*DEPARTMENT)
def accept(task_id: str):
    """签收: the responsible organisation takes the task on (within 24 h counts as responded)."""
    return _step(task_id, services.accept)


@tasks.post("/<task_id>/progress")
@tasks.arguments(ProgressIn)
@tasks.response(201, ProgressOut)
@requires(*DEPARTMENT)
def report_progress(body, task_id: str):
    """A progress note: percentage, what was done, evidence links (the first one starts the work)."""
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        note = services.report_progress(uow, current_principal(), task_id, runtime.now(), **body)
    return asdict(note)


@tasks.post("/<task_id>/complete")
@tasks.arguments(CompleteIn)
@tasks.response(200, TaskOut)
@requires(*DEPARTMENT)
def complete(body, task_id: str):
    """办结: the work is done; the residents concerned are asked to rate it."""
    window = timedelta(days=current_runtime().settings.rating_window_days)
    return _step(task_id, lambda uow, p, t, now: services.complete(uow, p, t, now, summary=body["summary"],
                                                                   rating_window=window))  # fmt: skip


@tasks.post("/<task_id>/extension")
@tasks.arguments(ExtensionIn)
@tasks.response(200, TaskOut)
@requires(*DEPARTMENT)
def request_extension(body, task_id: str):
    """Ask the supervising level for more time, saying why."""
    return _step(task_id, lambda uow, p, t, now: services.request_extension(uow, p, t, now, **body))


@tasks.post("/<task_id>/extension/decision")
@tasks.arguments(ExtensionDecisionIn)
@tasks.response(200, TaskOut)
@requires(*EXTENSION_DECIDERS)
def decide_extension(body, task_id: str):
    """The supervising level approves (a later deadline) or refuses an extension; residents are told."""
    return _step(task_id, lambda uow, p, t, now: services.decide_extension(uow, p, t, now, **body))


@tasks.post("/<task_id>/close")
@tasks.response(200, TaskOut)
@requires(*domain.SUPERVISORS)
def close(task_id: str):
    """Close an evaluated task."""
    return _step(task_id, services.close)


# -- ratings -------------------------------------------------------------------------------------------


@tasks.post("/<task_id>/ratings")
@tasks.arguments(RatingIn)
@tasks.response(201, RatingOut)
@requires("resident")
def rate(body, task_id: str):
    """满意 / 基本满意 / 不满意, once, by a resident who raised, co-signed or deliberated the matter."""
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        rating = services.rate(uow, current_principal(), task_id, runtime.now(), **body)
    return {"task_id": rating.task_id, "choice": rating.choice, "choice_name": domain.CHOICES[rating.choice],
            "at": rating.at}  # fmt: skip


@tasks.get("/<task_id>/ratings")
@tasks.response(200, RatingSummaryOut)
def rating_summary(task_id: str):
    """How the task was rated (counts only; raters are never named) and the caller's own rating."""
    with current_runtime().unit_of_work() as uow:
        summary = services.rating_summary(uow, current_principal(), task_id)
    return {**asdict(summary), "satisfaction_rate": _ratio(summary.satisfaction_rate)}


# -- coverage and rates -------------------------------------------------------------------------------


def _area(line: services.AreaCoverage, target: domain.Target, today) -> dict:
    f = line.figures
    return {
        "code": line.code,
        "name": line.name,
        "communities": f.communities,
        "covered": f.covered,
        "coverage_ratio": _ratio(f.ratio),
        "regularity": _ratio(f.regularity),
        "bottom_up_ratio": _ratio(f.bottom_up_ratio),
        "topics": f.topics,
        "resident_topics": f.resident_topics,
        "newly_covered_recently": f.newly_covered_recently,
        "projected_full_coverage": f.projected_full_coverage(today),
        "on_track": domain.on_track(f, target, today),
        "share_under_45": _ratio(f.mix.share_under_45),
        "share_not_retired": _ratio(f.mix.share_not_retired),
        "social_organisation_share": _ratio(f.mix.social_organisation_share),
        "silent": line.silent,
        "silent_communities": line.silent_communities,
    }


@figures.get("/coverage")
@figures.arguments(CoverageQuery, location="query")
@figures.response(200, CoverageOut)
@requires(*FIGURE_READERS)
def coverage(query):
    """Coverage of a scope (default: the caller's) by district, street or community: communities,
    those with a consultation held in the window, regularity, bottom-up ratio, the projected date of
    full coverage at the current pace against the target, and the communities silent for long."""
    runtime = current_runtime()
    settings = runtime.settings
    today = domain.beijing_date(runtime.now())
    months = query["months"] or settings.coverage_window_months
    target = domain.Target(Fraction(settings.coverage_target).limit_denominator(1000), settings.coverage_deadline)
    with runtime.unit_of_work() as uow:
        lines = services.coverage(
            uow, current_principal(), scope=query["scope"], level_digits=LEVEL_DIGITS[query["level"]], today=today,
            window=months, silent_months=settings.silent_months,
        )  # fmt: skip
    total, *areas = lines
    return {
        "as_of": today,
        "window_months": months,
        "silent_months": settings.silent_months,
        "target": {"ratio": float(target.ratio), "deadline": target.deadline},
        "total": _area(total, target, today),
        "areas": [_area(a, target, today) for a in areas],
    }


@figures.get("/coverage/period")
@figures.arguments(PeriodQuery, location="query")
@figures.response(200, PeriodOut)
@requires(*FIGURE_READERS)
def coverage_in_period(query):
    """Coverage in a calendar period (months ``since`` to ``until``, e.g. a year or a quarter):
    communities with at least one consultation held then, by district, street or community."""
    first, last = (date.fromisoformat(f"{query[key]}-01") for key in ("since", "until"))
    with current_runtime().unit_of_work() as uow:
        lines = services.coverage_in_period(
            uow, current_principal(), scope=query["scope"], level_digits=LEVEL_DIGITS[query["level"]], first=first,
            last=last,
        )  # fmt: skip

    def out(line: services.PeriodCoverage) -> dict:
        return {**asdict(line), "coverage_ratio": _ratio(line.ratio)}

    total, *areas = lines
    return {"since": query["since"], "until": query["until"], "total": out(total), "areas": [out(a) for a in areas]}


@figures.get("/rates")
@figures.arguments(RatesQuery, location="query")
@figures.response(200, RatesOut)
@requires(*FIGURE_READERS)
def rates(query):
    """响应率, 解决率, 满意率 and the on-time rate of the tasks assigned (and ratings given) in
    [since, until), with their numerators and denominators."""
    runtime = current_runtime()
    principal = current_principal()
    with runtime.unit_of_work() as uow:
        figures = services.rates(uow, principal, scope=query["scope"], since=query["since"], until=query["until"],
                                 now=runtime.now())  # fmt: skip
    return {
        "scope": query["scope"] or principal.scope,
        "since": query["since"],
        "until": query["until"],
        **asdict(figures),
        "response_rate": _ratio(figures.response_rate),
        "resolution_rate": _ratio(figures.resolution_rate),
        "on_time_rate": _ratio(figures.on_time_rate),
        "satisfaction_rate": _ratio(figures.satisfaction_rate),
    }


@figures.get("/rates/areas")
@figures.arguments(AreaRatesQuery, location="query")
@figures.response(200, RatesByAreaOut)
@requires(*FIGURE_READERS)
def rates_by_area(query):
    """响应率, 解决率 and 满意率 of a scope (default: the caller's) and of each of its districts,
    streets or communities, over the tasks assigned (and ratings given) in [since, until): the
    numbers ``/rates`` gives for each area, in one answer (without the on-time rate)."""
    principal = current_principal()
    with current_runtime().unit_of_work() as uow:
        total, *areas = services.rates_by_level(
            uow, principal, scope=query["scope"], level_digits=LEVEL_DIGITS[query["level"]], since=query["since"],
            until=query["until"],
        )  # fmt: skip

    def out(line: services.AreaRates) -> dict:
        r = line.rates
        return {"code": line.code, "name": line.name, "assigned": r.assigned, "responded": r.responded,
                "resolved": r.resolved, "ratings": r.ratings, "satisfied": r.satisfied,
                "response_rate": _ratio(r.response_rate), "resolution_rate": _ratio(r.resolution_rate),
                "satisfaction_rate": _ratio(r.satisfaction_rate)}  # fmt: skip

    return {"scope": total.code, "level": query["level"], "since": query["since"], "until": query["until"],
            "total": out(total), "areas": [out(a) for a in areas]}  # fmt: skip
