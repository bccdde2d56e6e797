"""Tracking's rules: outcomes carried out (多方办事) and judged by residents (公众评事).

A resolution of a consultation, or a matter intake referred to a department, becomes a **task**
with one responsible organisation and a deadline. The task's life is a state machine
(``LIFECYCLE``): assigned → accepted (签收) → in_progress → completed → evaluated → closed, or
reopened when the residents who raised and deliberated the matter are not satisfied.

Lateness is counted in **working days** of China's calendar (statutory holidays and the adjusted
working days, 调休): a reminder (催办) before the deadline, escalation (督办) to the supervising
street when it passes, and a public notice (通报) with escalation to the district after more
working days late. The calendar is given as a function (``is_workday``) so these rules stay pure.

No Flask, no SQL: facts in, decisions out; a broken rule raises a ``shared.problems`` error with a
Chinese message.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction

from shared.clock import BEIJING
from shared.divisions import Division
from shared.lifecycle import Actor, Lifecycle, Transition
from shared.principal import Principal
from shared.problems import Conflict, Forbidden, Invalid
from shared.text import http_link, plain_text

IsWorkday = Callable[[date], bool]

# -- the division registry --------------------------------------------------------------------------


def division_visible(principal: Principal, code: str) -> bool:
    """A caller sees its own scope, everything inside it, and the areas above it (for breadcrumbs)."""
    return principal.covers(code) or principal.scope.startswith(code.rstrip("0"))


def changed_divisions(loaded: list[Division], stored: dict[str, Division], resync: bool) -> list[Division]:
    """What a loaded file changes in the registry (all of it when ``resync``, to rebuild replicas)."""
    return loaded if resync else [d for d in loaded if stored.get(d.code) != d]


# -- who carries outcomes out -------------------------------------------------------------------------

ORGANISATION_KINDS = {
    "department": "职能部门",
    "property_company": "物业公司",
    "owners_committee": "业委会",
    "social_organisation": "社会组织",
    "resident_unit": "驻区单位",
}
# Who keeps the registry of organisations: the city and its districts and streets.
REGISTRARS = ("street_admin", "district_admin", "city_operator")
MAX_NAME = 100


@dataclass(frozen=True)
class Organisation:
    id: str
    kind: str
    name: str
    scope: str  # the division-code prefix it serves (a district's department, a community's property company)
    active: bool = True


def organisation(*, principal: Principal, id: str, kind: str, name: str, scope: str, active: bool = True,
                 scope_division: Division | None) -> Organisation:  # fmt: skip
    """A checked organisation: a known kind, a name, a scope that is a known division inside the
    registrar's own scope."""
    if principal.role not in REGISTRARS:
        raise Forbidden("只有街道、区级管理员或市级运营人员可以维护责任单位")
    if not id or len(id) > 64 or not all(ch.isalnum() or ch in "-_." for ch in id):
        raise Invalid("单位编号须为1-64位字母、数字或 - _ .", field="id")
    if kind not in ORGANISATION_KINDS:
        raise Invalid("未知的单位类型", field="kind", allowed=sorted(ORGANISATION_KINDS))
    if scope_division is None:
        raise Invalid("服务范围不是已知的区划代码", field="scope")
    principal.require_scope(scope)
    return Organisation(id, kind, plain_text("name", "单位名称", name, MAX_NAME), scope, active)


def organisation_visible(principal: Principal, organisation: Organisation) -> bool:
    """Organisations serving the caller's area: inside its scope, or serving an area containing it
    (a district's department is seen by its communities' workers, who assign it resolutions)."""
    return organisation.scope.startswith(principal.scope) or principal.scope.startswith(organisation.scope)


def scope_code(division: Division) -> str:
    """The prefix a division's code stands for (341702001000 → 341702001)."""
    digits = {"province": 2, "city": 4, "county": 6, "street": 9, "community": 12}[division.level]
    return division.code[:digits]


# -- tasks ----------------------------------------------------------------------------------------------

