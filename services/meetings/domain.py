"""Meetings' rules: a consultation (协商) from its draft to its published outcome, the deliberation
that comes before the decision (居民议事) and the decision by a rule fixed in advance (与会决事).
No Flask, no SQL: facts in (the current state, the caller, ``now``, settings values such as the
notice period), decisions out (the new state and the audit rows); a broken rule raises a
``shared.problems`` error with a Chinese message and nothing is to be written.

The procedure is the one of the 2015 national opinion on urban and rural community consultation
(中共中央办公厅、国务院办公厅《关于加强城乡社区协商的意见》, 中办发〔2015〕41号): propose the
topics and the participants; notify the participants in advance with the materials; deliberate so
that everyone is heard and form an opinion; carry it out and report back to the participants, the
stakeholders and the residents. Here it is a state machine (``LIFECYCLE``, on ``shared.lifecycle``,
from ``TRANSITIONS``), each step audited by a ``Transition`` (who, when, why)::

    draft ──▶ announced ──▶ in_session ──▶ decided ───────┐
      │        │  ↺ postpone       └──────▶ no_consensus ──┴──▶ outcome_published ──▶ closed
      └────────┴──▶ cancelled

- **Announcing** needs at least one topic, invited participants, materials, and the notice period
  before the start (3 days, 7 for a hearing, both settings). A postponement keeps ``announced``
  (audited announced → announced with its reason) and the notice period counts again from it.
  Cancelling (from draft or announced) needs a reason; everyone invited is told (``invitees``).
- **Who**: organisers are community workers, street and district admins whose scope covers the
  consultation's division: a 12-digit community, or a street (stored as its 12-digit code ending
  in ``000``, scope checked with its 9-digit prefix). **Who sees** a consultation
  (``visible_to``): officials (every role but residents) whatever lies inside their scope, drafts
  included; once announced, also whoever lives or works in the area it covers and everyone invited.
- **Topics** come from residents (an accepted proposal, ``origin="resident"``) or from above
  (``top_down``); they and the decision rule can change only in draft.
- **Participants** are invited by category, answer (RSVP), sign in with the attendance code
  (offline, from one hour before the start) or by joining online, and may declare a profile (age
  band, occupation class, stakeholder type) for the mix figures. They carry ids, never names. Only
  known people are invited (``invite``): an account of a contact in notify's directory (meetings'
  replica) of the consultation's county/district, and for those invited as people of the area
  (``FROM_THE_AREA``: 居民代表, 党员, 业委会) of the area itself, so that the invited count the quorum
  is measured against holds nobody made up and nobody from elsewhere posing as a resident.
- **Deliberation** happens in rounds: while a round is open and the consultation is announced or in
  session, residents of the division and invited participants post opinions per topic with a stance,
  and reply; organisers summarise each closed round and may hide an opinion with a reason (audited).
- **Decision**: quorum first (a share of the invited who signed in, exact fractions); then per topic
  ``consensus`` (support and no objection), ``consent`` (support and no blocking objection) or
  ``qualified_majority`` (support from at least the threshold share of attendees). A consultation
  with no topic adopted is ``no_consensus``: not a forced vote but a further consultation
  (``create(follows=...)`` carries the topics not adopted). Dissent is kept with its reasons.
- **Outcome**: minutes; one resolution at least per adopted topic (who carries it out: an active
  organisation registered in tracking, of meetings' replica, whose scope contains the
  consultation's division or lies inside it, its registered name the responsible party; a
  deadline; what was agreed); an explanation for a no_consensus outcome and for those who dissented.
- **Recorded afterwards (补录)**: a consultation held in a room, in the last five years, is recorded
  by an organiser of its division with its topics (by the agenda's rules), its attendance by
  category, its decision, the resolutions a decision owes (a CSV row: none, they are in its
  minutes) and a link to its minutes; stored with its outcome published, flagged
  ``recorded_afterwards``, audited as 补录, public at once, and recorded once.
- **Quality figures**: attendance, the participant mix, deliberation, method, dissent, and flags,
  once the consultation has been held, for a meeting held instead of deliberation (以会代议: decided
  with no visible opinion and no summarised round) and for a narrow mix (attendees from fewer than
  two categories, or under a quarter of those who declared an occupation not retired). The mix,
  in counts, is also what ``meetings.consultation.held`` tells (``participation_mix``).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, timedelta
from fractions import Fraction

from shared.clock import BEIJING
from shared.divisions import Division
from shared.lifecycle import Actor, Lifecycle, Transition
from shared.organisations import Organisation
from shared.organisations import serves as serves_division
from shared.principal import ROLES, Principal
from shared.problems import Conflict, Forbidden, Invalid, NotFound
from shared.text import http_link, plain_text
from shared.vocabulary import CONSULTATION_FORMS

# -- vocabularies ------------------------------------------------------------------------------------

FORMS = CONSULTATION_FORMS
MODES = {"offline": "线下", "online": "线上", "hybrid": "线上线下结合"}
ORIGINS = {"resident": "居民提出", "top_down": "上级或社区提出"}
CATEGORIES = {
    "resident_representative": "居民代表",
    "party_member": "党员",
    "npc_deputy": "人大代表",
    "cppcc_member": "政协委员",
    "expert": "专家",
    "social_organisation": "社会组织",
    "local_unit": "驻区单位",
    "property_management": "物业",
    "owners_committee": "业委会",
    "department": "部门代表",
    "stakeholder": "利益相关方",
}
# A consultation recorded afterwards whose attendance was counted without categories (a CSV total).
UNSPECIFIED = "unspecified"
ATTENDANCE_CATEGORIES = {**CATEGORIES, UNSPECIFIED: "未注明类别"}
DECISIONS = {"decided": "已形成决定", "no_consensus": "未达成共识"}
RSVP_ANSWERS = {"pending": "未答复", "accepted": "参加", "declined": "不参加"}
AGE_BANDS = {"under_30": "30岁以下", "30_44": "30至44岁", "45_59": "45至59岁", "60_plus": "60岁及以上"}
UNDER_45 = frozenset({"under_30", "30_44"})
OCCUPATIONS = {"employed": "在职", "retired": "退休", "student": "学生", "other": "其他"}
NOT_RETIRED = frozenset(OCCUPATIONS) - {"retired"}
STAKEHOLDER_TYPES = {
    "owner": "业主",
    "tenant": "租户",
    "merchant": "商户",
    "organisation": "驻区单位或社会组织",
    "public_body": "公共部门",
    "other": "其他",
}
STANCES = {"support": "支持", "oppose": "反对", "concern": "担忧", "proposal": "建议"}
CHOICES = {"support": "赞成", "oppose": "反对", "abstain": "弃权", "block": "阻止"}
OBJECTIONS = frozenset({"oppose", "block"})
METHODS = {"consensus": "协商一致(无人反对)", "consent": "无阻止性异议", "qualified_majority": "特定多数表决"}
FLAGS = {
    "meeting_instead_of_deliberation": "以会代议:未经意见征集或轮次总结即作出决定",
    "narrow_mix": "参与面窄:参会类别少于两类或在职、学生等非退休人员不足四分之一",
}

ORGANISER_ROLES = ("community_worker", "street_admin", "district_admin")
# Anyone may be invited (a resident, a department's or an organisation's account…); district
# systems act for no person.
PARTICIPANT_ROLES = tuple(role for role in ROLES if role != "system")
# Who reads the quality figures: organisers, the supervisory committee, the city's operators.
QUALITY_READERS = (*ORGANISER_ROLES, "supervisor", "city_operator")
# Those invited as people of the area live in it (a contact of one of its communities); the others
# (专家, 人大代表, 政协委员, 部门代表, 社会组织, 驻区单位, 物业, 利益相关方) may come from anywhere in
# its county/district (``INVITED_FROM``: the first six digits of its division).
FROM_THE_AREA = frozenset({"resident_representative", "party_member", "owners_committee"})
INVITED_FROM = 6
DEFAULT_NOTICE_DAYS = 3
HEARING_NOTICE_DAYS = 7
DEFAULT_QUORUM = Fraction(1, 2)
DEFAULT_THRESHOLD = Fraction(2, 3)
SIGN_IN_OPENS = timedelta(hours=1)  # before the start
# Cancelled consultations stay in the calendar feed this long, so subscribers see the cancellation.
CANCELLED_IN_CALENDAR = timedelta(days=30)
NARROW_MIX_CATEGORIES = 2
NARROW_MIX_NOT_RETIRED = Fraction(1, 4)
RECORDED_WITHIN_YEARS = 5  # how far back a consultation held offline may be recorded (补录)
PLANNED_WITHIN_YEARS = 10  # how far ahead a consultation may be planned, or a resolution's deadline set
RECORDED = "补录"  # the reason on the audit lines of a consultation recorded afterwards

MAX_TITLE = 200
MAX_REASON = 500
MAX_OPINION = 2000
MAX_SUMMARY = 4000
MAX_MINUTES = 20000
MAX_AGREED = 2000
MAX_TOPICS = 20
MAX_MATERIALS = 20
MAX_ID = 64
MAX_ATTENDEES = 100_000  # per category, for a consultation recorded afterwards

# -- the procedure -----------------------------------------------------------------------------------

TRANSITIONS: Mapping[str, frozenset[str]] = {
    "draft": frozenset({"announced", "cancelled"}),
    # announced → announced is a postponement: a new start, the notice period counted again.
    "announced": frozenset({"announced", "in_session", "cancelled"}),
    "in_session": frozenset({"decided", "no_consensus"}),
    "decided": frozenset({"outcome_published"}),
    "no_consensus": frozenset({"outcome_published"}),
    "outcome_published": frozenset({"closed"}),
    "closed": frozenset(),
    "cancelled": frozenset(),
}
STATUS_NAMES = {
    "draft": "草稿",
    "announced": "已公告",
    "in_session": "协商中",
    "decided": "已形成决定",
    "no_consensus": "未达成共识",
    "outcome_published": "结果已公开",
    "closed": "已结束",
    "cancelled": "已取消",
}
LIFECYCLE = Lifecycle("协商", TRANSITIONS, STATUS_NAMES)
STATUSES = LIFECYCLE.statuses
OPINION_STATUSES = frozenset({"announced", "in_session"})
ROUND_STATUSES = frozenset({"draft", "announced", "in_session"})
SUMMARY_STATUSES = frozenset({"announced", "in_session", "decided", "no_consensus"})  # before the outcome
AFTER_DECISION = frozenset({"decided", "no_consensus", "outcome_published", "closed"})


# -- the aggregate and its parts ---------------------------------------------------------------------


@dataclass(frozen=True)
class Topic:
    id: str
    title: str
    origin: str  # "resident" (from an accepted proposal) or "top_down"
    proposal_id: str | None = None


@dataclass(frozen=True)
class DecisionRule:
    """How the consultation decides, fixed before it is announced. ``quorum``: share of the invited
    who must have signed in; ``threshold``: for a qualified majority, share of the attendees."""

    method: str = "consensus"
    threshold: Fraction | None = None
    quorum: Fraction = DEFAULT_QUORUM


@dataclass(frozen=True)
class TopicResult:
    """One topic's decision. ``dissent``: (participant id, reason) of each oppose or block vote."""

    topic_id: str | None
    adopted: bool
    support: int
    oppose: int
    abstain: int
    block: int
    dissent: tuple[tuple[str, str | None], ...] = ()


