"""The public board (居务公开) and the case library (典型案例, the report's 每月一课): read models
over tracking's tasks, plain functions ``(uow, …, now)`` in the caller's unit of work.

- **The board of a community** (public, no token): the community and its street and district;
  the consultations held in the last ``WINDOW_MONTHS`` calendar months (as coverage counts them);
  its tasks (open ones, and those assigned in the window) with their organisation, deadline,
  status, progress and latest progress note; the public notices (通报); the ratings as counts per
  task; and its featured cases. **No personal data**: no person ids, no names of people (raters,
  authors of notes and officials are never read), and the personal numbers and e-mail addresses
  typed into a text (``shared.redaction``: mobiles in any spacing, landlines, identity card
  numbers…) are hidden (``[已隐去]``), before a text is shortened. Organisations are named. Times
  are Beijing's.
- **The summary of an area** (a district or a street): per community, the consultations held in
  the window, open and overdue tasks, and the 满意率 of the ratings given in the window.
- **The case library** (authenticated): finished tasks (evaluated or closed) with their story —
  the proposal's title and category (a replica of ``intake.proposal.submitted``), the
  consultation's form, what was agreed, the result (the completion summary), the ratings —
  scoped like tasks (``domain.visible_to``). Community workers and street and district admins in
  scope mark cases featured; featured cases show on the community's public board.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from services.tracking import board_repository, domain, repository
from services.tracking.models import case_proposals
from shared.divisions import Division
from shared.principal import Principal
from shared.problems import NotFound
from shared.redaction import redact
from shared.uow import UnitOfWork
from shared.vocabulary import CONSULTATION_FORMS

WINDOW_MONTHS = 12
# The board stays light for a phone (under 150 KB even with every text at its longest): so many
# lines at most, and texts shortened to so many characters (with "…").
BOARD_TASKS = 60
BOARD_CONSULTATIONS = 60
BOARD_NOTICES = 20
BOARD_CASES = 5
TITLE_CHARS = 60
NOTE_CHARS = 120  # the latest progress note, as the board quotes it
CASE_CHARS = 300  # what was agreed and the result, in the board's short section of cases
CASE_STATUSES = domain.CASE_STATUSES
FEATURERS = domain.FEATURERS
EXPORT_LIMIT = 5000
# Intake's default categories (问题菜单); a category intake added later shows by its code.
CATEGORY_NAMES = {"environment": "环境", "public_welfare": "公益", "activities": "活动", "management": "管理"}
COMMUNITY_UNKNOWN = "未找到该社区:社区代码不存在或已撤销"
AREA_UNKNOWN = "未找到该区域:请使用6位区县代码或9位街道(乡镇)代码"
AREA_LEVELS = ("county", "street", "community")


def _short(text: str | None, limit: int) -> str | None:
    """``text`` redacted and cut to ``limit`` characters (the last one an ellipsis when cut)."""
    text = redact(text)
    return text[: limit - 1] + "…" if text and len(text) > limit else text


def _beijing(moment: datetime | None) -> datetime | None:
    return moment.astimezone(domain.BEIJING) if moment is not None else None


def _month_start(index: int) -> datetime:
    """The first moment of a month (``domain.month_index``) in Beijing, in UTC."""
    return datetime.combine(domain.month_of(index), time(0), domain.BEIJING).astimezone(UTC)


# -- what the board shows -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Area:
    code: str
    name: str
    level: str


@dataclass(frozen=True)
class RatingCounts:
    satisfied: int = 0
    basically_satisfied: int = 0
    unsatisfied: int = 0

    @classmethod
    def of(cls, counts: dict[str, int] | None) -> RatingCounts:
        counts = counts or {}
        return cls(*(counts.get(choice, 0) for choice in domain.CHOICES))

    def __add__(self, other: RatingCounts) -> RatingCounts:
        return RatingCounts(
            self.satisfied + other.satisfied,
            self.basically_satisfied + other.basically_satisfied,
            self.unsatisfied + other.unsatisfied,
        )

    @property
    def total(self) -> int:
        return self.satisfied + self.basically_satisfied + self.unsatisfied

    @property
    def satisfaction_rate(self) -> float | None:
        """满意率: 满意 and 基本满意 over all ratings (None without ratings)."""
        return round((self.satisfied + self.basically_satisfied) / self.total, 4) if self.total else None


@dataclass(frozen=True)
class HeldLine:
    held_on: date  # in Beijing
    form: str
    form_name: str
    attendees: int
    recorded_afterwards: bool


@dataclass(frozen=True)
class TaskLine:
    id: str
    title: str
    organisation: str
    deadline: date
    status: str
    status_name: str
    progress: int
    overdue: bool
    noticed: bool
    last_note_at: datetime | None
    last_note: str | None
    ratings: RatingCounts


@dataclass(frozen=True)
class Notice:
    task_id: str
    title: str
    organisation: str
    deadline: date
    noticed_at: datetime
    status_name: str
    still_open: bool


@dataclass(frozen=True)
class Case:
    task_id: str
    community_code: str
    community_name: str | None
    title: str
    proposal_title: str | None
    category: str | None
    category_name: str | None
    form: str | None
    form_name: str | None
    held_on: date | None
    agreed: str
    result: str | None
    organisation: str
    status: str
    status_name: str
    evaluated_at: datetime
    ratings: RatingCounts
    featured: bool


@dataclass(frozen=True)
class Figures:
    """One community's (or an area's) figures over the window."""

    code: str
    name: str
    consultations: int
    open_tasks: int
    overdue_tasks: int
    ratings: RatingCounts


@dataclass(frozen=True)
class Board:
    community: Area
    parents: list[Area]  # the street, then the district
    as_of: date
    since: date  # the window's first day
    figures: Figures
    consultations: list[HeldLine]
    tasks: list[TaskLine]
    notices: list[Notice]
    cases: list[Case]


@dataclass(frozen=True)
class AreaSummary:
    area: Area
    parents: list[Area]
    as_of: date
    since: date
    total: Figures
    communities: list[Figures]


def _place(division: Division) -> Area:
    return Area(division.code, division.name, division.level)


def _parents(uow: UnitOfWork, division: Division) -> list[Area]:
    """The areas above a division up to its district (county level), nearest first."""
    found: list[Area] = []
    current = division
    while current.level != "county" and current.parent_code:
        parent = uow.divisions.get(current.parent_code)
        if parent is None:
            break
        found.append(_place(parent))
        current = parent
    return found


def _organisation(row) -> str:
    """The organisation's registered name, else what the resolution named (its id)."""
    return row["organisation_name"] or redact(row["organisation_id"])


