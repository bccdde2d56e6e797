"""Tracking's use cases: the division registry it owns; organisations that carry outcomes out;
tasks from resolutions and referrals, their steps, escalation and ratings; the people concerned;
coverage and rates. Each is a plain function ``(uow, principal, …, now)`` in the caller's unit of
work: load, let the domain decide, store, emit."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from fractions import Fraction

from services.tracking import domain, events, repository
from services.tracking.models import MIX, stakeholders
from shared.divisions import Division
from shared.principal import Principal
from shared.problems import Forbidden, Invalid, NotFound
from shared.uow import UnitOfWork

# -- the division registry ------------------------------------------------------------------------------


def list_divisions(uow: UnitOfWork, principal: Principal, parent: str | None) -> list[Division]:
    """Divisions under a parent (default: the caller's scope), limited to the caller's scope."""
    return repository.active_divisions(uow.session, scope=principal.scope, parent=parent)


def get_division(uow: UnitOfWork, principal: Principal, code: str) -> Division:
    division = uow.divisions.get(code)
    if division is None or not domain.division_visible(principal, code):
        raise NotFound("区划不存在")
    return division


def load_divisions(uow: UnitOfWork, loaded: list[Division], resync: bool = False) -> list[Division]:
    """Upsert a file's divisions; publish those that are new or changed (all of them when
    ``resync``, to rebuild a replica). Returns the published ones."""
    changed = domain.changed_divisions(loaded, repository.stored(uow.session, [d.code for d in loaded]), resync)
    repository.store(uow.session, changed)
    if changed:
        repository.recount_totals(uow.session)
        events.divisions_changed(uow, changed)
    return changed


# -- organisations ----------------------------------------------------------------------------------


def _checked_organisation(uow: UnitOfWork, principal: Principal, record: dict) -> domain.Organisation:
    scope = str(record.get("scope") or "")
    division = uow.divisions.get(scope.ljust(12, "0")) if scope.isdigit() and len(scope) <= 12 else None
    if division is not None and domain.scope_code(division) != scope:
        division = None  # a prefix must stand for a whole division (3417, not 341)
    return domain.organisation(principal=principal, scope_division=division, **record)


def put_organisation(uow: UnitOfWork, principal: Principal, record: dict, now: datetime) -> domain.Organisation:
    """Register or change one organisation; meetings and intake hear of a change."""
    existing = repository.get_organisation(uow.session, record["id"])
    if existing is not None and not principal.covers(existing.scope):
        raise Forbidden("该单位不在您的管辖范围内")
    organisation = _checked_organisation(uow, principal, record)
    if repository.save_organisations(uow.session, [organisation], now):  # registered again as it is: nothing to tell
        events.organisations_changed(uow, [organisation])
    return organisation


@dataclass(frozen=True)
class ImportReport:
    imported: int
    errors: list[dict]


def import_organisations(uow: UnitOfWork, principal: Principal, rows: Iterable[tuple[int, dict]],
                         now: datetime) -> ImportReport:  # fmt: skip
    """A CSV's organisations: good rows stored, bad ones reported by line with the reason."""
    good: list[domain.Organisation] = []
    errors: list[dict] = []
    seen: set[str] = set()
    for line, record in rows:
        try:
            if record.get("id") in seen:
                raise Invalid("单位编号在文件中重复", field="id")
            existing = repository.get_organisation(uow.session, record.get("id") or "")
            if existing is not None and not principal.covers(existing.scope):
                raise Forbidden("该单位不在您的管辖范围内")
            good.append(_checked_organisation(uow, principal, record))
            seen.add(record["id"])
        except (Invalid, Forbidden) as exc:
            errors.append({"line": line, "field": exc.extra.get("field"), "message": exc.detail})
        except TypeError:
            errors.append({"line": line, "field": None, "message": "缺少必填列"})
    changed = repository.save_organisations(uow.session, good, now)
    if changed:  # a file imported again tells only what it changed
        events.organisations_changed(uow, changed)
    return ImportReport(len(good), errors)


def resync_organisations(uow: UnitOfWork) -> int:
    """Publish every organisation again (a new service's replica, or one restored from a backup)."""
    every = repository.all_organisations(uow.session)
    if every:
        events.organisations_changed(uow, every)
    return len(every)