@dataclass(frozen=True)
class Resolution:
    """What was agreed on an adopted topic, who carries it out (``organisation_id``, a registered
    organisation; ``responsible_party`` its name) and by when."""

    topic_id: str
    responsible_party: str
    deadline: date
    agreed: str
    organisation_id: str | None = None  # None only in resolutions stored before organisations were registered
    id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass(frozen=True)
class Consultation:
    id: str
    division_code: str  # 12 digits: a community, or a street ending in "000"
    title: str
    form: str
    mode: str
    organiser_id: str
    starts_at: datetime
    rule: DecisionRule
    status: str
    created_at: datetime
    updated_at: datetime
    ends_at: datetime | None = None
    venue: str | None = None
    online_link: str | None = None
    materials: tuple[str, ...] = ()
    topics: tuple[Topic, ...] = ()
    announced_at: datetime | None = None
    attendance_code: str | None = None
    decision: str | None = None  # "decided" or "no_consensus", kept after publication
    results: tuple[TopicResult, ...] = ()
    minutes: str | None = None
    explanation: str | None = None
    resolutions: tuple[Resolution, ...] = ()
    published_at: datetime | None = None
    cancel_reason: str | None = None
    follows_id: str | None = None  # the consultation this one continues
    # Held in a room and recorded afterwards (补录): no invitations or votes in the platform, the
    # attendance counted by category, the minutes a link.
    recorded_afterwards: bool = False
    minutes_url: str | None = None
    attendance: tuple[tuple[str, int], ...] = ()  # (category, attendees) of a recorded consultation

    @property
    def scope(self) -> str:
        """The prefix that an organiser's scope must cover."""
        return scope_prefix(self.division_code)

    @property
    def level(self) -> str:
        return "street" if self.division_code.endswith("000") else "community"

    @property
    def adopted_topic_ids(self) -> tuple[str, ...]:
        return tuple(r.topic_id for r in self.results if r.adopted)

    @property
    def proposal_ids(self) -> tuple[str, ...]:
        return tuple(t.proposal_id for t in self.topics if t.proposal_id)

    @property
    def adopted_proposal_ids(self) -> tuple[str, ...]:
        adopted = set(self.adopted_topic_ids)
        return tuple(t.proposal_id for t in self.topics if t.proposal_id and t.id in adopted)

    @property
    def further_proposal_ids(self) -> tuple[str, ...]:
        """Proposals whose topic was not adopted: they go to a further consultation."""
        adopted = set(self.adopted_topic_ids)
        return tuple(t.proposal_id for t in self.topics if t.proposal_id and t.id not in adopted)


@dataclass(frozen=True)
class Profile:
    """Self-declared and optional; only ever counted, never shown per person."""

    age_band: str | None = None
    occupation: str | None = None
    stakeholder_type: str | None = None


@dataclass(frozen=True)
class Participant:
    """An invitation. ``id`` is the invited person's account id (the token's subject)."""

    consultation_id: str
    id: str
    category: str
    invited_at: datetime
    rsvp: str = "pending"
    rsvp_at: datetime | None = None
    attended: bool = False
    attended_at: datetime | None = None
    attended_via: str | None = None  # "offline" (attendance code) or "online" (joined)
    profile: Profile | None = None
    # The organiser who ticked them in at the venue (someone without a phone of their own); None
    # when they signed in or joined themselves.
    checked_in_by: str | None = None


@dataclass(frozen=True)
class Round:
    consultation_id: str
    number: int
    opens_at: datetime
    closes_at: datetime
    summary: str | None = None
    summarised_by: str | None = None
    summarised_at: datetime | None = None

    def is_open(self, now: datetime) -> bool:
        return self.opens_at <= now < self.closes_at


@dataclass(frozen=True)
class Opinion:
    id: str
    consultation_id: str
    topic_id: str
    round_number: int
    author_id: str
    stance: str
    text: str
    posted_at: datetime
    parent_id: str | None = None
    hidden: bool = False
    hidden_reason: str | None = None


@dataclass(frozen=True)
class Moderation:
    """The audit line of a moderator's act on an opinion."""

    consultation_id: str
    opinion_id: str
    action: str
    actor_id: str
    actor_role: str
    reason: str
    at: datetime


@dataclass(frozen=True)
class Vote:
    consultation_id: str
    topic_id: str
    participant_id: str
    choice: str
    at: datetime
    reason: str | None = None


@dataclass(frozen=True)
class QualityFigures:
    """How well one consultation deliberated and whom it reached. Shares are exact fractions over
    the attendees who declared that part of their profile (``None`` when nobody did)."""

    consultation_id: str
    method: str
    mode: str
    invited: int
    attendees: int
    attendance: Fraction | None
    online_attendees: int
    share_not_retired: Fraction | None
    share_under_45: Fraction | None
    categories: tuple[str, ...]
    stakeholder_types: tuple[str, ...]
    opinions: int
    rounds: int
    summarised_rounds: int
    dissent: int
    flags: tuple[str, ...]


@dataclass(frozen=True)
class OpinionView:
    """An opinion as one caller sees it (``seen_by``): authors and the reasons for hiding are shown
    to the consultation's moderators only."""

    id: str
    topic_id: str
    round_number: int
    stance: str
    text: str
    posted_at: datetime
    parent_id: str | None
    hidden: bool
    mine: bool
    author_category: str | None  # the author's category if invited, None for a resident of the area
    hidden_reason: str | None
    author_id: str | None


@dataclass(frozen=True)
class AcceptedProposal:
    """A proposal intake accepted as a topic (meetings' replica of ``intake.proposal.accepted``)."""

    proposal_id: str
    community_code: str
    title: str
    origin: str
    category: str
    accepted_at: datetime


@dataclass(frozen=True)
class DirectoryContact:
    """A contact of notify's directory as meetings' replica of ``notify.contacts.changed`` knows it:
    ids only. ``app_user_id``: the account it is invited by; a contact without one (SMS only) is
    invited as ``contact:<contact id>`` (``contact_of_person``) and answers by SMS."""

    contact_id: str
    app_user_id: str | None
    community_code: str
    removed: bool = False


CONTACT_PERSON = "contact:"  # a person known only by a contact of notify's directory (no app account)


def contact_of_person(person_id: str) -> str | None:
    """The contact id a ``contact:<id>`` person stands for; None for an account."""
    return person_id.removeprefix(CONTACT_PERSON) if person_id.startswith(CONTACT_PERSON) else None


@dataclass(frozen=True)
class AttendanceCode:
    consultation_id: str
    attendance_code: str
    sign_in_opens_at: datetime


@dataclass(frozen=True)
class ParticipationMix:
    """Whom a consultation reached, in counts (nobody named), as ``meetings.consultation.held``
    tells it: attendees who declared an age band and those of them under 45, who declared an
    occupation and those of them not retired, and attendees for a social organisation."""

    declared_age: int = 0
    under_45: int = 0
    declared_occupation: int = 0
    not_retired: int = 0
    social_organisations: int = 0