def _window(now: datetime, months: int) -> tuple[int, datetime]:
    first = domain.window_months(domain.beijing_date(now), months)[0]
    return first, _month_start(first)


# -- the board of a community ----------------------------------------------------------------------


def _held_line(row) -> HeldLine:
    form = row["form"]
    held_on = domain.beijing_date(row["held_at"])
    return HeldLine(held_on, form, CONSULTATION_FORMS.get(form, form), row["attendees"], row["recorded_afterwards"])


def _task_line(row, note: dict | None, counts: dict | None, today: date) -> TaskLine:
    return TaskLine(
        id=row["id"],
        title=_short(row["title"], TITLE_CHARS),
        organisation=_organisation(row),
        deadline=row["deadline"],
        status=row["status"],
        status_name=domain.STATUS_NAMES[row["status"]],
        progress=row["progress"],
        overdue=row["status"] in domain.OPEN and row["deadline"] < today,
        noticed=row["noticed_at"] is not None,
        last_note_at=_beijing(note["at"]) if note else None,
        last_note=_short(note["note"], NOTE_CHARS) if note else None,
        ratings=RatingCounts.of(counts),
    )


def _notice(row) -> Notice:
    return Notice(
        task_id=row["id"],
        title=_short(row["title"], TITLE_CHARS),
        organisation=_organisation(row),
        deadline=row["deadline"],
        noticed_at=_beijing(row["noticed_at"]),
        status_name=domain.STATUS_NAMES[row["status"]],
        still_open=row["status"] in domain.OPEN,
    )