def list_organisations(uow: UnitOfWork, principal: Principal, kind: str | None) -> list[domain.Organisation]:
    return repository.list_organisations(uow.session, principal.scope, kind)


def add_member(uow: UnitOfWork, principal: Principal, organisation_id: str, account_id: str, now: datetime) -> None:
    """An account of role ``department`` acts for this organisation from now on."""
    organisation = repository.get_organisation(uow.session, organisation_id)
    if organisation is None or not domain.organisation_visible(principal, organisation):
        raise NotFound("单位不存在")
    if principal.role not in domain.REGISTRARS or not principal.covers(organisation.scope):
        raise Forbidden("只有该单位所在辖区的管理员可以添加成员")
    repository.set_member(uow.session, account_id, organisation_id, now)


# -- tasks: creation from events ---------------------------------------------------------------------


def assign(uow: UnitOfWork, task: domain.Task) -> domain.Task | None:
    """Store a new task with its first history line and tell its organisation (once per source:
    a redelivered resolution or referral finds its task already there)."""
    if repository.task_of_source(uow.session, task.source_id) is not None:
        return None
    repository.add_task(uow.session, task)
    repository.record(uow.session, domain.first_line(task))
    events.task_assigned(uow, task)
    return task


def tasks_from_outcome(uow: UnitOfWork, payload: dict, now: datetime) -> list[domain.Task]:
    """Each resolution of a published outcome becomes a task for its organisation."""
    topics = {t["topic_id"]: t for t in payload.get("topics", ())}
    made = []
    for resolution in payload["resolutions"]:
        topic = topics.get(resolution["topic_id"], {})
        proposal_ids = [resolution["proposal_id"]] if resolution.get("proposal_id") else []
        task = domain.new_task(
            source="resolution",
            source_id=resolution["resolution_id"],
            community_code=payload["community_code"].ljust(12, "0"),
            title=topic.get("title") or resolution["agreed"][:60],
            agreed=resolution["agreed"],
            organisation_id=resolution.get("organisation_id") or resolution["responsible_party"][:64],
            deadline=date.fromisoformat(str(resolution["deadline"])),
            now=now,
            consultation_id=payload["consultation_id"],
            proposal_ids=proposal_ids,
        )
        if assign(uow, task) is not None:
            made.append(task)
    return made


def task_from_referral(uow: UnitOfWork, payload: dict, now: datetime, deadline: date) -> domain.Task | None:
    """A matter intake referred to an organisation (no consultation needed) becomes its task."""
    task = domain.new_task(
        source="referral",
        source_id=payload["proposal_id"],
        community_code=payload["community_code"],
        title=payload["title"],
        agreed=payload.get("note") or payload["title"],
        organisation_id=payload["department_id"],
        deadline=deadline,
        now=now,
        proposal_ids=[payload["proposal_id"]],
    )
    return assign(uow, task)


# -- tasks: the organisation's and the supervisors' steps -----------------------------------------------


def _load(uow: UnitOfWork, principal: Principal, task_id: str, *, for_update: bool = False):
    task = repository.get_task(uow.session, task_id, for_update=for_update)
    organisation_of = repository.member_of(uow.session, principal.subject) if principal.role == "department" else None
    if task is None or not domain.visible_to(principal, task, organisation_of):
        raise NotFound("任务不存在或不在您的范围内")
    return task, organisation_of


def list_tasks(uow: UnitOfWork, principal: Principal, *, filters: dict, sort: str, limit: int, cursor: str | None,
               now: datetime):  # fmt: skip
    """Tasks the caller may see (``domain.visible_to``): a department its organisation's, others
    those in their scope."""
    organisation_of = None
    if principal.role == "department":
        organisation_of = repository.member_of(uow.session, principal.subject) or ""
    return repository.search_tasks(
        uow.session, scope=principal.scope, organisation_id=organisation_of, filters=filters, sort=sort, limit=limit,
        cursor=cursor, today=domain.beijing_date(now),
    )  # fmt: skip


def get_task(uow: UnitOfWork, principal: Principal, task_id: str) -> domain.Task:
    return _load(uow, principal, task_id)[0]


def task_history(uow: UnitOfWork, principal: Principal, task_id: str) -> list[dict]:
    _load(uow, principal, task_id)
    return repository.history(uow.session, task_id)