@dataclass(frozen=True)
class RecordedTopic:
    """A topic of a consultation recorded afterwards, as the organiser gives it: an accepted
    proposal (``proposal_id``) or a topic of its own. ``adopted`` None: adopted when the
    consultation decided, not when it reached no consensus."""

    title: str | None = None
    origin: str | None = None
    proposal_id: str | None = None
    adopted: bool | None = None


@dataclass(frozen=True)
class RecordedRow:
    """A line of a CSV of consultations recorded afterwards: what it records (``data``, the
    arguments of the use case that records one) or why it could not be read (``errors``)."""

    line: int
    data: Mapping | None
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class RecordedResolution:
    """A resolution of a consultation recorded afterwards; ``topic_index``: its topic's place in
    the topics given, counted from 0."""

    topic_index: int
    organisation_id: str | None
    deadline: date
    agreed: str


# The consultation's attributes that hold one plain value each (its owned parts aside).
SCALARS = tuple(
    f.name
    for f in fields(Consultation)
    if f.name not in {"rule", "materials", "topics", "results", "resolutions", "attendance"}
)


# -- small checks ------------------------------------------------------------------------------------


def _optional_text(
    field_name: str, label: str, value: str | None, limit: int, *, multiline: bool = False
) -> str | None:
    return plain_text(field_name, label, value, limit, multiline=multiline) if value and value.strip() else None


def _moment(field_name: str, label: str, value: datetime) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise Invalid(f"{label}必须是带时区的时间", field=field_name)
    return value


def _choice(field_name: str, label: str, value: str | None, allowed: Mapping[str, str]) -> str:
    if value not in allowed:
        raise Invalid(f"未知的{label}", field=field_name, allowed=list(allowed))
    return value


def _fraction(field_name: str, label: str, value: Fraction | int | float | str | None, default: Fraction):
    if value is None:
        return default
    if isinstance(value, bool):
        raise Invalid(f"{label}必须是比例,如 2/3", field=field_name)
    try:
        return Fraction(str(value)) if isinstance(value, float) else Fraction(value)
    except (TypeError, ValueError, ZeroDivisionError):
        raise Invalid(f"{label}必须是比例,如 2/3", field=field_name) from None


def _when(moment: datetime) -> str:
    """A moment as people read it in a refusal: Beijing time (stored and sent in UTC)."""
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M") + "(北京时间)"


# -- divisions and people ----------------------------------------------------------------------------


def normalise_division_code(raw: str) -> str:
    """A community's 12-digit code, or a street's 9-digit prefix as its 12-digit code (…000)."""
    code = (raw or "").strip()
    if code.isdigit() and len(code) == 9:
        code += "000"
    if not (code.isdigit() and len(code) == 12) or code[6:9] == "000":
        raise Invalid("协商范围必须是12位社区代码或街道代码", field="division_code", division_code=raw)
    return code


def scope_prefix(division_code: str) -> str:
    """The meaningful prefix of a consultation's division: a street's 9 digits, a community's 12."""
    return division_code[:9] if division_code.endswith("000") else division_code


def require_organiser(principal: Principal) -> Actor:
    """Organisers are community workers, street and district admins (their scope aside)."""
    if principal.role not in ORGANISER_ROLES:
        raise Forbidden("只有社区工作者或街道、区级管理员可以组织协商")
    return Actor.of(principal)


def _organiser(consultation: Consultation, principal: Principal) -> Actor:
    actor = require_organiser(principal)
    if not principal.covers(consultation.scope):
        raise Forbidden("该协商不在您的管辖范围内", division_code=consultation.division_code)
    return actor


def _in_area(consultation: Consultation, principal: Principal) -> bool:
    """Whether ``principal`` lives or works in the area the consultation covers (a street's
    consultation reaches its communities)."""
    return principal.scope.startswith(consultation.scope)


def lives_in(consultation: Consultation, principal: Principal) -> bool:
    """A resident of the consultation's division (a street's consultation reaches its communities)."""
    return principal.role == "resident" and _in_area(consultation, principal)


def is_public(consultation: Consultation) -> bool:
    """Announced, or recorded afterwards (held, and its outcome published as it is recorded)."""
    return consultation.announced_at is not None or consultation.recorded_afterwards


def visible_to(principal: Principal, consultation: Consultation, *, invited: bool) -> bool:
    """Who sees a consultation: officials (every role but residents) whatever lies inside their
    scope, drafts included; once public (``is_public``), also whoever lives or works in the area
    it covers and everyone invited to it (``invited``: ``principal`` holds an invitation to it).
    ``repository.search`` turns this rule into the query of lists."""
    if principal.role != "resident" and principal.covers(consultation.scope):
        return True
    return is_public(consultation) and (invited or _in_area(consultation, principal))


def organises(principal: Principal, consultation: Consultation) -> bool:
    """An organiser whose scope covers the consultation: who moderates it and reads its lists."""
    return principal.role in ORGANISER_ROLES and principal.covers(consultation.scope)


def require_organising(principal: Principal, consultation: Consultation) -> None:
    """For organisers' reads (participants, checklist, attendance code); their writes check
    ``_organiser``, which names a wrong role first."""
    if not organises(principal, consultation):
        raise Forbidden("该协商不在您的管辖范围内", division_code=consultation.division_code)


def require_quality_reader(principal: Principal, consultation: Consultation) -> None:
    """The quality figures are read by ``QUALITY_READERS`` whose scope covers the consultation."""
    principal.require_role(*QUALITY_READERS)
    if not principal.covers(consultation.scope):
        raise Forbidden("该协商不在您的管辖范围内", division_code=consultation.division_code)


def _self(participant: Participant | None, principal: Principal) -> Participant:
    if participant is None or participant.id != principal.subject:
        raise Forbidden("您不是本次协商的受邀参会人")
    return participant


def invitees(participants: Iterable[Participant]) -> tuple[str, ...]:
    """Everyone to tell of an announcement, a postponement or a cancellation."""
    return tuple(p.id for p in participants)


def new_attendance_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def notice_days_for(form: str, *, default: int = DEFAULT_NOTICE_DAYS, hearing: int = HEARING_NOTICE_DAYS) -> int:
    """The notice period a form needs: a hearing (民主听证会) longer than the others."""
    return hearing if form == "hearing" else default


# -- creating and preparing (确定议题和参与主体) ------------------------------------------------------------


def decision_rule(
    method: str = "consensus",
    threshold: Fraction | int | float | str | None = None,
    quorum: Fraction | int | float | str | None = None,
) -> DecisionRule:
    """A checked rule: quorum in (0, 1]; a qualified majority's threshold in (1/2, 1], default 2/3."""
    _choice("method", "决策方式", method, METHODS)
    quorum_share = _fraction("quorum", "法定人数比例", quorum, DEFAULT_QUORUM)
    if not 0 < quorum_share <= 1:
        raise Invalid("法定人数比例必须大于0且不超过1", field="quorum")
    if method != "qualified_majority":
        if threshold is not None:
            raise Invalid("只有特定多数表决需要设定通过比例", field="threshold")
        return DecisionRule(method, None, quorum_share)
    share = _fraction("threshold", "通过比例", threshold, DEFAULT_THRESHOLD)
    if not Fraction(1, 2) < share <= 1:
        raise Invalid("特定多数表决的通过比例必须大于1/2且不超过1", field="threshold")
    return DecisionRule(method, share, quorum_share)


def _details(
    *,
    now: datetime,
    title: str,
    form: str,
    mode: str,
    starts_at: datetime,
    ends_at: datetime | None,
    venue: str | None,
    online_link: str | None,
    materials: Sequence[str],
    rule: DecisionRule,
) -> dict:
    _choice("form", "协商形式", form, FORMS)
    _choice("mode", "协商方式", mode, MODES)
    if form == "online" and mode == "offline":
        raise Invalid("线上协商不能只在线下进行", field="mode")
    _moment("starts_at", "开始时间", starts_at)
    if starts_at <= now:
        raise Invalid("开始时间必须晚于当前时间", field="starts_at")
    _planned("starts_at", "开始时间", starts_at, now)
    if ends_at is not None and _moment("ends_at", "结束时间", ends_at) <= starts_at:
        raise Invalid("结束时间必须晚于开始时间", field="ends_at")
    venue = _optional_text("venue", "地点", venue, 200)
    if mode in {"offline", "hybrid"} and venue is None:
        raise Invalid("线下协商须填写地点", field="venue")
    link = http_link("online_link", "线上协商链接", online_link) if online_link and online_link.strip() else None
    if mode in {"online", "hybrid"} and link is None:
        raise Invalid("线上协商须提供参会链接", field="online_link")
    if isinstance(materials, str) or len(materials) > MAX_MATERIALS:
        raise Invalid(f"协商材料链接最多{MAX_MATERIALS}个", field="materials")
    if not isinstance(rule, DecisionRule):
        raise Invalid("决策方式无效", field="rule")
    return {
        "title": plain_text("title", "协商名称", title, MAX_TITLE),
        "form": form,
        "mode": mode,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "venue": venue,
        "online_link": link,
        "materials": tuple(http_link("materials", "协商材料", m) for m in materials),
        "rule": rule,
    }