def community_board(uow: UnitOfWork, community_code: str, now: datetime, *, months: int = WINDOW_MONTHS) -> Board:
    """What the community's public board shows (see the module's notes); an unknown or dissolved
    community is a ``NotFound``."""
    community = uow.divisions.active_community(community_code) if community_code.isdigit() else None
    if community is None:
        raise NotFound(COMMUNITY_UNKNOWN)
    session, today = uow.session, domain.beijing_date(now)
    first_month, since = _window(now, months)
    held = board_repository.held_since(session, community.code, first_month, BOARD_CONSULTATIONS)
    rows = board_repository.board_tasks(session, community.code, since, BOARD_TASKS)
    ids = [row["id"] for row in rows]
    notes = board_repository.last_notes(session, ids)
    counts = board_repository.rating_counts(session, ids)
    featured = {"statuses": CASE_STATUSES, "featured": True}
    return Board(
        community=_place(community),
        parents=_parents(uow, community),
        as_of=today,
        since=domain.month_of(first_month),
        figures=_figures(uow, community.code, [(community.code, community.name)], first_month, since, today)[0],
        consultations=[_held_line(row) for row in held],
        tasks=[_task_line(row, notes.get(row["id"]), counts.get(row["id"]), today) for row in rows],
        notices=[_notice(row) for row in board_repository.noticed(session, community.code, BOARD_NOTICES)],
        cases=_case_lines(
            uow,
            board_repository.all_cases(
                session, scope=community.code, organisation_id=None, filters=featured, limit=BOARD_CASES
            ),
            CASE_CHARS,
        ),
    )


# -- the summary of an area ---------------------------------------------------------------------------


def _area(uow: UnitOfWork, code: str) -> Division:
    """The district (6 digits), street (9 digits) or, by its 12-digit code, district, street or
    community a summary is asked of."""
    if not code.isdigit() or len(code) not in (6, 9, 12):
        raise NotFound(AREA_UNKNOWN)
    division = uow.divisions.get(code.ljust(12, "0"))
    if division is None or not division.active or division.level not in AREA_LEVELS:
        raise NotFound(AREA_UNKNOWN)
    if len(code) < 12 and domain.scope_code(division) != code:
        raise NotFound(AREA_UNKNOWN)  # 341702000 is no street: the district's prefix is 341702
    return division


def _figures(uow: UnitOfWork, prefix: str, communities: list[tuple[str, str]], first_month: int, since: datetime,
             today: date) -> list[Figures]:  # fmt: skip
    session = uow.session
    held = board_repository.held_counts(session, prefix, first_month)
    open_ = board_repository.open_counts(session, prefix, today)
    given = board_repository.ratings_by_community(session, prefix, since)
    return [
        Figures(code, name, held.get(code, 0), *open_.get(code, (0, 0)), RatingCounts.of(given.get(code)))
        for code, name in communities
    ]


def area_summary(uow: UnitOfWork, code: str, now: datetime, *, months: int = WINDOW_MONTHS) -> AreaSummary:
    """Per community of a district or street: consultations held in the window, open and overdue
    tasks, the ratings given in the window; and the area's totals. An unknown code is a ``NotFound``."""
    division = _area(uow, code)
    prefix = domain.scope_code(division)
    today = domain.beijing_date(now)
    first_month, since = _window(now, months)
    lines = _figures(uow, prefix, board_repository.communities_in(uow.session, prefix), first_month, since, today)
    total = Figures(
        prefix,
        division.name,
        sum(f.consultations for f in lines),
        sum(f.open_tasks for f in lines),
        sum(f.overdue_tasks for f in lines),
        sum((f.ratings for f in lines), RatingCounts()),
    )
    return AreaSummary(_place(division), _parents(uow, division), today, domain.month_of(first_month), total, lines)


# -- the case library ----------------------------------------------------------------------------------