STATUS_NAMES = {
    "assigned": "已交办",
    "accepted": "已签收",
    "in_progress": "办理中",
    "completed": "已办结",
    "evaluated": "已评价",
    "reopened": "已重新办理",
    "closed": "已关闭",
}
LIFECYCLE = Lifecycle(
    "任务",
    {
        "assigned": {"accepted"},
        "accepted": {"in_progress", "completed"},
        "in_progress": {"completed"},
        "completed": {"evaluated", "reopened"},
        "reopened": {"in_progress", "completed"},
        "evaluated": {"closed"},
        "closed": set(),
    },
    STATUS_NAMES,
)
STATUSES = LIFECYCLE.statuses
OPEN = frozenset({"assigned", "accepted", "in_progress", "reopened"})
SOURCES = ("resolution", "referral")
# Officials who supervise tasks in their scope (the street, then the district).
SUPERVISORS = ("community_worker", "street_admin", "district_admin", "city_operator")
REFERRAL_WORKING_DAYS = 15  # a referred matter's deadline, counted in working days
ACCEPT_WITHIN = timedelta(hours=24)  # 响应: a task signed for within a day counts as responded to
MAX_EXTENSION_DAYS = 90
MAX_EVIDENCE = 10


@dataclass(frozen=True)
class Task:
    id: str
    source: str  # "resolution" (of a consultation) or "referral" (intake referred the matter)
    source_id: str  # the resolution's or the proposal's id: one task per source
    community_code: str
    title: str
    agreed: str  # what is to be done
    organisation_id: str
    deadline: date  # the last day, in Beijing time
    status: str
    assigned_at: datetime
    updated_at: datetime
    consultation_id: str | None = None
    proposal_ids: tuple[str, ...] = ()
    accepted_at: datetime | None = None
    completed_at: datetime | None = None
    evaluated_at: datetime | None = None
    closed_at: datetime | None = None
    progress: int = 0
    reminded_at: datetime | None = None  # 催办 sent (once per deadline)
    escalation_level: int = 0  # 0 none, 1 street (督办), 2 district (with the 通报)
    noticed_at: datetime | None = None  # the 通报 on the public board
    rating_closes_at: datetime | None = None
    reopened: int = 0  # how often residents sent it back
    extension_requested: int | None = None  # calendar days asked for, awaiting the supervisor's decision
    extension_reason: str | None = None


@dataclass(frozen=True)
class ProgressNote:
    id: str
    task_id: str
    author_id: str
    percent: int
    note: str
    evidence: tuple[str, ...]
    at: datetime


def due_at(deadline: date) -> datetime:
    """The end of the deadline day in Beijing, in UTC."""
    return datetime.combine(deadline + timedelta(days=1), time(0), BEIJING).astimezone(UTC)


def beijing_date(moment: datetime) -> date:
    return moment.astimezone(BEIJING).date()


def new_task(*, source: str, source_id: str, community_code: str, title: str, agreed: str, organisation_id: str,
             deadline: date, now: datetime, consultation_id: str | None = None,
             proposal_ids: Iterable[str] = ()) -> Task:  # fmt: skip
    """A task of a published resolution or of a referral, assigned to its organisation now."""
    if source not in SOURCES:
        raise ValueError(f"unknown task source {source}")
    return Task(
        id=str(uuid.uuid4()),
        source=source,
        source_id=source_id,
        community_code=community_code,
        title=title[:200] or "协商成果落实",
        agreed=agreed[:2000],
        organisation_id=organisation_id,
        deadline=deadline,
        status="assigned",
        assigned_at=now,
        updated_at=now,
        consultation_id=consultation_id,
        proposal_ids=tuple(proposal_ids),
    )


def may_supervise(principal: Principal, task: Task) -> bool:
    return principal.role in SUPERVISORS and principal.covers(task.community_code)


def is_responsible(principal: Principal, task: Task, organisation_of: str | None) -> bool:
    """A department account acts on its own organisation's tasks only (``organisation_of``: the
    organisation the account belongs to)."""
    return principal.role == "department" and organisation_of == task.organisation_id


def visible_to(principal: Principal, task: Task, organisation_of: str | None) -> bool:
    """Officials and supervisors see the tasks in their scope, departments their own, residents
    those of their community (the board shows them publicly anyway)."""
    if is_responsible(principal, task, organisation_of):
        return True
    return principal.role != "department" and principal.covers(task.community_code)


def _require_responsible(principal: Principal, task: Task, organisation_of: str | None) -> Actor:
    if not is_responsible(principal, task, organisation_of):
        raise Forbidden("只有责任单位可以办理该任务")
    return Actor.of(principal)