def _organised_division(principal: Principal, division: Division | None, division_code: str) -> str:
    """The normalised code of an active community or street (``division``: the registry's entry)
    that ``principal``'s scope covers."""
    code = normalise_division_code(division_code)
    if (
        division is None
        or division.code != code
        or not division.active
        or division.level not in {"community", "street"}
    ):
        raise Invalid("社区或街道代码不存在或已停用", field="division_code", division_code=code)
    if not principal.covers(scope_prefix(code)):
        raise Forbidden("该社区或街道不在您的管辖范围内", division_code=code)
    return code


def create(
    *,
    principal: Principal,
    division: Division | None,
    division_code: str,
    title: str,
    form: str,
    mode: str,
    starts_at: datetime,
    now: datetime,
    rule: DecisionRule | None = None,
    ends_at: datetime | None = None,
    venue: str | None = None,
    online_link: str | None = None,
    materials: Sequence[str] = (),
    follows: Consultation | None = None,
) -> tuple[Consultation, Transition]:
    """A new consultation in draft. ``division`` is the registry's entry for the normalised code
    (``normalise_division_code``). ``follows``: the consultation whose topics not adopted this one
    takes up again (further consultation instead of a forced vote)."""
    actor = require_organiser(principal)
    code = _organised_division(principal, division, division_code)
    details = _details(
        now=now,
        title=title,
        form=form,
        mode=mode,
        starts_at=starts_at,
        ends_at=ends_at,
        venue=venue,
        online_link=online_link,
        materials=materials,
        rule=rule or decision_rule(),
    )
    topics: tuple[Topic, ...] = ()
    reason = "创建协商"
    if follows is not None:
        if follows.division_code != code:
            raise Invalid("继续协商必须在同一社区或街道进行", field="follows")
        topics = further_topics(follows)
        reason = f"继续协商(接续协商 {follows.id} 未通过的议题)"
    consultation = Consultation(
        id=str(uuid.uuid4()),
        division_code=code,
        organiser_id=principal.subject,
        status="draft",
        created_at=now,
        updated_at=now,
        topics=topics,
        follows_id=follows.id if follows else None,
        **details,
    )
    return consultation, LIFECYCLE.created(consultation, actor, now, reason)


_REVISABLE = frozenset({"title", "form", "mode", "starts_at", "ends_at", "venue", "online_link", "materials", "rule"})


def revise(consultation: Consultation, principal: Principal, now: datetime, **changes) -> Consultation:
    """Change the details (the decision rule included) while in draft; once announced, only a
    postponement may change the time."""
    unknown = set(changes) - _REVISABLE
    if unknown:
        raise TypeError(f"not revisable: {', '.join(sorted(unknown))}")
    _organiser(consultation, principal)
    LIFECYCLE.require_in(consultation.status, {"draft"}, "修改协商安排或决策方式")
    current = {name: getattr(consultation, name) for name in _REVISABLE}
    details = _details(now=now, **{**current, **changes})
    return replace(consultation, updated_at=now, **details)


def further_topics(consultation: Consultation) -> tuple[Topic, ...]:
    """The topics a decided consultation did not adopt, as new topics of a further consultation."""
    LIFECYCLE.require_in(consultation.status, AFTER_DECISION, "据此继续协商")
    adopted = set(consultation.adopted_topic_ids)
    topics = tuple(
        Topic(str(uuid.uuid4()), t.title, t.origin, t.proposal_id) for t in consultation.topics if t.id not in adopted
    )
    if not topics:
        raise Conflict("该协商的议题均已通过,无需继续协商")
    return topics


def add_requested_topic(
    consultation: Consultation,
    principal: Principal,
    now: datetime,
    *,
    title: str | None,
    origin: str | None,
    proposal_id: str | None,
    accepted: AcceptedProposal | None,
) -> Consultation:
    """The topic an organiser asks for: with ``proposal_id``, a proposal intake accepted
    (``accepted``, looked up in the replica; its origin kept, its title unless another is given)
    that must belong to the consultation's division; otherwise a topic of its own (``top_down``
    unless said otherwise). The agenda's rules come first, then whether the proposal may be taken."""
    if accepted is not None:
        origin, title = accepted.origin, title or accepted.title
    elif proposal_id:  # unknown here: refused below, once the agenda's rules have been checked
        origin, title = origin or "resident", title or proposal_id
    else:
        origin, title = origin or "top_down", title or ""
    updated = add_topic(consultation, principal, now, title=title, origin=origin, proposal_id=proposal_id)
    if proposal_id and (accepted is None or not accepted.community_code.startswith(consultation.scope)):
        raise Invalid("该建议不是本社区(街道)已列为议题的建议", field="proposal_id", proposal_id=proposal_id)
    return updated


def add_topic(
    consultation: Consultation,
    principal: Principal,
    now: datetime,
    *,
    title: str,
    origin: str,
    proposal_id: str | None = None,
) -> Consultation:
    """Put a topic on the agenda: an accepted proposal (its origin kept) or a top-down topic."""
    _organiser(consultation, principal)
    LIFECYCLE.require_in(consultation.status, {"draft"}, "调整议题")
    _choice("origin", "议题来源", origin, ORIGINS)
    proposal_id = _optional_text("proposal_id", "建议编号", proposal_id, MAX_ID)
    if origin == "resident" and proposal_id is None:
        raise Invalid("居民提出的议题必须关联已列为议题的建议", field="proposal_id")
    if proposal_id and proposal_id in consultation.proposal_ids:
        raise Conflict("该建议已在本次协商的议题中", field="proposal_id")
    if len(consultation.topics) >= MAX_TOPICS:
        raise Invalid(f"一次协商最多{MAX_TOPICS}个议题", field="topics")
    topic = Topic(str(uuid.uuid4()), plain_text("title", "议题", title, MAX_TITLE), origin, proposal_id)
    return replace(consultation, topics=(*consultation.topics, topic), updated_at=now)


def remove_topic(consultation: Consultation, principal: Principal, now: datetime, topic_id: str) -> Consultation:
    _organiser(consultation, principal)
    LIFECYCLE.require_in(consultation.status, {"draft"}, "调整议题")
    kept = tuple(t for t in consultation.topics if t.id != topic_id)
    if len(kept) == len(consultation.topics):
        raise NotFound("议题不存在", topic_id=topic_id)
    return replace(consultation, topics=kept, updated_at=now)


def invite(
    consultation: Consultation,
    participants: Iterable[Participant],
    principal: Principal,
    now: datetime,
    *,
    person_id: str,
    category: str,
    homes: Iterable[str],
) -> Participant:
    """Invite one person (by account id, or ``contact:<contact id>`` for a resident known only by a
    contact of the directory, who answers by SMS) in a category, before the consultation starts.
    ``homes``: the communities of the person's contacts in notify's directory (the replica's live
    ones with that account, or that contact; none for a person it does not know). A person of no community of the
    consultation's county/district is refused, and one invited as a person of the area
    (``FROM_THE_AREA``) of no community of the area."""
    _organiser(consultation, principal)
    LIFECYCLE.require_in(consultation.status, {"draft", "announced"}, "邀请参会人")
    person_id = plain_text("person_id", "参会人编号", person_id, MAX_ID)
    _choice("category", "参会人类别", category, CATEGORIES)
    homes = tuple(homes)
    if not any(code.startswith(consultation.division_code[:INVITED_FROM]) for code in homes):
        raise Invalid(
            f"参会人 {person_id} 不在本区县的通知联系人名录中:"
            "请先将其登记为联系人(无应用账号者以“contact:联系人编号”邀请)",
            field="person_id",
            person_id=person_id,
        )
    if category in FROM_THE_AREA and not any(code.startswith(consultation.scope) for code in homes):
        raise Invalid(
            f"参会人 {person_id} 不是本协商所在区域的居民,不能以“{CATEGORIES[category]}”身份受邀",
            field="person_id",
            person_id=person_id,
            category=category,
        )
    if any(p.id == person_id for p in participants):
        raise Conflict("此人已受邀参加本次协商", field="person_id")
    return Participant(consultation.id, person_id, category, invited_at=now)


# -- notifying in advance (提前通报) ------------------------------------------------------------------


def checklist(
    consultation: Consultation, participants: Sequence[Participant], now: datetime, notice_days: int
) -> dict[str, str]:
    """What the consultation still lacks before it can be announced, by item (empty when ready)."""
    missing = {}
    if not consultation.topics:
        missing["topics"] = "至少一个议题"
    if not participants:
        missing["participants"] = "邀请参会人"
    if not consultation.materials:
        missing["materials"] = "协商材料"
    if consultation.starts_at - now < timedelta(days=notice_days):
        missing["notice"] = f"开始时间距公告至少{notice_days}天"
    return missing


def attendance(consultation: Consultation) -> AttendanceCode:
    """The code participants sign in with at the venue, given to organisers once announced."""
    if consultation.attendance_code is None:
        if consultation.mode == "online":
            raise Conflict("线上协商通过加入会议签到,没有签到码")
        raise Conflict("发布公告后才生成签到码")
    return AttendanceCode(consultation.id, consultation.attendance_code, consultation.starts_at - SIGN_IN_OPENS)


