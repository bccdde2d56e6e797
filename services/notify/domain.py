"""Notify's rules, pure (no Flask, no SQL): the Chinese text of every message, how event facts
are shown in it and the public board's link that ends some SMS; the contact directory's entries
and preferences; whom a message goes to (accounts or a group of contacts) and who takes what; the
ids of the messages notify raises from its own clock.

Every template declares its variables when it is defined: a template whose text names a variable it
does not declare, or declares one its text does not use, fails at import. ``render`` refuses a
missing or an unknown variable, so a message is never sent half-filled, and shows the free text
(``FREE_TEXT``: titles, reasons, places) without personal numbers or e-mail addresses.

The routing table (``routing.py``) and the SMS text rules (``sms.py``) are domain modules too.
"""

from __future__ import annotations

import dataclasses
import string
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from typing import NamedTuple

from shared.clock import BEIJING
from shared.principal import Principal
from shared.redaction import redact
from shared.vocabulary import CONSULTATION_FORMS, CONTACT_KINDS

# How the recipient relates to the proposal a message is about ({relation} in the templates).
SUBMITTER = "提交"
SUPPORTER = "附议"

# The consultation forms of the 2015 procedure (meetings' vocabulary, shown to participants).
FORMS = CONSULTATION_FORMS


class TemplateError(ValueError):
    """A template and its variables disagree."""


@dataclass(frozen=True)
class Template:
    text: str
    variables: frozenset[str]

    def render(self, variables: dict[str, str]) -> str:
        given = set(variables)
        if given != self.variables:
            missing, unknown = sorted(self.variables - given), sorted(given - self.variables)
            raise TemplateError(f"模板变量不符:缺少{'、'.join(missing) or '无'},多余{'、'.join(unknown) or '无'}")
        return self.text.format(**shown(variables))


def template(text: str, *variables: str) -> Template:
    """Define a template; its text must use exactly the declared variables, by name."""
    used = set()
    for _literal, field, spec, conversion in string.Formatter().parse(text):
        if field is None:
            continue
        if not field.isidentifier() or spec or conversion:
            raise TemplateError(f"{text!r}: only plain named variables are allowed, not {{{field}}}")
        used.add(field)
    if used != set(variables):
        raise TemplateError(f"{text!r} uses {sorted(used)} but declares {sorted(variables)}")
    return Template(text, frozenset(variables))