def accept(task: Task, principal: Principal, organisation_of: str | None, now: datetime):
    """签收: the organisation takes the task on."""
    actor = _require_responsible(principal, task, organisation_of)
    return LIFECYCLE.move(task, "accepted", actor, now, reason="签收", accepted_at=now)


def report_progress(task: Task, principal: Principal, organisation_of: str | None, now: datetime, *,
                    percent: int, note: str, evidence: Iterable[str] = ()):  # fmt: skip
    """A progress note (a percentage, what was done, evidence links). The first one starts the work."""
    actor = _require_responsible(principal, task, organisation_of)
    LIFECYCLE.require_in(task.status, {"accepted", "in_progress", "reopened"}, "填报进展")
    if isinstance(percent, bool) or not isinstance(percent, int) or not 0 <= percent <= 100:
        raise Invalid("进度须为0到100的整数", field="percent")
    if percent < task.progress:
        raise Invalid(f"进度不能低于已填报的{task.progress}%", field="percent")
    links = tuple(evidence)
    if len(links) > MAX_EVIDENCE:
        raise Invalid(f"佐证材料链接最多{MAX_EVIDENCE}个", field="evidence")
    for link in links:
        http_link("evidence", "佐证材料", link)
    text = plain_text("note", "进展说明", note, 2000, multiline=True)
    entry = ProgressNote(str(uuid.uuid4()), task.id, principal.subject, percent, text, links, now)
    if task.status == "in_progress":
        return replace(task, progress=percent, updated_at=now), None, entry
    moved, transition = LIFECYCLE.move(task, "in_progress", actor, now, reason="开始办理", progress=percent)
    return moved, transition, entry


def complete(task: Task, principal: Principal, organisation_of: str | None, now: datetime, *, summary: str,
             rating_window: timedelta):  # fmt: skip
    """办结: the work is done; the residents concerned are asked to rate it within the window."""
    actor = _require_responsible(principal, task, organisation_of)
    text = plain_text("summary", "办结说明", summary, 2000, multiline=True)
    return LIFECYCLE.move(task, "completed", actor, now, reason=text, completed_at=now, progress=100,
                          rating_closes_at=now + rating_window)  # fmt: skip


def request_extension(task: Task, principal: Principal, organisation_of: str | None, *, days: int, reason: str):
    """Ask the supervising level for more time (once at a time, at most ``MAX_EXTENSION_DAYS``)."""
    _require_responsible(principal, task, organisation_of)
    if task.status not in OPEN:
        raise Conflict(f"任务当前状态为“{STATUS_NAMES[task.status]}”,不能申请延期", status_now=task.status)
    if task.extension_requested is not None:
        raise Conflict("已有待审批的延期申请")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_EXTENSION_DAYS:
        raise Invalid(f"延期天数须为1到{MAX_EXTENSION_DAYS}天", field="days")
    return replace(task, extension_requested=days, extension_reason=plain_text("reason", "延期理由", reason, 500))


def decide_extension(task: Task, principal: Principal, now: datetime, *, approve: bool, note: str = ""):
    """The supervising level approves (a later deadline; reminders and escalation start afresh) or
    refuses an extension."""
    if not may_supervise(principal, task) or principal.role == "community_worker":
        raise Forbidden("只有上级督办单位可以审批延期")
    if task.extension_requested is None:
        raise Conflict("没有待审批的延期申请")
    if note:
        plain_text("note", "审批意见", note, 500)
    if not approve:
        return replace(task, extension_requested=None, extension_reason=None, updated_at=now)
    return replace(
        task,
        deadline=task.deadline + timedelta(days=task.extension_requested),
        extension_requested=None,
        extension_reason=None,
        reminded_at=None,
        escalation_level=0,
        updated_at=now,
    )


# -- the case library (典型案例) --------------------------------------------------------------------------

CASE_STATUSES = ("evaluated", "closed")  # finished matters: rated (or nobody objected), then closed
FEATURERS = ("community_worker", "street_admin", "district_admin")


def require_featurable(principal: Principal, task: Task) -> None:
    """Community workers and street and district admins choose the typical cases of their scope,
    among finished matters."""
    if principal.role not in FEATURERS or not principal.covers(task.community_code):
        raise Forbidden("只有本辖区的社区工作者或街道、区级管理员可以推选典型案例")
    if task.status not in CASE_STATUSES:
        name = STATUS_NAMES[task.status]
        raise Conflict(f"任务当前状态为“{name}”,办结并评价后才能列为典型案例", status_now=task.status)