def _case_lines(uow: UnitOfWork, rows: list[dict], chars: int | None = None) -> list[Case]:
    """Cases of rows, their texts redacted (and cut to ``chars`` characters, for the board)."""
    counts = board_repository.rating_counts(uow.session, [row["id"] for row in rows])

    def text(value: str | None) -> str | None:
        return _short(value, chars) if chars else redact(value)

    return [
        Case(
            task_id=row["id"],
            community_code=row["community_code"],
            community_name=row["community_name"],
            title=text(row["title"]),
            proposal_title=text(row["proposal_title"]),
            category=row["category"],
            category_name=CATEGORY_NAMES.get(row["category"], row["category"]) if row["category"] else None,
            form=row["form"],
            form_name=CONSULTATION_FORMS.get(row["form"], row["form"]) if row["form"] else None,
            held_on=domain.beijing_date(row["held_at"]) if row["held_at"] else None,
            agreed=text(row["agreed"]),
            result=text(row["result"]),
            organisation=_organisation(row),
            status=row["status"],
            status_name=domain.STATUS_NAMES[row["status"]],
            evaluated_at=_beijing(row["evaluated_at"]),
            ratings=RatingCounts.of(counts.get(row["id"])),
            featured=row["featured_at"] is not None,
        )
        for row in rows
    ]


def _organisation_of(uow: UnitOfWork, principal: Principal) -> str | None:
    """The organisation a department account acts for ("" for none: it sees no case)."""
    if principal.role != "department":
        return None
    return repository.member_of(uow.session, principal.subject) or ""


def list_cases(uow: UnitOfWork, principal: Principal, *, filters: dict, limit: int,
               cursor: str | None) -> tuple[list[Case], str | None]:  # fmt: skip
    """One page of the cases the caller may see (``domain.visible_to``), the latest evaluated first,
    filtered by category, community (a code prefix), consultation form, featured, and words of
    the title, the proposal, what was agreed or the result (``q``)."""
    rows, next_cursor = board_repository.search_cases(
        uow.session, scope=principal.scope, organisation_id=_organisation_of(uow, principal),
        filters={**filters, "statuses": CASE_STATUSES}, limit=limit, cursor=cursor,
    )  # fmt: skip
    return _case_lines(uow, rows), next_cursor


def export_cases(uow: UnitOfWork, principal: Principal, *, filters: dict,
                 limit: int = EXPORT_LIMIT) -> tuple[list[Case], bool]:  # fmt: skip
    """The cases of ``list_cases`` (same filters), up to ``limit`` of them; and whether there were more."""
    rows = board_repository.all_cases(
        uow.session, scope=principal.scope, organisation_id=_organisation_of(uow, principal),
        filters={**filters, "statuses": CASE_STATUSES}, limit=limit + 1,
    )  # fmt: skip
    return _case_lines(uow, rows[:limit]), len(rows) > limit


def feature_case(uow: UnitOfWork, principal: Principal, task_id: str, featured: bool, now: datetime) -> Case:
    """Mark a finished task as a typical case (典型案例), or no longer; returns the case."""
    task = repository.get_task(uow.session, task_id, for_update=True)
    organisation_of = _organisation_of(uow, principal)
    if task is None or not domain.visible_to(principal, task, organisation_of):
        raise NotFound("任务不存在或不在您的范围内")
    domain.require_featurable(principal, task)
    if featured:
        board_repository.feature(uow.session, task.id, principal.subject, principal.role, now)
    else:
        board_repository.unfeature(uow.session, task.id)
    rows = board_repository.all_cases(
        uow.session, scope=principal.scope, organisation_id=organisation_of,
        filters={"statuses": CASE_STATUSES, "task_id": task.id}, limit=1,
    )  # fmt: skip
    return _case_lines(uow, rows)[0]


# -- the replica of proposals (from intake's events) --------------------------------------------------


def proposal_submitted(uow: UnitOfWork, *, proposal_id: str, community_code: str, title: str, category: str,
                       submitted_at: datetime) -> None:  # fmt: skip
    """Remember a proposal's title and category for the cases that carry it out (written at flush,
    once however often the event comes). Nobody is named: the submitter is not kept here."""
    row = board_repository.proposal_row(proposal_id, community_code, title, category, submitted_at)
    uow.insert_once(case_proposals, row)