TEMPLATES: dict[str, Template] = {
    # -- a proposal's steps, to its submitter ({relation}=提交) and co-signers ({relation}=附议) --
    "proposal_received": template("您提交的建议“{title}”已收到,社区将尽快处理。", "title"),
    "proposal_accepted": template("您{relation}的建议“{title}”已被列为协商议题。", "relation", "title"),
    "proposal_rejected": template("您{relation}的建议“{title}”未被采纳,原因:{reason}", "relation", "title", "reason"),
    "proposal_merged": template(
        "您{relation}的建议“{title}”已并入建议“{into_title}”一并办理,您的附议随之转入。",
        "relation",
        "title",
        "into_title",
    ),
    "proposal_referred": template("您{relation}的建议“{title}”已转交有关部门办理。", "relation", "title"),
    "proposal_scheduled": template(
        "您{relation}的建议“{title}”已安排协商,时间:{starts_at}", "relation", "title", "starts_at"
    ),
    "proposal_decided": template("您{relation}的建议“{title}”已经协商形成决定,将由责任方落实。", "relation", "title"),
    # The ask to rate is the rating request's (rating_requested, to the raters): this is a plain notice.
    "proposal_resolved": template("您{relation}的建议“{title}”已办结。", "relation", "title"),
    "proposal_extended": template(
        "您{relation}的建议“{title}”的办结时限经批准延长至{due_at}。", "relation", "title", "due_at"
    ),
    "proposal_extension_refused": template(
        "您{relation}的建议“{title}”的延期申请未获批准,仍应于{due_at}前办结。", "relation", "title", "due_at"
    ),
    "proposal_reopened": template(
        "您{relation}的建议“{title}”将重新办理,原因:{reason};新的办结时限:{due_at}。",
        "relation",
        "title",
        "reason",
        "due_at",
    ),
    # -- the people concerned by a completed task (its raters), asked to rate it ---------------------
    "rating_requested": template(
        "您关注的“{title}”已办结,请在{closes_at}前评价:满意、基本满意或不满意。", "title", "closes_at"
    ),
    # -- a consultation's notices, to everyone invited ------------------------------------------------
    "consultation_announced": template(
        "您受邀参加“{title}”({form_name}),时间:{starts_at},地点:{place}。",
        "title",
        "form_name",
        "starts_at",
        "place",
    ),
    "consultation_postponed": template("“{title}”已延期至{starts_at},原因:{reason}", "title", "starts_at", "reason"),
    "consultation_cancelled": template("“{title}”已取消,原因:{reason}", "title", "reason"),
    "consultation_relocated": template(
        "“{title}”地点变更为{place},时间不变({starts_at}),原因:{reason}", "title", "place", "starts_at", "reason"
    ),
    "consultation_reminder": template(
        "提醒:您受邀参加的“{title}”将于{starts_at}开始,地点:{place}。", "title", "starts_at", "place"
    ),
    # -- a community's notices, to every subscriber of the community ---------------------------------
    "community_announced": template(
        "本社区将于{starts_at}召开“{title}”({form_name}),地点:{place},欢迎关注参与。",
        "title",
        "form_name",
        "starts_at",
        "place",
    ),
    "community_postponed": template("本社区“{title}”已延期至{starts_at},原因:{reason}", "title", "starts_at", "reason"),
    "community_relocated": template(
        "本社区“{title}”地点变更为{place},时间不变({starts_at}),原因:{reason}", "title", "place", "starts_at", "reason"
    ),
    "community_cancelled": template("本社区“{title}”已取消,原因:{reason}", "title", "reason"),
    "community_notice": template("社区通知:{content}", "content"),
    "community_outcome": template("本社区“{title}”的协商结果已公布:{decision}。详见社区公示栏。", "title", "decision"),
    # -- a task's steps, to the contacts of the responsible department -------------------------------
    "task_assigned": template("请办理协商成果“{title}”,办结时限:{due_at}。", "title", "due_at"),
    "task_reminded": template("催办:协商成果“{title}”应于{due_at}前办结,请抓紧办理。", "title", "due_at"),
    "task_escalated": template("督办:协商成果“{title}”已列入督办,原因:{reason},请立即办理并反馈。", "title", "reason"),
    "task_circulated": template(  # 通报 (level 2, the district)
        "通报:协商成果“{title}”已予通报,原因:{reason},请立即办理并反馈。", "title", "reason"
    ),
    "task_extended": template("延期申请已批准:协商成果“{title}”的办结时限延长至{due_at}。", "title", "due_at"),
    "task_extension_refused": template(
        "延期申请未获批准:协商成果“{title}”仍应于{due_at}前办结,请抓紧办理。", "title", "due_at"
    ),
    "task_reopened": template(
        "协商成果“{title}”已退回重新办理,原因:{reason};新的办结时限:{due_at},请办理并反馈。",
        "title",
        "reason",
        "due_at",
    ),
    # -- answers to residents' SMS (services/notify/replies.py), to the number that wrote -------------
    "reply_help": template(
        "未能识别。请按短信提示回复(如1、Y、N,可加编号“1 K472”);回复“查询编号”查进度;发文字可反映事项;TD退订"
    ),
    "reply_register": template(
        "您好,此号码尚未登记为社区居民联系人。请到所在社区居委会登记手机号,即可用短信参与社区协商。"
    ),
    "reply_status": template(
        "您的事项“{title}”(编号{code}):{status}。{next_step}", "title", "code", "status", "next_step"
    ),
    # -- to operators --------------------------------------------------------------------------------
    "operations_dead_letters": template(
        "运维提醒:{service}服务有{count}条事件处理失败,已转入死信队列,请查看并重放。", "service", "count"
    ),
}