# -- the working-day schedule of reminders and escalation ------------------------------------------


@dataclass(frozen=True)
class Schedule:
    remind_before: int = 1  # working days before the deadline: 催办
    notice_after: int = 3  # working days late: 通报 on the public board and 督办 by the district


def working_days_before(day: date, count: int, is_workday: IsWorkday) -> date:
    """The working day ``count`` working days before ``day`` (0: ``day`` itself if it is one, else
    the working day before it)."""
    current = day
    while not is_workday(current):
        current -= timedelta(days=1)
    for _ in range(count):
        current -= timedelta(days=1)
        while not is_workday(current):
            current -= timedelta(days=1)
    return current


def working_days_after(day: date, count: int, is_workday: IsWorkday) -> date:
    """The ``count``-th working day after ``day``."""
    current = day
    while count > 0:
        current += timedelta(days=1)
        count -= is_workday(current)
    return current


def working_days_late(deadline: date, today: date, is_workday: IsWorkday) -> int:
    """Working days after the deadline up to and including ``today``."""
    days, current = 0, deadline + timedelta(days=1)
    while current <= today:
        days += is_workday(current)
        current += timedelta(days=1)
    return days


@dataclass(frozen=True)
class Escalation:
    """What the clock asks of one task now: ``step`` is remind (催办), escalate (督办, level 1) or
    notice (通报, level 2)."""

    step: str
    level: int
    reason: str


def due_escalation(task: Task, now: datetime, schedule: Schedule, is_workday: IsWorkday) -> Escalation | None:
    """The next step the clock owes an open task, if any (each step happens once per deadline)."""
    if task.status not in OPEN:
        return None
    today = beijing_date(now)
    if today > task.deadline:
        late = working_days_late(task.deadline, today, is_workday)
        if late >= schedule.notice_after and task.escalation_level < 2:
            return Escalation("notice", 2, f"超期{late}个工作日未办结,予以通报并提请区级督办")
        if task.escalation_level < 1:
            return Escalation("escalate", 1, f"已超过办理期限({task.deadline.isoformat()}),提请街道督办")
        return None
    if task.reminded_at is None and today >= working_days_before(task.deadline, schedule.remind_before, is_workday):
        return Escalation("remind", 0, f"办理期限为{task.deadline.isoformat()},请抓紧办理")
    return None


STEP_NAMES = {"remind": "催办", "escalate": "督办", "notice": "通报"}


def escalation_line(task: Task, escalation: Escalation, now: datetime) -> Transition:
    """The history line of a step of the clock (the status stays)."""
    reason = f"{STEP_NAMES[escalation.step]}:{escalation.reason}"
    return Transition(task.id, task.status, task.status, "system:tracking", "system", reason, now)


def apply_escalation(task: Task, escalation: Escalation, now: datetime) -> Task:
    if escalation.step == "remind":
        return replace(task, reminded_at=now, updated_at=now)
    changes = {"escalation_level": escalation.level, "updated_at": now}
    if escalation.step == "notice":
        changes["noticed_at"] = now
    return replace(task, **changes)


# -- satisfaction (公众评事) ---------------------------------------------------------------------------

CHOICES = {"satisfied": "满意", "basically_satisfied": "基本满意", "unsatisfied": "不满意"}
SATISFIED = frozenset({"satisfied", "basically_satisfied"})
DEFAULT_REOPEN_SHARE = Fraction(1, 2)  # more than half 不满意 sends the task back


@dataclass(frozen=True)
class Rating:
    task_id: str
    rater_id: str
    choice: str
    comment: str | None
    at: datetime
    channel: str = "app"


def rate(task: Task, principal: Principal, *, eligible: bool, already: bool, choice: str, comment: str | None,
         now: datetime, channel: str = "app") -> Rating:  # fmt: skip
    """One rating per person concerned (the proposal's submitter and co-signers, the consultation's
    participants), after completion and within the window."""
    if choice not in CHOICES:
        raise Invalid("评价须为满意、基本满意或不满意", field="choice", allowed=list(CHOICES))
    if not eligible:
        raise Forbidden("只有提出、附议该事项或参加协商的居民可以评价")
    if task.status != "completed" or task.rating_closes_at is None:
        raise Conflict(f"任务当前状态为“{STATUS_NAMES[task.status]}”,不能评价", status_now=task.status)
    if now >= task.rating_closes_at:
        raise Conflict("评价期已结束")
    if already:
        raise Conflict("您已评价过该任务")
    text = plain_text("comment", "评价意见", comment, 500) if comment else None
    return Rating(task.id, principal.subject, choice, text, now, channel)