def _check_notice(starts_at: datetime, now: datetime, notice_days: int) -> None:
    if notice_days < 0:
        raise ValueError("notice_days must not be negative")
    earliest = now + timedelta(days=notice_days)
    if starts_at < earliest:
        raise Invalid(
            f"协商须至少提前{notice_days}天公告,开始时间不能早于{_when(earliest)}",
            field="starts_at",
            notice_days=notice_days,
            earliest_start=earliest.isoformat(),
        )


def announce(
    consultation: Consultation,
    participants: Sequence[Participant],
    principal: Principal,
    now: datetime,
    notice_days: int | None = None,
) -> tuple[Consultation, Transition]:
    """Publish the notice. ``notice_days`` is the setting (``notice_days_for(form)`` if not given).
    Offline and hybrid consultations get their attendance code now."""
    actor = _organiser(consultation, principal)
    # From draft only: announced → announced is a postponement, not this.
    LIFECYCLE.require_in(consultation.status, {"draft"}, "发布公告")
    days = notice_days_for(consultation.form) if notice_days is None else notice_days
    missing = checklist(consultation, participants, now, days)
    missing.pop("notice", None)
    if missing:
        raise Conflict("发布公告前还需:" + "、".join(missing.values()), missing=list(missing))
    _check_notice(consultation.starts_at, now, days)
    code = None if consultation.mode == "online" else new_attendance_code()
    reason = f"发布公告,提前{days}天通知参会人"
    return LIFECYCLE.move(consultation, "announced", actor, now, reason, announced_at=now, attendance_code=code)


def postpone(
    consultation: Consultation,
    principal: Principal,
    now: datetime,
    *,
    starts_at: datetime,
    reason: str,
    ends_at: datetime | None = None,
    notice_days: int | None = None,
) -> tuple[Consultation, Transition]:
    """A later start, announced again: the notice period counts from now. Keeps ``announced``."""
    actor = _organiser(consultation, principal)
    LIFECYCLE.require_in(consultation.status, {"announced"}, "延期")
    reason = plain_text("reason", "延期原因", reason, MAX_REASON)
    _moment("starts_at", "开始时间", starts_at)
    if starts_at <= consultation.starts_at:
        raise Invalid("延期后的开始时间必须晚于原定时间", field="starts_at")
    _planned("starts_at", "开始时间", starts_at, now)
    _check_notice(starts_at, now, notice_days_for(consultation.form) if notice_days is None else notice_days)
    if ends_at is None and consultation.ends_at is not None:
        ends_at = consultation.ends_at + (starts_at - consultation.starts_at)
    if ends_at is not None and _moment("ends_at", "结束时间", ends_at) <= starts_at:
        raise Invalid("结束时间必须晚于开始时间", field="ends_at")
    audit = f"延期:{reason}(开始时间由{_when(consultation.starts_at)}改为{_when(starts_at)})"
    return LIFECYCLE.move(
        consultation, "announced", actor, now, audit, starts_at=starts_at, ends_at=ends_at, announced_at=now
    )


def relocate(
    consultation: Consultation,
    principal: Principal,
    now: datetime,
    *,
    venue: str | None,
    online_link: str | None,
    reason: str,
) -> tuple[Consultation, Transition]:
    """Another venue or online link after the notice went out (same time); everyone invited is told.
    What is not given stays; the mode decides what is needed, as when the consultation was prepared."""
    actor = _organiser(consultation, principal)
    LIFECYCLE.require_in(consultation.status, {"announced"}, "变更地点")
    reason = plain_text("reason", "变更原因", reason, MAX_REASON)
    venue = _optional_text("venue", "地点", venue, 200) or consultation.venue
    online_link = online_link or consultation.online_link
    if consultation.mode in {"offline", "hybrid"} and venue is None:
        raise Invalid("线下协商须填写地点", field="venue")
    link = http_link("online_link", "线上协商链接", online_link) if online_link and online_link.strip() else None
    if consultation.mode in {"online", "hybrid"} and link is None:
        raise Invalid("线上协商须提供参会链接", field="online_link")
    if consultation.mode == "offline":
        link = None
    if consultation.mode == "online":
        venue = None
    if (venue, link) == (consultation.venue, consultation.online_link):
        raise Invalid("地点和线上链接均未变化", field="venue")
    audit = f"变更地点:{reason}(地点由{consultation.venue or consultation.online_link}改为{venue or link})"
    return LIFECYCLE.move(consultation, "announced", actor, now, audit, venue=venue, online_link=link)


def cancel(
    consultation: Consultation, principal: Principal, now: datetime, reason: str
) -> tuple[Consultation, Transition]:
    """Call it off before it starts; everyone invited is told why."""
    actor = _organiser(consultation, principal)
    LIFECYCLE.require(consultation.status, "cancelled")
    reason = plain_text("reason", "取消原因", reason, MAX_REASON)
    return LIFECYCLE.move(consultation, "cancelled", actor, now, reason, cancel_reason=reason)


# -- participants ------------------------------------------------------------------------------------


def rsvp(
    consultation: Consultation, participant: Participant | None, principal: Principal, now: datetime, answer: str
) -> Participant:
    """The invited person's answer, which may change until the session starts."""
    participant = _self(participant, principal)
    LIFECYCLE.require_in(consultation.status, {"announced"}, "答复邀请")
    _choice("answer", "答复", answer, {k: v for k, v in RSVP_ANSWERS.items() if k != "pending"})
    return replace(participant, rsvp=answer, rsvp_at=now)


def declare_profile(
    consultation: Consultation,
    participant: Participant | None,
    principal: Principal,
    *,
    age_band: str | None = None,
    occupation: str | None = None,
    stakeholder_type: str | None = None,
) -> Participant:
    """The participant's own, optional profile for the mix figures (each part may stay unsaid)."""
    participant = _self(participant, principal)
    LIFECYCLE.require_in(consultation.status, TRANSITIONS.keys() - {"closed", "cancelled"}, "填写参会人信息")
    if age_band is not None:
        _choice("age_band", "年龄段", age_band, AGE_BANDS)
    if occupation is not None:
        _choice("occupation", "职业类别", occupation, OCCUPATIONS)
    if stakeholder_type is not None:
        _choice("stakeholder_type", "利益相关类型", stakeholder_type, STAKEHOLDER_TYPES)
    return replace(participant, profile=Profile(age_band, occupation, stakeholder_type))


def _attending(consultation: Consultation, now: datetime) -> None:
    if consultation.status == "announced":
        if now < consultation.starts_at - SIGN_IN_OPENS:
            opens = consultation.starts_at - SIGN_IN_OPENS
            raise Conflict(f"签到尚未开始,开始前1小时({_when(opens)})起可以签到", opens_at=opens.isoformat())
        return
    LIFECYCLE.require_in(consultation.status, {"in_session"}, "签到")


def sign_in(
    consultation: Consultation, participant: Participant | None, principal: Principal, now: datetime, code: str
) -> Participant:
    """Sign in at the venue with the attendance code. Signing in again changes nothing."""
    participant = _self(participant, principal)
    if consultation.mode == "online":
        raise Conflict("线上协商请通过加入会议签到")
    _attending(consultation, now)
    given = (code or "").strip()
    if not consultation.attendance_code or not secrets.compare_digest(
        given.encode(), consultation.attendance_code.encode()
    ):
        raise Invalid("签到码不正确", field="code")
    if participant.attended:
        return participant
    return replace(participant, attended=True, attended_at=now, attended_via="offline")


def join_online(
    consultation: Consultation, participant: Participant | None, principal: Principal, now: datetime
) -> Participant:
    """Joining an online or hybrid session counts as attending. Joining again changes nothing."""
    participant = _self(participant, principal)
    if consultation.mode == "offline":
        raise Conflict("线下协商请使用签到码签到")
    _attending(consultation, now)
    if participant.attended:
        return participant
    return replace(participant, attended=True, attended_at=now, attended_via="online")


def check_in(
    consultation: Consultation, participant: Participant | None, principal: Principal, now: datetime, person_id: str
) -> Participant:
    """An organiser ticks an invited person in at the venue, for whoever has no phone to sign in
    with: the same window as the attendance code, and it counts as attending there. Only invited
    people (the quorum and the mix are shares of the invitations). Ticking again, or ticking one
    who signed in themselves, changes nothing."""
    _organiser(consultation, principal)
    if consultation.mode == "online":
        raise Conflict("线上协商:参会人加入会议即为签到,无需现场签到")
    _attending(consultation, now)
    if participant is None:
        raise Invalid("该人员不是本次协商的受邀参会人", field="person_id", person_id=person_id)
    if participant.attended:
        return participant
    return replace(participant, attended=True, attended_at=now, attended_via="offline", checked_in_by=principal.subject)


# -- deliberation (居民议事) --------------------------------------------------------------------------