# Time-critical notices go out in quiet hours too; everything else waits until morning. An answer to
# a resident's SMS goes at once: they just wrote.
URGENT = frozenset({"consultation_postponed", "consultation_relocated", "consultation_cancelled", "reply_help",
                    "reply_register", "reply_status"})  # fmt: skip
# Free-text variables an SMS may shorten (with an ellipsis) to stay within its parts.
SHORTENABLE = ("title", "into_title", "reason", "place")
# What residents and officials typed, as a message shows it: a title, a reason, a place. Every
# rendering (inbox text, SMS) hides the personal numbers and e-mail addresses in them
# (``shared.redaction``: ``请联系13812345678张三`` becomes ``请联系[已隐去]张三``). A community
# notice's ``content`` is not among them: an official's own text, previewed as it will be sent,
# which may well give the community office's telephone.
FREE_TEXT = frozenset({"title", "into_title", "reason", "place"})
OUTCOME_DECISIONS = {"decided": "已形成协商决定", "no_consensus": "未能达成一致,已说明理由"}
# Whose SMS end with the link to the community's public board (居务公开) when
# XIESHANG_PUBLIC_URL is set (``board_link``, ``linked``); the app messages carry no link.
BOARD_LINKED = frozenset({"community_outcome", "rating_requested"})
BOARD = "详见社区公示栏"


# A matter's status as notify's replica keeps it (``proposal_audience.status``) and an SMS 查询 tells
# it: its name and what comes next.
MATTER_STATUS = {
    "submitted": ("已提交", "社区两委将研究是否列为协商议题"),
    "eligible": ("附议已达标", "社区两委将研究是否列为协商议题"),
    "accepted": ("已列为协商议题", "社区将安排协商"),
    "scheduled": ("已安排协商", "请留意协商通知"),
    "decided": ("已形成协商决定", "责任方将落实"),
    "referred": ("已转交有关部门", "部门将办理"),
    "in_progress": ("办理中", "办结后将请您评价"),
    "resolved": ("已办结", "请留意评价短信"),
    "closed": ("已办结并关闭", "感谢您的参与"),
    "rejected": ("未被采纳", "原因已另行告知"),
    "merged": ("已并入同类事项", "将随该事项一并办理"),
}

# A person known only by a contact of the directory (no app account): their id in the other
# services (invitations, co-signatures, ratings) is ``contact:<contact id>``.
CONTACT_PERSON = "contact:"


def person_of(contact) -> str:
    """The id other services know the person of a contact by: its account, else ``contact:<id>``."""
    return contact.app_user_id or f"{CONTACT_PERSON}{contact.id}"


def contact_of_person(person_id: str) -> str | None:
    """The contact id a ``contact:<id>`` person stands for; None for an account."""
    return person_id.removeprefix(CONTACT_PERSON) if person_id.startswith(CONTACT_PERSON) else None


def category(template_name: str) -> str:
    """Opt-outs are per category: the part of a template's name before the first underscore."""
    return template_name.split("_", 1)[0]


def render(template_name: str, **variables: str) -> str:
    return TEMPLATES[template_name].render(variables)


def shown(variables: dict[str, str]) -> dict[str, str]:
    """The variables as a message shows them: the free text (``FREE_TEXT``) redacted."""
    return {name: redact(value) if name in FREE_TEXT else value for name, value in variables.items()}