def evaluate(task: Task, ratings: Iterable[Rating], now: datetime, reopen_share: Fraction = DEFAULT_REOPEN_SHARE):
    """When the rating window has closed: evaluated, or reopened if more than ``reopen_share`` of the
    ratings are 不满意 (no ratings: evaluated, nobody objected). None while the window is open."""
    if task.status != "completed" or task.rating_closes_at is None or now < task.rating_closes_at:
        return None
    choices = [r.choice for r in ratings]
    unsatisfied = sum(c == "unsatisfied" for c in choices)
    actor = Actor.system("tracking")
    if choices and Fraction(unsatisfied, len(choices)) > reopen_share:
        reason = f"{len(choices)}条评价中{unsatisfied}条不满意,重新办理"
        # As long again as it was first given (a week at least), counted from today.
        given = max((task.deadline - beijing_date(task.assigned_at)).days, 7)
        return LIFECYCLE.move(task, "reopened", actor, now, reason=reason, reopened=task.reopened + 1,
                              completed_at=None, rating_closes_at=None, reminded_at=None, escalation_level=0,
                              deadline=beijing_date(now) + timedelta(days=given))  # fmt: skip
    reason = f"{len(choices)}条评价,{len(choices) - unsatisfied}条满意或基本满意" if choices else "评价期内无人评价"
    return LIFECYCLE.move(task, "evaluated", actor, now, reason=reason, evaluated_at=now)


def close(task: Task, principal: Principal, now: datetime):
    if not may_supervise(principal, task):
        raise Forbidden("只有社区或上级督办单位可以关闭任务")
    return LIFECYCLE.move(task, "closed", Actor.of(principal), now, reason="办理完毕,关闭", closed_at=now)


def first_line(task: Task) -> Transition:
    return LIFECYCLE.created(task, Actor.system("tracking"), task.assigned_at, reason="协商成果交办")


# -- rates (三率, as Beijing's 接诉即办 counts them) -----------------------------------------------------


@dataclass(frozen=True)
class Rates:
    """Each rate as numerator/denominator (None when the denominator is 0)."""

    assigned: int
    responded: int  # accepted within 24 h of assignment
    resolved: int  # completed and judged resolved (evaluated or closed, not sent back)
    due: int  # deadline passed or completed
    on_time: int  # completed by the end of the deadline day
    ratings: int
    satisfied: int  # 满意 + 基本满意

    @staticmethod
    def _share(numerator: int, denominator: int) -> Fraction | None:
        return Fraction(numerator, denominator) if denominator else None

    @property
    def response_rate(self) -> Fraction | None:
        return self._share(self.responded, self.assigned)

    @property
    def resolution_rate(self) -> Fraction | None:
        return self._share(self.resolved, self.assigned)

    @property
    def on_time_rate(self) -> Fraction | None:
        return self._share(self.on_time, self.due)

    @property
    def satisfaction_rate(self) -> Fraction | None:
        return self._share(self.satisfied, self.ratings)


def responded(task: Task) -> bool:
    return task.accepted_at is not None and task.accepted_at - task.assigned_at <= ACCEPT_WITHIN


def completed_on_time(task: Task) -> bool:
    return task.completed_at is not None and task.completed_at <= due_at(task.deadline)


def rates(tasks: Iterable[Task], ratings: Iterable[Rating], now: datetime) -> Rates:
    """The rates over tasks assigned in a period and the ratings given in it (the caller selects
    both). Definitions (README, "Rates"):

    - 响应率 = tasks accepted (签收) within 24 h of assignment / tasks assigned;
    - 解决率 = tasks evaluated or closed without being sent back last time / tasks assigned;
    - 按期办结率 = tasks completed by the end of the deadline day / tasks whose deadline has passed
      or that are completed;
    - 满意率 = ratings 满意 or 基本满意 / ratings.
    """
    tasks, ratings = list(tasks), list(ratings)
    due = [t for t in tasks if t.completed_at is not None or now >= due_at(t.deadline)]
    return Rates(
        assigned=len(tasks),
        responded=sum(responded(t) for t in tasks),
        resolved=sum(t.status in ("evaluated", "closed") for t in tasks),
        due=len(due),
        on_time=sum(completed_on_time(t) for t in due),
        ratings=len(ratings),
        satisfied=sum(r.choice in SATISFIED for r in ratings),
    )