def open_round(
    consultation: Consultation,
    rounds: Sequence[Round],
    principal: Principal,
    now: datetime,
    *,
    opens_at: datetime,
    closes_at: datetime,
) -> Round:
    """The next round of opinions: numbered in order, never overlapping the previous one."""
    _organiser(consultation, principal)
    LIFECYCLE.require_in(consultation.status, ROUND_STATUSES, "安排意见征集轮次")
    _moment("opens_at", "开始时间", opens_at)
    _moment("closes_at", "截止时间", closes_at)
    if closes_at <= opens_at or closes_at <= now:
        raise Invalid("截止时间必须晚于开始时间和当前时间", field="closes_at")
    _planned("closes_at", "截止时间", closes_at, now)
    previous = max(rounds, key=lambda r: r.number, default=None)
    if previous is not None and opens_at < previous.closes_at:
        raise Invalid(f"第{previous.number}轮截止({_when(previous.closes_at)})后才能开始下一轮", field="opens_at")
    return Round(consultation.id, previous.number + 1 if previous else 1, opens_at, closes_at)


def summarise_round(
    consultation: Consultation, round_: Round, principal: Principal, now: datetime, summary: str
) -> Round:
    """The organiser's summary of a closed round, written once."""
    actor = _organiser(consultation, principal)
    LIFECYCLE.require_in(consultation.status, SUMMARY_STATUSES, "总结意见")
    if round_.is_open(now) or now < round_.opens_at:
        raise Conflict(f"第{round_.number}轮意见征集尚未结束,不能总结")
    if round_.summary:
        raise Conflict(f"第{round_.number}轮已有总结")
    summary = plain_text("summary", "轮次总结", summary, MAX_SUMMARY, multiline=True)
    return replace(round_, summary=summary, summarised_by=actor.id, summarised_at=now)


def post_opinion(
    consultation: Consultation,
    rounds: Sequence[Round],
    participant: Participant | None,
    principal: Principal,
    now: datetime,
    *,
    topic_id: str,
    stance: str,
    text: str,
    parent_id: str | None = None,
    parent: Opinion | None = None,
) -> Opinion:
    """An opinion on a topic during an open round, by a resident of the division or by someone
    invited (``participant``: the caller's invitation, if any). ``parent_id``: the opinion replied
    to, ``parent``: that opinion as found (None: there is none)."""
    invited = participant is not None and participant.id == principal.subject
    if not (invited or lives_in(consultation, principal)):
        raise Forbidden("只有本社区(街道)居民或受邀参会人可以发表意见")
    LIFECYCLE.require_in(consultation.status, OPINION_STATUSES, "发表意见")
    current = next((r for r in rounds if r.is_open(now)), None)
    if current is None:
        raise Conflict("当前没有正在进行的意见征集轮次")
    if topic_id not in {t.id for t in consultation.topics}:
        raise Invalid("议题不属于本次协商", field="topic_id")
    _choice("stance", "意见立场", stance, STANCES)
    if parent is not None:
        if parent.consultation_id != consultation.id or parent.topic_id != topic_id:
            raise Invalid("只能回复同一议题下的意见", field="parent_id")
        if parent.hidden:
            raise Conflict("该意见已被隐藏,不能回复")
    text = plain_text("text", "意见", text, MAX_OPINION, multiline=True)
    if parent_id and parent is None:
        raise Invalid("回复的意见不存在", field="parent_id")
    return Opinion(
        id=str(uuid.uuid4()),
        consultation_id=consultation.id,
        topic_id=topic_id,
        round_number=current.number,
        author_id=principal.subject,
        stance=stance,
        text=text,
        posted_at=now,
        parent_id=parent.id if parent else None,
    )


def seen_by(
    opinion: Opinion, principal: Principal, *, moderator: bool, author_category: str | None = None
) -> OpinionView:
    """``opinion`` as ``principal`` sees it; ``moderator``: ``organises`` the consultation."""
    return OpinionView(
        **{name: getattr(opinion, name) for name in ("id", "topic_id", "round_number", "stance", "text")},
        posted_at=opinion.posted_at,
        parent_id=opinion.parent_id,
        hidden=opinion.hidden,
        mine=opinion.author_id == principal.subject,
        author_category=author_category,
        hidden_reason=opinion.hidden_reason if moderator else None,
        author_id=opinion.author_id if moderator else None,
    )


def hide_opinion(
    consultation: Consultation, opinion: Opinion, principal: Principal, now: datetime, reason: str
) -> tuple[Opinion, Moderation]:
    """Hide an opinion (abuse, personal data…), with the reason on the record."""
    actor = _organiser(consultation, principal)
    if opinion.consultation_id != consultation.id:
        raise NotFound("意见不存在")
    if opinion.hidden:
        raise Conflict("该意见已被隐藏")
    reason = plain_text("reason", "隐藏原因", reason, MAX_REASON)
    hidden = replace(opinion, hidden=True, hidden_reason=reason)
    return hidden, Moderation(consultation.id, opinion.id, "hide", actor.id, actor.role, reason, now)


# -- deciding (与会决事) ------------------------------------------------------------------------------


def start(consultation: Consultation, principal: Principal, now: datetime) -> tuple[Consultation, Transition]:
    """Open the session, not before the announced time."""
    actor = _organiser(consultation, principal)
    LIFECYCLE.require(consultation.status, "in_session")
    if now < consultation.starts_at:
        raise Conflict(
            f"尚未到公告的开始时间({_when(consultation.starts_at)})", starts_at=consultation.starts_at.isoformat()
        )
    return LIFECYCLE.move(consultation, "in_session", actor, now, "开始协商")


def cast_vote(
    consultation: Consultation,
    participant: Participant | None,
    votes: Iterable[Vote],
    principal: Principal,
    now: datetime,
    *,
    topic_id: str,
    choice: str,
    reason: str | None = None,
) -> Vote:
    """One vote per signed-in participant per topic, while in session. ``votes``: those already
    cast in this consultation. A blocking objection must give its reason."""
    participant = _self(participant, principal)
    LIFECYCLE.require_in(consultation.status, {"in_session"}, "表决")
    if not participant.attended:
        raise Forbidden("签到后才能参加表决")
    if topic_id not in {t.id for t in consultation.topics}:
        raise Invalid("议题不属于本次协商", field="topic_id")
    _choice("choice", "表决选项", choice, CHOICES)
    if any(v.topic_id == topic_id and v.participant_id == participant.id for v in votes):
        raise Conflict("您已对该议题表决,不能重复表决")
    reason = _optional_text("reason", "理由", reason, MAX_REASON)
    if choice == "block" and reason is None:
        raise Invalid("阻止性异议必须说明理由", field="reason")
    return Vote(consultation.id, topic_id, participant.id, choice, now, reason)


def quorum_met(rule: DecisionRule, invited: int, attendees: int) -> bool:
    return invited > 0 and Fraction(attendees, invited) >= rule.quorum


def tally(rule: DecisionRule, attendees: int, votes: Iterable[Vote], topic_id: str | None = None) -> TopicResult:
    """One topic's result under ``rule``; with ``topic_id``, only that topic's votes count.

    - consensus: at least one support and no objection (oppose or block);
    - consent: at least one support and no blocking objection (an oppose is dissent, not a veto);
    - qualified majority: support / attendees ≥ threshold, compared exactly.
    """
    counted = sorted(
        (v for v in votes if topic_id is None or v.topic_id == topic_id), key=lambda v: (v.at, v.participant_id)
    )
    count = {choice: sum(1 for v in counted if v.choice == choice) for choice in CHOICES}
    support, oppose, block = count["support"], count["oppose"], count["block"]
    if rule.method == "consensus":
        adopted = support > 0 and oppose == 0 and block == 0
    elif rule.method == "consent":
        adopted = support > 0 and block == 0
    elif rule.method == "qualified_majority":
        adopted = attendees > 0 and Fraction(support, attendees) >= (rule.threshold or DEFAULT_THRESHOLD)
    else:
        raise ValueError(f"unknown decision method {rule.method!r}")
    dissent = tuple((v.participant_id, v.reason) for v in counted if v.choice in OBJECTIONS)
    return TopicResult(topic_id, adopted, support, oppose, count["abstain"], block, dissent)


def decide(
    consultation: Consultation,
    participants: Sequence[Participant],
    votes: Iterable[Vote],
    principal: Principal,
    now: datetime,
) -> tuple[Consultation, Transition]:
    """Apply the rule to every topic: ``decided`` when at least one is adopted (the others go to a
    further consultation), ``no_consensus`` when none is. Without quorum nothing is decided."""
    actor = _organiser(consultation, principal)
    LIFECYCLE.require_in(consultation.status, {"in_session"}, "作出决定")
    invited = len(participants)
    attendees = sum(1 for p in participants if p.attended)
    if not quorum_met(consultation.rule, invited, attendees):
        raise Conflict(
            f"未达到法定人数:应到{invited}人,签到{attendees}人,须达到{consultation.rule.quorum}",
            invited=invited,
            attendees=attendees,
            quorum=str(consultation.rule.quorum),
        )
    votes = list(votes)
    results = tuple(tally(consultation.rule, attendees, votes, topic.id) for topic in consultation.topics)
    adopted = sum(1 for r in results if r.adopted)
    to = "decided" if adopted else "no_consensus"
    reason = f"{adopted}项议题通过,{len(results) - adopted}项议题转入继续协商"
    return LIFECYCLE.move(consultation, to, actor, now, reason, decision=to, results=results)