def task_progress(uow: UnitOfWork, principal: Principal, task_id: str) -> list[domain.ProgressNote]:
    _load(uow, principal, task_id)
    return repository.notes(uow.session, task_id)


def accept(uow: UnitOfWork, principal: Principal, task_id: str, now: datetime) -> domain.Task:
    task, organisation_of = _load(uow, principal, task_id, for_update=True)
    moved, line = domain.accept(task, principal, organisation_of, now)
    repository.save_task(uow.session, moved)
    repository.record(uow.session, line)
    events.task_accepted(uow, moved)
    return moved


def report_progress(uow: UnitOfWork, principal: Principal, task_id: str, now: datetime, *, percent: int, note: str,
                    evidence: list[str]) -> domain.ProgressNote:  # fmt: skip
    task, organisation_of = _load(uow, principal, task_id, for_update=True)
    moved, line, entry = domain.report_progress(task, principal, organisation_of, now, percent=percent, note=note,
                                                evidence=evidence)  # fmt: skip
    repository.save_task(uow.session, moved)
    repository.add_note(uow.session, entry)
    repository.record(uow.session, line)
    if line is not None:
        events.task_started(uow, moved)
    events.task_progressed(uow, moved)
    return entry


def complete(uow: UnitOfWork, principal: Principal, task_id: str, now: datetime, *, summary: str,
             rating_window: timedelta) -> domain.Task:  # fmt: skip
    """办结: the organisation reports the work done; the people concerned are asked to rate it."""
    task, organisation_of = _load(uow, principal, task_id, for_update=True)
    moved, line = domain.complete(task, principal, organisation_of, now, summary=summary, rating_window=rating_window)
    repository.save_task(uow.session, moved)
    repository.record(uow.session, line)
    events.task_completed(uow, moved)
    events.rating_requested(uow, moved, repository.stakeholders_of(uow.session, moved))
    return moved


def request_extension(uow: UnitOfWork, principal: Principal, task_id: str, now: datetime, *, days: int,
                      reason: str) -> domain.Task:  # fmt: skip
    task, organisation_of = _load(uow, principal, task_id, for_update=True)
    asked = domain.request_extension(task, principal, organisation_of, days=days, reason=reason)
    repository.save_task(uow.session, asked)
    return asked


def decide_extension(uow: UnitOfWork, principal: Principal, task_id: str, now: datetime, *, approve: bool,
                     note: str) -> domain.Task:  # fmt: skip
    task, _ = _load(uow, principal, task_id, for_update=True)
    days = task.extension_requested
    decided = domain.decide_extension(task, principal, now, approve=approve, note=note)
    repository.save_task(uow.session, decided)
    events.task_extended(uow, decided, approved=approve, days=days or 1)
    return decided


def close(uow: UnitOfWork, principal: Principal, task_id: str, now: datetime) -> domain.Task:
    task, _ = _load(uow, principal, task_id, for_update=True)
    moved, line = domain.close(task, principal, now)
    repository.save_task(uow.session, moved)
    repository.record(uow.session, line)
    events.task_closed(uow, moved)
    return moved


# -- ratings (公众评事) ----------------------------------------------------------------------------------


def rate(uow: UnitOfWork, principal: Principal, task_id: str, now: datetime, *, choice: str, comment: str | None,
         channel: str = "app") -> domain.Rating:  # fmt: skip
    task = repository.get_task(uow.session, task_id, for_update=True)
    if task is None or not principal.covers(task.community_code):
        raise NotFound("任务不存在或不在您的范围内")
    rating = domain.rate(
        task, principal, eligible=repository.is_stakeholder(uow.session, task, principal.subject),
        already=repository.has_rated(uow.session, task_id, principal.subject), choice=choice, comment=comment,
        now=now, channel=channel,
    )  # fmt: skip
    repository.add_rating(uow.session, rating, task.community_code)
    return rating


@dataclass(frozen=True)
class RatingSummary:
    ratings: int
    by_choice: dict[str, int]
    satisfaction_rate: Fraction | None
    closes_at: datetime | None
    mine: str | None