# -- coverage (全覆盖) and regularity ---------------------------------------------------------------


def month_index(day: date) -> int:
    """Months since year 0: consecutive integers, so windows are ranges."""
    return day.year * 12 + day.month - 1


def month_of(index: int) -> date:
    return date(index // 12, index % 12 + 1, 1)


def window_months(today: date, months: int = 12) -> range:
    """The last ``months`` calendar months, this one included."""
    current = month_index(today)
    return range(current - months + 1, current + 1)


@dataclass(frozen=True)
class Mix:
    """Who took part in an area's consultations of the window (counts, nobody named): attendees
    who declared an age band and those of them under 45, those who declared an occupation and
    those not retired, social organisations attending, and the consultations they attended."""

    consultations: int = 0
    declared_age: int = 0
    under_45: int = 0
    declared_occupation: int = 0
    not_retired: int = 0
    social_organisations: int = 0
    with_social_organisations: int = 0

    @property
    def share_under_45(self) -> Fraction | None:
        return Fraction(self.under_45, self.declared_age) if self.declared_age else None

    @property
    def share_not_retired(self) -> Fraction | None:
        return Fraction(self.not_retired, self.declared_occupation) if self.declared_occupation else None

    @property
    def social_organisation_share(self) -> Fraction | None:
        """Share of the consultations at which a social organisation took part."""
        return Fraction(self.with_social_organisations, self.consultations) if self.consultations else None


@dataclass(frozen=True)
class CoverageFigures:
    """One area's coverage: communities in the registry, those with a consultation held in the
    window, regularity (months with a consultation out of the window's, averaged over communities),
    and the projected date of full coverage at the current pace."""

    communities: int
    covered: int
    months_with_consultation: int  # summed over communities
    window: int  # months
    topics: int
    resident_topics: int
    newly_covered_recently: int  # communities covered for the first time in the pace period
    pace_months: int
    mix: Mix = field(default_factory=Mix)

    @property
    def ratio(self) -> Fraction | None:
        return Fraction(self.covered, self.communities) if self.communities else None

    @property
    def regularity(self) -> Fraction | None:
        return Fraction(self.months_with_consultation, self.communities * self.window) if self.communities else None

    @property
    def bottom_up_ratio(self) -> Fraction | None:
        return Fraction(self.resident_topics, self.topics) if self.topics else None

    def projected_full_coverage(self, today: date) -> date | None:
        """When every community will be covered if communities keep joining at the pace of the
        last ``pace_months`` (today if all are; None if none joined lately: never, at this pace)."""
        missing = self.communities - self.covered
        if missing <= 0:
            return today
        if self.newly_covered_recently <= 0:
            return None
        per_day = self.newly_covered_recently / (self.pace_months * 30.4375)
        return today + timedelta(days=int(-(-missing // per_day)))


@dataclass(frozen=True)
class Target:
    ratio: Fraction
    deadline: date


def on_track(figures: CoverageFigures, target: Target, today: date) -> bool | None:
    """Whether the area reaches the target ratio by its deadline at the current pace."""
    if figures.ratio is None:
        return None
    if figures.ratio >= target.ratio:
        return True
    needed = target.ratio * figures.communities - figures.covered
    if figures.newly_covered_recently <= 0:
        return False
    per_day = Fraction(figures.newly_covered_recently) / Fraction(figures.pace_months * 30)
    return today + timedelta(days=int(needed / per_day)) <= target.deadline


@dataclass(frozen=True)
class Held:
    """A consultation held (live or recorded afterwards), as tracking counts it."""

    consultation_id: str
    community_code: str
    held_at: datetime
    topics: int = 0
    resident_topics: int = 0
    recorded_afterwards: bool = False
    mix: Mapping[str, int] = field(default_factory=dict)


def held_community_months(held: Iterable[Held]) -> dict[str, set[int]]:
    """By community, the months in which it held consultations."""
    months: dict[str, set[int]] = {}
    for h in held:
        months.setdefault(h.community_code, set()).add(month_index(beijing_date(h.held_at)))
    return months