def local_time(value: str | datetime) -> str:
    """An event's aware timestamp as residents read it: Beijing time, e.g. 12月1日 09:00."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        raise ValueError("event times are aware")
    moment = moment.astimezone(BEIJING)
    return f"{moment.month}月{moment.day}日 {moment:%H:%M}"


def local_day(value: str | datetime) -> str:
    """A deadline as residents read it: its Beijing day, e.g. 12月8日; a deadline at midnight is
    the end of the day before (tracking's due times are the end of the deadline day)."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        raise ValueError("event times are aware")
    moment = moment.astimezone(BEIJING)
    if moment.time() == time(0):
        moment -= timedelta(days=1)
    return f"{moment.month}月{moment.day}日"


def board_link(public_url: str | None, community_code: str | None) -> str | None:
    """The community's public board as residents reach it through the gateway, or None (no public
    URL set, or a message of no community)."""
    if not public_url or not community_code:
        return None
    return f"{public_url.rstrip('/')}/public/{community_code}"


def linked(body: str, link: str | None) -> str:
    """A board-linked text with its link: it ends 详见社区公示栏:<link> (an outcome notice's
    closing 详见社区公示栏。 becomes that ending); without a link, the text as it is."""
    if not link:
        return body
    return f"{body.removesuffix(BOARD + '。')}{BOARD}:{link}"


def form_name(form: str) -> str:
    return FORMS.get(form, form)


def place(venue: str | None, online_link: str | None) -> str:
    """Where a consultation meets: the venue, the online link, or both for a hybrid one."""
    if venue and online_link:
        return f"{venue}(线上:{online_link})"
    if venue:
        return venue
    if online_link:
        return f"线上:{online_link}"
    return "另行通知"


# -- the contact directory (residents and department contacts) ------------------------------------------
#
# Retention: removing a contact erases its phone ciphertext at once; the row keeps only the keyed
# hash of the number, its community and its opt-outs, so a person who opted out and is added again
# (same number, same community) keeps their opt-outs. A removed contact is no longer listed or served.

# Operators are told of operational trouble (dead letters piling up) in the app.
KINDS = CONTACT_KINDS
CHANNELS = ("sms", "app")
CATEGORIES = tuple(sorted({category(name) for name in TEMPLATES}))
QUIET_START, QUIET_END = "22:00", "07:00"  # Beijing time (BEIJING)
CONTACT_MANAGERS = ("community_worker", "street_admin", "district_admin", "city_operator")


@dataclass(frozen=True)
class Contact:
    id: str
    kind: str
    community_code: str
    department_id: str | None
    app_user_id: str | None
    channels: tuple[str, ...]
    quiet_start: str
    quiet_end: str
    opt_outs: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    removed_at: datetime | None = None


def contact_errors(kind: str, department_id: str | None) -> list[str]:
    """What is wrong with a contact's kind and department (Chinese), empty when nothing is."""
    if kind == "department_contact" and not department_id:
        return ["部门联系人须填写部门(department_id)"]
    if kind != "department_contact" and department_id:
        return ["只有部门联系人可以填写部门(department_id)"]
    return []


def new_contact(
    *,
    kind: str,
    community_code: str,
    department_id: str | None,
    app_user_id: str | None,
    channels: list[str] | tuple[str, ...] | None,
    quiet_start: str | None,
    quiet_end: str | None,
    opt_outs: list[str] | tuple[str, ...] | None,
    remembered_opt_outs: tuple[str, ...] = (),
    now: datetime,
) -> Contact:
    """A new contact; ``remembered_opt_outs`` are those of a removed contact with the same number."""
    return Contact(
        id=str(uuid.uuid4()),
        kind=kind,
        community_code=community_code,
        department_id=department_id or None,
        app_user_id=app_user_id or None,
        channels=_ordered(channels if channels is not None else CHANNELS, CHANNELS),
        quiet_start=quiet_start or QUIET_START,
        quiet_end=quiet_end or QUIET_END,
        opt_outs=_ordered({*(opt_outs or ()), *remembered_opt_outs}, CATEGORIES),
        created_at=now,
        updated_at=now,
    )


def change_preferences(contact: Contact, changes: dict, now: datetime) -> Contact:
    """Channels, quiet hours, opt-outs (the keys present in ``changes``)."""
    values = {}
    if "channels" in changes:
        values["channels"] = _ordered(changes["channels"], CHANNELS)
    if "opt_outs" in changes:
        values["opt_outs"] = _ordered(changes["opt_outs"], CATEGORIES)
    for key in ("quiet_start", "quiet_end", "department_id", "app_user_id"):
        if key in changes:
            values[key] = changes[key]
    return replace(contact, **values, updated_at=now)


def visible_to(principal: Principal, contact: Contact) -> bool:
    """Who sees and changes a contact: the managers whose scope covers its community (``/me``: the
    resident whose account it is)."""
    return principal.covers(contact.community_code)


@dataclass(frozen=True)
class ImportRow:
    """A line of a contacts CSV: its ContactIn input (``data``), or why it could not be read."""

    line: int
    data: dict | None
    errors: list[str] = dataclasses.field(default_factory=list)


def wants(contact, channel: str, category: str) -> bool:
    """Whether a contact entry (anything with ``channels`` and ``opt_outs``) takes messages of a
    category on a channel; without an entry a person is told in the app only."""
    if contact is None:
        return channel == "app"
    return channel in contact.channels and category not in contact.opt_outs


def _ordered(values, order: tuple[str, ...]) -> tuple[str, ...]:
    given = set(values)
    return tuple(v for v in order if v in given)


# -- whom a message goes to ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    """An account: told in the app by its id, and by SMS through the contact whose ``app_user_id`` it
    is (without a contact entry, in the app only); ``variables`` say what the message says about them."""

    user_id: str
    variables: dict[str, str]


@dataclass(frozen=True)
class ContactGroup:
    """Every live contact of a kind, of one community or one department where given, all told the
    same (a community's subscribers, a department's contacts, the operators)."""

    kind: str
    variables: dict[str, str]
    community_code: str | None = None
    department_id: str | None = None


class ContactEntry(NamedTuple):
    """What delivery needs of a live contact: channels, opt-outs, quiet hours, and whether its number
    replied 退订 (``stopped``)."""

    id: str
    app_user_id: str | None
    channels: list[str]
    opt_outs: list[str]
    quiet_start: str
    quiet_end: str
    stopped: bool


# -- messages raised by notify's own clock, each under an id of its own so it is written once ---------

# Namespaces of the reminders' and alerts' message ids (uuid5).
REMINDER_IDS = uuid.uuid5(uuid.NAMESPACE_URL, "urn:xieshang:notify:consultation_reminder")
ALERT_IDS = uuid.uuid5(uuid.NAMESPACE_URL, "urn:xieshang:notify:operations_dead_letters")
REPLY_IDS = uuid.uuid5(uuid.NAMESPACE_URL, "urn:xieshang:notify:replies")
UNANNOUNCED_PLACE = "另行通知"


def reminder_id(consultation_id: str, starts_at: datetime) -> str:
    """The reminder's message id: the same for the same consultation and start, new after a postponement."""
    return str(uuid.uuid5(REMINDER_IDS, f"{consultation_id}/{starts_at.astimezone(UTC).isoformat()}"))


def alert_id(service: str, now: datetime) -> str:
    """The dead-letter alert's message id: one per service and UTC hour."""
    return str(uuid.uuid5(ALERT_IDS, f"{service}/{now.astimezone(UTC):%Y-%m-%dT%H}"))


def beijing_day(now: datetime) -> str:
    return f"{now.astimezone(BEIJING):%Y-%m-%d}"


def reply_message_id(what: str, *parts: str) -> str:
    """The id of an answer to a resident's SMS (help, how to register, a status), one per ``parts``:
    the help of a number and day is written once, however often it writes garbled."""
    return str(uuid.uuid5(REPLY_IDS, "/".join((what, *parts))))


def question_id(event_id: str, template_name: str) -> str:
    """The question an event's route asks: the same for the same event, so a redelivery asks nothing new."""
    return str(uuid.uuid5(REPLY_IDS, f"question/{event_id}/{template_name}"))


def piled_up(counts: dict[str, int], threshold: int) -> dict[str, int]:
    """The dead-letter queues operators are told of: those holding at least ``threshold``, by service."""
    return {service: count for service, count in sorted(counts.items()) if count >= threshold}