def declare_no_consensus(
    consultation: Consultation, principal: Principal, now: datetime, reason: str
) -> tuple[Consultation, Transition]:
    """End the session without a decision instead of forcing a vote: every topic goes to a further
    consultation. Needs no quorum, since nothing is decided."""
    actor = _organiser(consultation, principal)
    LIFECYCLE.require(consultation.status, "no_consensus")
    reason = plain_text("reason", "未达成共识的说明", reason, MAX_REASON)
    return LIFECYCLE.move(consultation, "no_consensus", actor, now, reason, decision="no_consensus", results=())


# -- the outcome (反馈协商结果) -----------------------------------------------------------------------


def serves(organisation: Organisation, consultation: Consultation) -> bool:
    """Whether a registered organisation may carry out a consultation's resolution: an active one
    whose scope contains the consultation's division (a district's department for a community's
    consultation) or lies inside it (a community's property company for its street's)."""
    return serves_division(organisation, consultation.scope)


def responsible_organisation(
    consultation: Consultation, organisation_id: str | None, organisations: Mapping[str, Organisation]
) -> Organisation:
    """The organisation a resolution names, from the replica (``organisations``, by id): refused
    unless registered, active and serving the consultation's division."""
    organisation = organisations.get(organisation_id) if isinstance(organisation_id, str) else None
    if organisation is None or not serves(organisation, consultation):
        raise Invalid("责任单位未登记或不在本辖区", field="resolutions", organisation_id=organisation_id)
    return organisation


def _resolution(
    consultation: Consultation, item: Resolution, today: date, organisations: Mapping[str, Organisation]
) -> Resolution:
    if item.topic_id not in consultation.adopted_topic_ids:
        raise Invalid("决议只能针对本次通过的议题", field="resolutions", topic_id=item.topic_id)
    if not isinstance(item.deadline, date) or isinstance(item.deadline, datetime):
        raise Invalid("办理期限必须是日期", field="resolutions")
    if item.deadline < today:
        raise Invalid("办理期限不能早于今天", field="resolutions")
    _planned("resolutions", "办理期限", item.deadline, today)
    organisation = responsible_organisation(consultation, item.organisation_id, organisations)
    return replace(
        item,
        responsible_party=organisation.name,  # the registry's name, whatever the request said
        agreed=plain_text("resolutions", "决议内容", item.agreed, MAX_AGREED, multiline=True),
    )


def _owed(
    consultation: Consultation,
    resolutions: Sequence[Resolution],
    explanation: str | None,
    today: date,
    organisations: Mapping[str, Organisation],
) -> tuple[Resolution, ...]:
    """What the outcome of a decided (or not) consultation owes, checked: for no consensus, an
    explanation and no resolution; for a decision, a resolution (a registered organisation of the
    division, a deadline from today, what was agreed) for each adopted topic and none for
    another, and an explanation when anyone dissented. Returns the resolutions as stored."""
    if consultation.status == "no_consensus":
        if resolutions:
            raise Invalid("未达成共识的协商不能形成决议", field="resolutions")
        if explanation is None:
            raise Invalid("未达成共识时须说明原因和后续安排", field="explanation")
        return ()
    checked = tuple(_resolution(consultation, item, today, organisations) for item in resolutions)
    adopted = set(consultation.adopted_topic_ids)
    lacking = [t.id for t in consultation.topics if t.id in adopted and all(r.topic_id != t.id for r in checked)]
    if lacking:
        raise Invalid("每个通过的议题至少需要一项决议", field="resolutions", topic_ids=lacking)
    if explanation is None and any(r.dissent for r in consultation.results):
        raise Invalid("有不同意见时须向持不同意见者作出说明", field="explanation")
    return checked


def publish_outcome(
    consultation: Consultation,
    principal: Principal,
    now: datetime,
    *,
    minutes: str,
    resolutions: Sequence[Resolution] = (),
    explanation: str | None = None,
    organisations: Mapping[str, Organisation] | None = None,
) -> tuple[Consultation, Transition]:
    """Make the outcome public: minutes, and either a resolution for each adopted topic or, for no
    consensus, an explanation. When anyone dissented, the explanation answers them too.
    ``organisations``: the registered organisations the resolutions name (the replica's, by id)."""
    actor = _organiser(consultation, principal)
    LIFECYCLE.require(consultation.status, "outcome_published")
    minutes = plain_text("minutes", "会议纪要", minutes, MAX_MINUTES, multiline=True)
    explanation = _optional_text("explanation", "说明", explanation, MAX_MINUTES, multiline=True)
    checked = _owed(consultation, resolutions, explanation, now.date(), organisations or {})
    return LIFECYCLE.move(
        consultation,
        "outcome_published",
        actor,
        now,
        "公开协商结果",
        minutes=minutes,
        explanation=explanation,
        resolutions=checked,
        published_at=now,
    )


# -- recorded afterwards (补录) ------------------------------------------------------------------------


def _years_later(moment: datetime | date, years: int) -> datetime | date:
    """``moment`` ``years`` later (earlier when negative); 29 February becomes the 28th."""
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:
        return moment.replace(year=moment.year + years, day=28)


def _planned(field_name: str, label: str, value: datetime | date, now: datetime | date) -> None:
    """Refuse a start or deadline more than ``PLANNED_WITHIN_YEARS`` ahead: a typo, not a plan."""
    if value > _years_later(now, PLANNED_WITHIN_YEARS):
        raise Invalid(f"{label}不能晚于{PLANNED_WITHIN_YEARS}年之后", field=field_name)


def _held_at(held_at: datetime, now: datetime) -> datetime:
    _moment("held_at", "举行时间", held_at)
    if held_at > now:
        raise Invalid("补录的协商须已经举行,举行时间不能晚于当前时间", field="held_at")
    earliest = _years_later(now, -RECORDED_WITHIN_YEARS)
    if held_at < earliest:
        raise Invalid(f"只能补录{RECORDED_WITHIN_YEARS}年内举行的协商", field="held_at", earliest=earliest.isoformat())
    return held_at


def _attendance(attendance: Mapping[str, int]) -> tuple[tuple[str, int], ...]:
    """Attendees by category (``ATTENDANCE_CATEGORIES``), categories with none left out; at least one."""
    if not isinstance(attendance, Mapping):
        raise Invalid("参会人数须按参会人类别填写", field="attendance")
    counted = []
    for category, count in attendance.items():
        if category not in ATTENDANCE_CATEGORIES:
            raise Invalid("未知的参会人类别", field="attendance", allowed=list(ATTENDANCE_CATEGORIES))
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_ATTENDEES:
            raise Invalid(f"参会人数须为0到{MAX_ATTENDEES}之间的整数", field="attendance", category=category)
        if count:
            counted.append((category, count))
    if not counted:
        raise Invalid("补录的协商须有参会人员,人数合计须大于0", field="attendance")
    return tuple(sorted(counted))


def _recorded_agenda(
    consultation: Consultation,
    principal: Principal,
    now: datetime,
    topics: Sequence[RecordedTopic],
    accepted: Mapping[str, AcceptedProposal],
) -> tuple[Consultation, tuple[TopicResult, ...]]:
    """The topics put on the agenda by the rules of a live consultation's (``add_requested_topic``,
    on the draft being recorded), and their results: adopted or not, no votes counted."""
    if isinstance(topics, str | bytes) or not topics:
        raise Invalid("补录的协商至少需要一个议题", field="topics")
    for topic in topics:
        consultation = add_requested_topic(
            consultation,
            principal,
            now,
            title=topic.title,
            origin=topic.origin,
            proposal_id=topic.proposal_id,
            accepted=accepted.get(topic.proposal_id) if topic.proposal_id else None,
        )
    decided = consultation.decision == "decided"
    adopted = [decided if t.adopted is None else t.adopted for t in topics]
    if decided and not any(adopted):
        raise Invalid("已形成决定的协商至少须有一个议题通过", field="topics")
    if not decided and any(adopted):
        raise Invalid("未达成共识的协商不能有通过的议题", field="topics")
    results = tuple(TopicResult(t.id, a, 0, 0, 0, 0) for t, a in zip(consultation.topics, adopted, strict=True))
    return consultation, results


def _recorded_resolutions(topics: Sequence[Topic], resolutions: Sequence[RecordedResolution]) -> tuple[Resolution, ...]:
    out = []
    for item in resolutions:
        index = item.topic_index
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(topics):
            raise Invalid("决议的议题序号不在议题列表中", field="resolutions", topic_index=index)
        out.append(Resolution(topics[index].id, "", item.deadline, item.agreed, item.organisation_id))
    return tuple(out)


def not_recorded_twice(consultation: Consultation, same: Consultation | None) -> None:
    """A consultation is recorded afterwards once: ``same`` is the one already recorded in its
    division with its title and time, if any (a form sent twice, a CSV imported again)."""
    if same is not None and same.id != consultation.id:
        raise Conflict("该协商已经补录(同一社区或街道、名称和举行时间)", consultation_id=same.id)