def rating_summary(uow: UnitOfWork, principal: Principal, task_id: str) -> RatingSummary:
    task = get_task(uow, principal, task_id)
    given = repository.task_ratings(uow.session, task_id)
    by_choice = {choice: sum(r.choice == choice for r in given) for choice in domain.CHOICES}
    satisfied = by_choice["satisfied"] + by_choice["basically_satisfied"]
    mine = next((r.choice for r in given if r.rater_id == principal.subject), None)
    rate_ = Fraction(satisfied, len(given)) if given else None
    return RatingSummary(len(given), by_choice, rate_, task.rating_closes_at, mine)


# -- the clock: reminders, escalation, evaluation ----------------------------------------------------------


def escalate_due(uow: UnitOfWork, now: datetime, schedule: domain.Schedule, is_workday: domain.IsWorkday,
                 batch: int = 200) -> int:  # fmt: skip
    """One pass of the clock over open tasks near or past their deadline: each owed step (催办,
    督办, 通报) once. Returns how many steps were taken."""
    horizon = domain.beijing_date(now) + timedelta(days=schedule.remind_before * 3 + 10)
    taken = 0
    for task in repository.claim_open_due(uow.session, horizon, batch):
        due = domain.due_escalation(task, now, schedule, is_workday)
        if due is None:
            continue
        moved = domain.apply_escalation(task, due, now)
        repository.save_task(uow.session, moved)
        repository.record(uow.session, domain.escalation_line(moved, due, now))
        events.task_chased(uow, moved, due)
        taken += 1
    return taken


def evaluate_due(uow: UnitOfWork, now: datetime, reopen_share: Fraction, batch: int = 200) -> int:
    """Tasks whose rating window has closed: evaluated, or reopened on a 不满意 majority."""
    settled = 0
    for task in repository.claim_rating_closed(uow.session, now, batch):
        outcome = domain.evaluate(task, repository.task_ratings(uow.session, task.id), now, reopen_share)
        if outcome is None:
            continue
        moved, line = outcome
        repository.save_task(uow.session, moved)
        repository.record(uow.session, line)
        given = repository.task_ratings(uow.session, task.id)
        if moved.status == "reopened":
            events.task_reopened(uow, moved, line.reason)
        else:
            events.task_evaluated(uow, moved, given)
        settled += 1
    return settled


# -- the people concerned (replicas of intake's and meetings' events) --------------------------------


def concerned(uow: UnitOfWork, subject: str, subject_id: str, people: Iterable[str]) -> None:
    """They may rate the tasks that carry this proposal or consultation out (written at flush,
    once each however often the event comes)."""
    for row in repository.stakeholder_rows(subject, subject_id, people):
        uow.insert_once(stakeholders, row)


def no_longer_concerned(uow: UnitOfWork, subject: str, subject_id: str, person_id: str) -> None:
    uow.flush()
    repository.remove_stakeholder(uow.session, subject, subject_id, person_id)


# -- coverage and rates ---------------------------------------------------------------------------------


def held(uow: UnitOfWork, record: dict) -> bool:
    """A consultation held (live or recorded afterwards) counts for coverage, once: its row, and the
    running aggregates of every area its community lies in (a handful of rows, whatever the size
    of the registry). Returns whether it was new."""
    session = uow.session
    if not repository.add_held(session, record):
        return False
    code, month = record["community_code"], record["month"]
    if len(code) != 12:
        return True  # a street's consultation: held, but coverage counts communities
    first_in_month = not repository.held_before_in_month(session, code, month, record["consultation_id"])
    counts = {"consultations": 1, "topics": record["topics"], "resident_topics": record["resident_topics"],
              **{name: record.get(name, 0) for name in MIX},
              "with_social_organisations": int(record.get("social_organisations", 0) > 0)}  # fmt: skip
    repository.bump(session, code, month, communities=int(first_in_month), **counts)
    known = repository.coverage_of(session, code)
    if known is None:
        repository.bump(session, code, month, newly_covered=1, last_held=1)
        repository.set_coverage(session, code, month, month)
        return True
    first, last = known
    if month < first:  # recorded afterwards, before what was its first
        repository.bump(session, code, first, newly_covered=-1)
        repository.bump(session, code, month, newly_covered=1)
    if month > last:
        repository.bump(session, code, last, last_held=-1)
        repository.bump(session, code, month, last_held=1)
    repository.set_coverage(session, code, min(first, month), max(last, month))
    return True