def record_afterwards(
    *,
    principal: Principal,
    division: Division | None,
    division_code: str,
    now: datetime,
    title: str,
    form: str,
    mode: str,
    held_at: datetime,
    venue: str | None,
    topics: Sequence[RecordedTopic],
    attendance: Mapping[str, int],
    decision: str,
    minutes_url: str,
    method: str = "consensus",
    resolutions: Sequence[RecordedResolution] | None = (),
    explanation: str | None = None,
    accepted: Mapping[str, AcceptedProposal] | None = None,
    organisations: Mapping[str, Organisation] | None = None,
) -> tuple[Consultation, tuple[Transition, Transition]]:
    """A consultation held offline, recorded afterwards (补录) by an organiser of its division: it
    is stored with its outcome published, flagged ``recorded_afterwards``, and audited as created
    at its decision and then published, both lines with the reason ``RECORDED``.

    ``held_at``: in the past, at most ``RECORDED_WITHIN_YEARS`` years ago; ``attendance``:
    attendees by category (more than none); ``topics``: as a live consultation's agenda takes them
    (``accepted``: the proposals they name, from the replica); ``decision``: decided (some topic
    adopted) or no_consensus (none); ``minutes_url``: a link to the minutes. The outcome owes what
    a live one owes (``_owed``; ``organisations``: those the resolutions name, by id), except
    with ``resolutions=None`` (a CSV row): its details are in the minutes, neither resolutions nor
    an explanation are then asked for. Whether it was recorded already is ``not_recorded_twice``."""
    actor = require_organiser(principal)
    code = _organised_division(principal, division, division_code)
    _choice("form", "协商形式", form, FORMS)
    _choice("mode", "协商方式", mode, MODES)
    if form == "online" and mode == "offline":
        raise Invalid("线上协商不能只在线下进行", field="mode")
    _choice("decision", "协商结果", decision, DECISIONS)
    venue = _optional_text("venue", "地点", venue, 200)
    if mode in {"offline", "hybrid"} and venue is None:
        raise Invalid("线下协商须填写地点", field="venue")
    consultation = Consultation(
        id=str(uuid.uuid4()),
        division_code=code,
        title=plain_text("title", "协商名称", title, MAX_TITLE),
        form=form,
        mode=mode,
        organiser_id=principal.subject,
        starts_at=_held_at(held_at, now),
        rule=decision_rule(method),
        status="draft",  # while its agenda is checked as a draft's
        created_at=now,
        updated_at=now,
        venue=venue,
        decision=decision,
        recorded_afterwards=True,
        attendance=_attendance(attendance),
        minutes_url=http_link("minutes_url", "会议纪要链接", minutes_url),
    )
    consultation, results = _recorded_agenda(consultation, principal, now, topics, accepted or {})
    consultation = replace(consultation, status=decision, results=results)
    explanation = _optional_text("explanation", "说明", explanation, MAX_MINUTES, multiline=True)
    if resolutions is None:
        checked: tuple[Resolution, ...] = ()
    else:
        agreed = _recorded_resolutions(consultation.topics, resolutions)
        checked = _owed(consultation, agreed, explanation, now.date(), organisations or {})
    created = LIFECYCLE.created(consultation, actor, now, RECORDED)
    published, transition = LIFECYCLE.move(
        consultation,
        "outcome_published",
        actor,
        now,
        RECORDED,
        explanation=explanation,
        resolutions=checked,
        published_at=now,
    )
    return published, (created, transition)


def close(
    consultation: Consultation, principal: Principal, now: datetime, reason: str | None = None
) -> tuple[Consultation, Transition]:
    actor = _organiser(consultation, principal)
    LIFECYCLE.require(consultation.status, "closed")
    reason = _optional_text("reason", "说明", reason, MAX_REASON) or "协商结束"
    return LIFECYCLE.move(consultation, "closed", actor, now, reason)


def outcome_payload(consultation: Consultation) -> dict:
    """The payload of ``meetings.outcome.published``: ids, decisions and resolutions, no names."""
    LIFECYCLE.require_in(consultation.status, {"outcome_published", "closed"}, "发布协商结果")
    results = {r.topic_id: r for r in consultation.results}
    by_topic = {t.id: t for t in consultation.topics}
    topics = []
    for topic in consultation.topics:
        result = results.get(topic.id)
        topics.append(
            {
                "topic_id": topic.id,
                "title": topic.title,
                "origin": topic.origin,
                "proposal_id": topic.proposal_id,
                "adopted": bool(result and result.adopted),
                "support": result.support if result else 0,
                "oppose": result.oppose if result else 0,
                "abstain": result.abstain if result else 0,
                "block": result.block if result else 0,
                "dissent_reasons": [reason for _, reason in result.dissent if reason] if result else [],
            }
        )
    return {
        "consultation_id": consultation.id,
        "community_code": consultation.division_code,
        "proposal_ids": list(consultation.proposal_ids),
        "decision": consultation.decision,
        "method": consultation.rule.method,
        "published_at": consultation.published_at.isoformat() if consultation.published_at else None,
        "explanation": consultation.explanation,
        "recorded_afterwards": consultation.recorded_afterwards,
        "topics": topics,
        "resolutions": [
            {
                "resolution_id": r.id,
                "topic_id": r.topic_id,
                "proposal_id": by_topic[r.topic_id].proposal_id if r.topic_id in by_topic else None,
                "organisation_id": r.organisation_id,
                "responsible_party": r.responsible_party,
                "deadline": r.deadline.isoformat(),
                "agreed": r.agreed,
            }
            for r in consultation.resolutions
        ],
    }


# -- quality -----------------------------------------------------------------------------------------


def _counted(values: Sequence[str | None], counts: Iterable[str]) -> tuple[int, int]:
    """(how many declared a value, how many of those declared one of ``counts``)."""
    declared = [v for v in values if v is not None]
    wanted = set(counts)
    return len(declared), sum(1 for v in declared if v in wanted)


def _share(values: Sequence[str | None], counts: Iterable[str]) -> Fraction | None:
    declared, counted = _counted(values, counts)
    return Fraction(counted, declared) if declared else None


def attendees(consultation: Consultation, participants: Iterable[Participant]) -> int:
    """How many attended: those who signed in or joined; for one recorded afterwards, its count."""
    if consultation.recorded_afterwards:
        return sum(count for _, count in consultation.attendance)
    return sum(1 for p in participants if p.attended)


def participation_mix(consultation: Consultation, participants: Iterable[Participant]) -> ParticipationMix:
    """The mix ``meetings.consultation.held`` tells, in counts: for a live consultation, from the
    attendees' declared profiles (the counts the quality figures' shares are made of) and their
    categories; for one recorded afterwards, from its attendance by category (no profile known: 0)."""
    if consultation.recorded_afterwards:
        return ParticipationMix(social_organisations=dict(consultation.attendance).get("social_organisation", 0))
    present = [p for p in participants if p.attended]
    profiles = [p.profile or Profile() for p in present]
    declared_age, under_45 = _counted([p.age_band for p in profiles], UNDER_45)
    declared_occupation, not_retired = _counted([p.occupation for p in profiles], NOT_RETIRED)
    social = sum(1 for p in present if p.category == "social_organisation")
    return ParticipationMix(declared_age, under_45, declared_occupation, not_retired, social)


def quality(
    consultation: Consultation,
    participants: Sequence[Participant],
    opinions: Iterable[Opinion],
    rounds: Sequence[Round],
    votes: Iterable[Vote],
) -> QualityFigures:
    """The figures of one consultation; none of them names or singles out a person. One recorded
    afterwards counts its attendance by category (no profile, no invitation known) and is not
    flagged for a meeting held instead of deliberation: how it deliberated is off the record."""
    present = [p for p in participants if p.attended]
    profiles = [p.profile or Profile() for p in present]
    occupations = [p.occupation for p in profiles]
    share_not_retired = _share(occupations, NOT_RETIRED)
    share_under_45 = _share([p.age_band for p in profiles], UNDER_45)
    recorded = dict(consultation.attendance)
    if consultation.recorded_afterwards:
        categories = tuple(sorted(c for c in recorded if c != UNSPECIFIED))
    else:
        categories = tuple(sorted({p.category for p in present}))
    visible = sum(1 for o in opinions if not o.hidden)
    summarised = sum(1 for r in rounds if r.summary)
    flags = []
    reached_decision = consultation.status in AFTER_DECISION and consultation.decision is not None
    deliberated_off_record = consultation.recorded_afterwards
    if reached_decision and visible == 0 and summarised == 0 and not deliberated_off_record:
        flags.append("meeting_instead_of_deliberation")
    held = consultation.status == "in_session" or reached_decision
    too_few_categories = len(categories) < NARROW_MIX_CATEGORIES and UNSPECIFIED not in recorded
    too_retired = share_not_retired is not None and share_not_retired < NARROW_MIX_NOT_RETIRED
    if held and (too_few_categories or too_retired):
        flags.append("narrow_mix")
    return QualityFigures(
        consultation_id=consultation.id,
        method=consultation.rule.method,
        mode=consultation.mode,
        invited=len(participants),
        attendees=attendees(consultation, participants),
        attendance=Fraction(len(present), len(participants)) if participants else None,
        online_attendees=sum(1 for p in present if p.attended_via == "online"),
        share_not_retired=share_not_retired,
        share_under_45=share_under_45,
        categories=categories,
        stakeholder_types=tuple(sorted({p.stakeholder_type for p in profiles if p.stakeholder_type})),
        opinions=visible,
        rounds=len(rounds),
        summarised_rounds=summarised,
        dissent=sum(1 for v in votes if v.choice in OBJECTIONS),
        flags=tuple(flags),
    )