def _scope(principal: Principal, scope: str | None) -> str:
    """The asked scope (default: the caller's, "" for the whole country), inside the caller's."""
    scope = principal.scope if scope is None else scope
    if scope and (not scope.isdigit() or len(scope) not in repository.AREA_DIGITS):
        raise Invalid("范围须为省、市、区县、街道或社区的区划代码前缀", field="scope")
    principal.require_scope(scope)
    return scope


def _marks(today: date, window: int, pace_months: int, silent_months: int) -> dict[str, int]:
    """The first months of the coverage window, of the pace period and of the silent period."""
    current = domain.month_index(today)
    return {
        "window_start": current - window + 1,
        "recent_start": current - pace_months + 1,
        "silent_start": current - silent_months + 1,
    }


def _figures(found: dict, window: int, pace_months: int) -> tuple[domain.CoverageFigures, int]:
    """An area's figures from its aggregates (``repository.area_figures``), and its silent communities."""
    communities = found.get("communities", 0)
    mix = domain.Mix(consultations=found.get("consultations", 0),
                     with_social_organisations=found.get("with_social_organisations", 0),
                     **{name: found.get(name, 0) for name in MIX})  # fmt: skip
    figures = domain.CoverageFigures(
        communities=communities,
        covered=found.get("covered", 0),
        months_with_consultation=found.get("months_with_consultation", 0),
        window=window,
        topics=found.get("topics", 0),
        resident_topics=found.get("resident_topics", 0),
        newly_covered_recently=found.get("newly_covered_recently", 0),
        pace_months=pace_months,
        mix=mix,
    )
    return figures, communities - found.get("recently_held", 0)


@dataclass(frozen=True)
class AreaCoverage:
    code: str
    name: str | None
    figures: domain.CoverageFigures
    silent: int  # communities without a consultation for ``silent_months`` or more
    silent_communities: list[str]  # their codes, for a scope of a street or smaller (at most SILENT_LISTED)


SILENT_LISTED = 200


def coverage(uow: UnitOfWork, principal: Principal, *, scope: str | None, level_digits: int, today: date,
             window: int = 12, pace_months: int = 3, silent_months: int = 6) -> list[AreaCoverage]:  # fmt: skip
    """Coverage of the caller's scope (the whole scope first), then one line per area of
    ``level_digits`` (6 districts, 9 streets, 12 communities) in it, from the running aggregates."""
    scope = _scope(principal, scope)
    if level_digits < len(scope):
        raise Invalid("汇总层级不能高于所选范围", field="level")
    marks = _marks(today, window, pace_months, silent_months)
    if scope:
        total = repository.area_figures(uow.session, scope=scope, digits=len(scope), **marks).get(scope, {})
    else:  # the whole country: its provinces added up
        total = {}
        for figures in repository.area_figures(uow.session, scope="", digits=2, **marks).values():
            for name, value in figures.items():
                total[name] = total.get(name, 0) + value
    areas = {} if level_digits == len(scope) else repository.area_figures(
        uow.session, scope=scope, digits=level_digits, **marks
    )  # fmt: skip
    names = repository.division_names(uow.session, [code.ljust(12, "0") for code in (scope, *areas)])

    def line(code: str, found: dict) -> AreaCoverage:
        figures, silent = _figures(found, window, pace_months)
        # Named for the scope itself when it is a street or a community (drill down to see them).
        listed = (
            repository.silent_communities(uow.session, code, marks["silent_start"], SILENT_LISTED)
            if code == scope and len(code) >= 9 and silent
            else []
        )
        return AreaCoverage(code, names.get(code.ljust(12, "0")), figures, silent, listed)

    return [line(scope, total), *(line(code, areas[code]) for code in sorted(areas))]


@dataclass(frozen=True)
class PeriodCoverage:
    code: str
    name: str | None
    communities: int
    covered: int  # communities with a consultation held in the period
    consultations: int

    @property
    def ratio(self) -> Fraction | None:
        return Fraction(self.covered, self.communities) if self.communities else None


def coverage_in_period(uow: UnitOfWork, principal: Principal, *, scope: str | None, level_digits: int, first: date,
                       last: date) -> list[PeriodCoverage]:  # fmt: skip
    """Coverage in a calendar period (the months of ``first`` to those of ``last``): the scope first,
    then its areas of ``level_digits``."""
    scope = _scope(principal, scope)
    if not scope:
        raise Invalid("按期间统计须指定省、市或更小的范围", field="scope")
    if level_digits < len(scope):
        raise Invalid("汇总层级不能高于所选范围", field="level")
    first_month, last_month = domain.month_index(first), domain.month_index(last)
    if last_month < first_month:
        raise Invalid("结束月份不能早于开始月份", field="until")
    if last_month - first_month >= 120:
        raise Invalid("统计期间最长10年", field="since")
    session = uow.session
    lines = []
    for digits in dict.fromkeys((len(scope), level_digits)):
        communities = repository.area_communities(session, scope, digits)
        if digits == len(scope):
            communities.setdefault(scope, 0)  # the scope's own line, even for an area without communities
        held = repository.covered_in_period(session, scope, digits, first_month, last_month)
        names = repository.division_names(session, [code.ljust(12, "0") for code in communities])
        lines += [
            PeriodCoverage(code, names.get(code.ljust(12, "0")), count, *held.get(code, (0, 0)))
            for code, count in sorted(communities.items())
        ]
    return lines


def coverage_by_area(uow: UnitOfWork, *, digits: int, today: date, window: int = 12, pace_months: int = 3,
                     silent_months: int = 6) -> dict[str, tuple[domain.CoverageFigures, int]]:  # fmt: skip
    """Every area of ``digits`` (4 cities, 6 districts) in the registry: its coverage figures and
    how many of its communities are silent; for the metrics, which have no caller's scope."""
    found = repository.area_figures(uow.session, scope="", digits=digits,
                                    **_marks(today, window, pace_months, silent_months))  # fmt: skip
    return {area: _figures(f, window, pace_months) for area, f in found.items()}


def open_tasks_by_area(uow: UnitOfWork, digits: int, today: date) -> dict[str, tuple[int, int]]:
    """(open, overdue) tasks by area of ``digits``."""
    return repository.open_tasks_by_area(uow.session, digits, today)


def rates_by_area(uow: UnitOfWork, digits: int, since: datetime, until: datetime) -> dict[str, domain.Rates]:
    """响应率, 解决率 and 满意率 (not the on-time rate) of every area of ``digits`` over the tasks
    assigned and ratings given in [since, until); for the metrics, which have no caller's scope."""
    return repository.rates_by_area(uow.session, digits, since, until)


@dataclass(frozen=True)
class AreaRates:
    code: str
    name: str | None
    rates: domain.Rates  # the 三率's counts (not the on-time rate's)


def rates_by_level(uow: UnitOfWork, principal: Principal, *, scope: str | None, level_digits: int, since: datetime,
                   until: datetime) -> list[AreaRates]:  # fmt: skip
    """The 三率 of the caller's scope (first), then of each of its areas of ``level_digits`` (every
    area with communities, none left out for having no task), over the tasks assigned and the
    ratings given in [since, until): one grouped count per level, where ``rates`` per area would
    be a request each."""
    scope = _scope(principal, scope)
    if level_digits < len(scope):
        raise Invalid("汇总层级不能高于所选范围", field="level")
    if until <= since:
        raise Invalid("结束时间须晚于开始时间", field="until")
    session = uow.session
    lines = []
    for digits in dict.fromkeys((len(scope), level_digits)):
        found = repository.rates_by_area(session, digits, since, until, scope=scope)  # digits 0: the country's
        areas = [scope] if digits == len(scope) else sorted(repository.area_communities(session, scope, digits))
        names = repository.division_names(session, [code.ljust(12, "0") for code in areas])
        lines += [AreaRates(code, names.get(code.ljust(12, "0")), found.get(code, NO_RATES)) for code in areas]
    return lines


NO_RATES = domain.Rates(assigned=0, responded=0, resolved=0, due=0, on_time=0, ratings=0, satisfied=0)


def rates(uow: UnitOfWork, principal: Principal, *, scope: str | None, since: datetime, until: datetime,
          now: datetime) -> domain.Rates:  # fmt: skip
    """The 三率 and the on-time rate of tasks assigned, and ratings given, in [since, until)."""
    scope = _scope(principal, scope)
    if until <= since:
        raise Invalid("结束时间须晚于开始时间", field="until")
    return domain.rates(
        repository.tasks_assigned(uow.session, scope, since, until),
        repository.ratings_given(uow.session, scope, since, until),
        now,
    )
