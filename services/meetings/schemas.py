"""Meetings' HTTP payloads, and the CSV of consultations recorded afterwards read into rows of
``RecordedRowIn`` input. What people send is checked here for shape (with Chinese messages); the
rules themselves are the domain's."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime
from fractions import Fraction

from marshmallow import Schema, ValidationError, fields, validate

from services.meetings.domain import (
    AGE_BANDS,
    ATTENDANCE_CATEGORIES,
    CATEGORIES,
    CHOICES,
    DECISIONS,
    FORMS,
    MAX_AGREED,
    MAX_ATTENDEES,
    MAX_ID,
    MAX_MATERIALS,
    MAX_MINUTES,
    MAX_OPINION,
    MAX_REASON,
    MAX_SUMMARY,
    MAX_TITLE,
    MAX_TOPICS,
    METHODS,
    MODES,
    OCCUPATIONS,
    ORIGINS,
    STAKEHOLDER_TYPES,
    STANCES,
    STATUSES,
    UNSPECIFIED,
    RecordedRow,
)
from services.meetings.repository import SORTS
from shared.clock import BEIJING
from shared.fields import COMMON, EARLIEST, LATEST, WINDOW, Day, Flag, In, Items, Moment, Text, Whole, length, one_of
from shared.problems import Invalid

# -- meetings' own fields with Chinese messages (the common ones are ``shared.fields``) ---------------


class Obj(fields.Nested):
    default_error_messages = {**COMMON, "type": "必须是对象"}


class Counts(fields.Dict):
    """Counts by a vocabulary's entries, such as attendees by category."""

    default_error_messages = {**COMMON, "invalid": "必须是对象"}


class Ratio(fields.String):
    """A share as an exact fraction: "2/3", "1/2", "1", or a number such as 0.5."""

    default_error_messages = {**COMMON, "invalid": "必须是比例,如 2/3"}

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise self.make_error("invalid")
        try:
            return str(Fraction(str(value).strip()))
        except (ValueError, ZeroDivisionError):
            raise self.make_error("invalid") from None


# -- consultations --------------------------------------------------------------------------------------


class RuleIn(In):
    method = Text(load_default="consensus", validate=one_of(METHODS, "决策方式"))
    threshold = Ratio(load_default=None, allow_none=True, metadata={"description": "特定多数的通过比例,如 2/3"})
    quorum = Ratio(load_default=None, allow_none=True, metadata={"description": "法定人数比例(签到/受邀),默认 1/2"})


class ConsultationIn(In):
    division_code = Text(
        required=True,
        validate=validate.Regexp(r"^\d{9}(\d{3})?$", error="协商范围必须是12位社区代码或9位街道代码"),
    )
    title = Text(required=True, validate=length("协商名称", MAX_TITLE))
    form = Text(required=True, validate=one_of(FORMS, "协商形式"))
    mode = Text(required=True, validate=one_of(MODES, "协商方式"))
    starts_at = Moment(required=True)
    ends_at = Moment(load_default=None, allow_none=True)
    venue = Text(load_default=None, allow_none=True, validate=validate.Length(max=200, error="地点不能超过200个字"))
    online_link = Text(load_default=None, allow_none=True)
    materials = Items(Text(), load_default=list, validate=length("协商材料", MAX_MATERIALS, 0))
    rule = Obj(RuleIn, load_default=None, allow_none=True)
    follows_id = Text(
        load_default=None,
        allow_none=True,
        metadata={"description": "继续协商:接续的协商编号,其未通过的议题成为本次议题"},
    )


class ConsultationPatch(In):
    """Only the details given change (while in draft)."""

    title = Text(validate=length("协商名称", MAX_TITLE))
    form = Text(validate=one_of(FORMS, "协商形式"))
    mode = Text(validate=one_of(MODES, "协商方式"))
    starts_at = Moment()
    ends_at = Moment(allow_none=True)
    venue = Text(allow_none=True, validate=validate.Length(max=200, error="地点不能超过200个字"))
    online_link = Text(allow_none=True)
    materials = Items(Text(), validate=length("协商材料", MAX_MATERIALS, 0))
    rule = Obj(RuleIn)


class TopicOut(Schema):
    id = fields.String()
    title = fields.String()
    origin = fields.String()
    proposal_id = fields.String(allow_none=True)


class RuleOut(Schema):
    method = fields.String()
    threshold = fields.String(allow_none=True)
    quorum = fields.String()


class ResultOut(Schema):
    topic_id = fields.String()
    adopted = fields.Boolean()
    support = fields.Integer()
    oppose = fields.Integer()
    abstain = fields.Integer()
    block = fields.Integer()
    dissent_reasons = fields.List(fields.String(), metadata={"description": "不同意见的理由(不含参与者)"})


class ResolutionOut(Schema):
    id = fields.String()
    topic_id = fields.String()
    organisation_id = fields.String(allow_none=True)
    responsible_party = fields.String(metadata={"description": "责任单位名称(登记的名称)"})
    deadline = fields.Date()
    agreed = fields.String()


class ConsultationOut(Schema):
    id = fields.String()
    division_code = fields.String()
    level = fields.String(metadata={"description": "community or street"})
    title = fields.String()
    form = fields.String()
    mode = fields.String()
    organiser_id = fields.String()
    status = fields.String()
    status_name = fields.String()
    starts_at = fields.DateTime()
    ends_at = fields.DateTime(allow_none=True)
    venue = fields.String(allow_none=True)
    online_link = fields.String(allow_none=True)
    materials = fields.List(fields.String())
    topics = fields.List(fields.Nested(TopicOut))
    rule = fields.Nested(RuleOut)
    announced_at = fields.DateTime(allow_none=True)
    decision = fields.String(allow_none=True)
    results = fields.List(fields.Nested(ResultOut))
    minutes = fields.String(allow_none=True)
    explanation = fields.String(allow_none=True)
    resolutions = fields.List(fields.Nested(ResolutionOut))
    published_at = fields.DateTime(allow_none=True)
    cancel_reason = fields.String(allow_none=True)
    follows_id = fields.String(allow_none=True)
    recorded_afterwards = fields.Boolean(metadata={"description": "线下举行、事后补录"})
    minutes_url = fields.String(allow_none=True, metadata={"description": "补录协商的会议纪要链接"})
    attendance = fields.Dict(
        keys=fields.String(), values=fields.Integer(), metadata={"description": "补录协商的参会人数(按类别)"}
    )
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ConsultationQuery(In):
    division = Text(load_default=None, validate=validate.Regexp(r"^\d{2,12}$", error="区划代码须为2到12位数字"))
    status = Items(Text(validate=one_of(STATUSES, "协商状态")), load_default=None)
    since = Moment(load_default=None, metadata={"description": "开始时间不早于"})
    until = Moment(load_default=None, metadata={"description": "开始时间早于"})
    sort = Text(load_default="-starts_at", validate=one_of(sorted(SORTS), "排序方式"))
    limit = Whole(
        digits=True,
        load_default=20,
        validate=validate.Range(1, 100, error="每页数量须在1到100之间"),
        error_messages={"invalid": "必须是整数"},
    )
    cursor = Text(load_default=None)


class ConsultationPage(Schema):
    items = fields.List(fields.Nested(ConsultationOut))
    next_cursor = fields.String(allow_none=True)


class TopicIn(In):
    title = Text(load_default=None, allow_none=True, validate=length("议题", MAX_TITLE))
    origin = Text(load_default=None, allow_none=True, validate=one_of(ORIGINS, "议题来源"))
    proposal_id = Text(
        load_default=None,
        allow_none=True,
        validate=length("建议编号", MAX_ID),
        metadata={"description": "已列为议题的建议(居民提出);标题和来源取自该建议"},
    )


class ChecklistItem(Schema):
    item = fields.String()
    message = fields.String()


class ChecklistOut(Schema):
    status = fields.String()
    ready = fields.Boolean()
    notice_days = fields.Integer()
    missing = fields.List(fields.Nested(ChecklistItem))


class AttendanceCodeOut(Schema):
    consultation_id = fields.String()
    attendance_code = fields.String()
    sign_in_opens_at = fields.DateTime()


# -- the procedure's steps ------------------------------------------------------------------------------


class PostponeIn(In):
    starts_at = Moment(required=True)
    ends_at = Moment(load_default=None, allow_none=True)
    reason = Text(required=True, validate=length("延期原因", MAX_REASON))


class RelocateIn(In):
    venue = Text(load_default=None, allow_none=True)
    online_link = Text(load_default=None, allow_none=True)
    reason = Text(required=True, validate=length("变更原因", MAX_REASON))


class ReasonIn(In):
    reason = Text(required=True, validate=length("原因", MAX_REASON))


class ResolutionIn(In):
    topic_id = Text(required=True)
    organisation_id = Text(
        required=True, validate=length("责任单位编号", MAX_ID), metadata={"description": "已登记的责任单位(本辖区)"}
    )
    responsible_party = Text(
        load_default=None,
        allow_none=True,
        validate=length("责任单位", MAX_ID, 0),
        metadata={"description": "兼容旧客户端;以登记的单位名称为准"},
    )
    deadline = Day(required=True)
    agreed = Text(required=True, validate=length("决议内容", MAX_AGREED))


class PublishIn(In):
    minutes = Text(required=True, validate=length("会议纪要", MAX_MINUTES))
    resolutions = Items(Obj(ResolutionIn), load_default=list)
    explanation = Text(load_default=None, allow_none=True, validate=length("说明", MAX_MINUTES, 0))


# -- recorded afterwards (补录) ---------------------------------------------------------------------------

DIVISION_CODE = validate.Regexp(r"^\d{9}(\d{3})?$", error="协商范围必须是12位社区代码或9位街道代码")


class RecordedTopicIn(In):
    title = Text(load_default=None, allow_none=True, validate=length("议题", MAX_TITLE))
    origin = Text(load_default=None, allow_none=True, validate=one_of(ORIGINS, "议题来源"))
    proposal_id = Text(
        load_default=None,
        allow_none=True,
        validate=length("建议编号", MAX_ID),
        metadata={"description": "已列为议题的建议(居民提出);标题和来源取自该建议"},
    )
    adopted = Flag(
        load_default=None, allow_none=True, metadata={"description": "是否通过;不填:形成决定时通过,未达成共识时未通过"}
    )


class RecordedResolutionIn(In):
    topic_index = Whole(required=True, metadata={"description": "决议针对的议题在topics中的序号,从0开始"})
    organisation_id = Text(required=True, validate=length("责任单位编号", MAX_ID))
    deadline = Day(required=True)
    agreed = Text(required=True, validate=length("决议内容", MAX_AGREED))


def _attendance(categories) -> Counts:
    return Counts(
        keys=Text(validate=one_of(categories, "参会人类别")),
        values=Whole(validate=validate.Range(0, MAX_ATTENDEES, error="参会人数须在{min}到{max}之间")),
        required=True,
        metadata={"description": "参会人数,按参会人类别,合计须大于0"},
    )


class _Recorded(In):
    """What a consultation recorded afterwards is given with, by JSON or in a CSV row."""

    division_code = Text(required=True, validate=DIVISION_CODE)
    title = Text(required=True, validate=length("协商名称", MAX_TITLE))
    form = Text(required=True, validate=one_of(FORMS, "协商形式"))
    mode = Text(required=True, validate=one_of(MODES, "协商方式"))
    venue = Text(load_default=None, allow_none=True, validate=validate.Length(max=200, error="地点不能超过200个字"))
    topics = Items(
        Obj(RecordedTopicIn), required=True, validate=validate.Length(1, MAX_TOPICS, error=f"议题须为1到{MAX_TOPICS}个")
    )
    decision = Text(required=True, validate=one_of(DECISIONS, "协商结果"))
    method = Text(load_default="consensus", validate=one_of(METHODS, "决策方式"))
    minutes_url = Text(required=True, metadata={"description": "会议纪要(扫描件或文档)的http或https链接"})
    explanation = Text(load_default=None, allow_none=True, validate=length("说明", MAX_MINUTES, 0))


class RecordedIn(_Recorded):
    held_at = Moment(required=True, metadata={"description": "举行时间(已过去,5年以内)"})
    attendance = _attendance(CATEGORIES)
    resolutions = Items(Obj(RecordedResolutionIn), load_default=list)


class RecordedRowOut(Schema):
    line = fields.Integer()
    ok = fields.Boolean()
    consultation_id = fields.String(allow_none=True)
    errors = fields.List(fields.String())


class RecordedImportOut(Schema):
    recorded = fields.Integer()
    rows = fields.List(fields.Nested(RecordedRowOut))


# -- the CSV of consultations recorded afterwards --------------------------------------------------------


class LocalMoment(fields.Field):
    """A time as people write it in a spreadsheet: ISO 8601, with a zone or read as Beijing time
    (2024-05-13 19:00)."""

    default_error_messages = {
        **COMMON,
        "invalid": "必须是时间,如 2024-05-13 19:00 或 2024-05-13T19:00:00+08:00",
        "window": "时间" + WINDOW,
    }

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            moment = datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise self.make_error("invalid") from None
        moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=BEIJING)
        if not EARLIEST <= moment < LATEST:
            raise self.make_error("window")
        return moment


class RecordedRowIn(_Recorded):
    """A CSV row: a time as written in a spreadsheet, attendees by category or as a total."""

    held_at = LocalMoment(required=True)
    attendance = _attendance(ATTENDANCE_CATEGORIES)


MAX_RECORDED_ROWS = 1000
RECORDED_COLUMNS = {
    "division_code": "社区或街道代码",
    "title": "协商名称",
    "form": "协商形式",
    "mode": "协商方式",
    "held_at": "举行时间",
    "venue": "地点",
    "topics": "议题",
    "attendees": "参会人数",
    "decision": "协商结果",
    "minutes_url": "会议纪要链接",
    "explanation": "说明",
    "method": "决策方式",
}
OPTIONAL_RECORDED_COLUMNS = ("venue", "explanation", "method")
# Cells may name a vocabulary's entry by its code or its Chinese name (社区议事会, 党员, 未达成共识…).
_NAMED = {"form": FORMS, "mode": MODES, "decision": DECISIONS, "method": METHODS}


def recorded_rows(text: str) -> list[RecordedRow]:
    """The data rows of a CSV of consultations recorded afterwards (header: ``RECORDED_COLUMNS``,
    ``OPTIONAL_RECORDED_COLUMNS`` may be left out), each read as ``RecordedRowIn`` input or with
    its Chinese reasons (a cell's column named: 举行时间:…). Topics are separated by ``;``;
    attendees are a total (25) or counts by category (党员:5;居民代表:12). A bad header, more than
    ``MAX_RECORDED_ROWS`` rows or none at all is refused (422)."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in RECORDED_COLUMNS if c not in header and c not in OPTIONAL_RECORDED_COLUMNS]
    if missing:
        raise Invalid(f"CSV缺少列:{'、'.join(missing)}", columns=list(RECORDED_COLUMNS))
    unknown = [h for h in header if h not in RECORDED_COLUMNS]
    if unknown:
        raise Invalid(f"CSV含未知列:{'、'.join(unknown)}", columns=list(RECORDED_COLUMNS))
    reader.fieldnames = header
    schema = RecordedRowIn()
    rows: list[RecordedRow] = []
    for row in reader:
        if len(rows) == MAX_RECORDED_ROWS:
            raise Invalid(f"一次最多补录{MAX_RECORDED_ROWS}行")
        if None in row:
            rows.append(RecordedRow(reader.line_num, None, ("列数多于表头",)))
            continue
        cells, unreadable = _recorded_cells(row)
        errors = list(unreadable.values())
        try:
            data = schema.load(cells)
        except ValidationError as exc:
            errors += _messages({k: v for k, v in exc.messages.items() if k not in unreadable})
        rows.append(RecordedRow(reader.line_num, None, tuple(errors)) if errors else RecordedRow(reader.line_num, data))
    if not rows:
        raise Invalid("CSV文件没有数据行")
    return rows


def _code(value: str, vocabulary: dict[str, str]) -> str:
    names = {name: code for code, name in vocabulary.items()}
    return names.get(value, value)


_NUMBER = re.compile(r"[0-9]{1,9}")


def _attendees(cell: str) -> dict | None:
    """25 → {unspecified: 25}; 党员:5;居民代表:12 → {party_member: 5, resident_representative: 12};
    None when the cell is neither."""
    if _NUMBER.fullmatch(cell):
        return {UNSPECIFIED: int(cell)}
    counts = {}
    for part in (p.strip() for p in re.split(r"[;;]", cell) if p.strip()):
        category, colon, count = part.replace(":", ":").partition(":")
        if not (colon and _NUMBER.fullmatch(count.strip())):
            return None
        counts[_code(category.strip(), ATTENDANCE_CATEGORIES)] = int(count)
    return counts or None


def _recorded_cells(row: dict) -> tuple[dict, dict[str, str]]:
    """A CSV row as RecordedRowIn input (empty cells left out, topics split, attendees counted)
    and, by field, why a cell could not be read at all."""
    data, unreadable = {}, {}
    for column in RECORDED_COLUMNS:
        value = (row.get(column) or "").strip()
        if not value:
            continue
        if column == "topics":
            data["topics"] = [{"title": title} for title in (t.strip() for t in re.split(r"[;;]", value)) if title]
        elif column == "attendees":
            attendance = _attendees(value)
            if attendance is None:
                unreadable["attendance"] = "参会人数:须为总人数(如 25)或按类别的人数(如 党员:5;居民代表:12)"
            else:
                data["attendance"] = attendance
        else:
            data[column] = _code(value, _NAMED[column]) if column in _NAMED else value
    return data, unreadable


def _messages(errors: dict, column: str | None = None) -> list[str]:
    """Marshmallow's nested messages as flat Chinese reasons, each naming its column."""
    out = []
    for name, messages in errors.items():
        label = column or RECORDED_COLUMNS.get("attendees" if name == "attendance" else name, name)
        if isinstance(messages, dict):  # list items or dict values: {index or key: messages}
            out.extend(_messages(messages, label))
            continue
        out.extend(f"{label}:{message}" for message in messages)
    return out


# -- participants ---------------------------------------------------------------------------------------


class InviteIn(In):
    person_id = Text(
        required=True,
        validate=length("参会人编号", MAX_ID),
        metadata={"description": "受邀人的账号编号:须为通知联系人名录中本区县联系人的应用账号"},
    )
    category = Text(required=True, validate=one_of(CATEGORIES, "参会人类别"))


class ParticipantOut(Schema):
    person_id = fields.String(attribute="id")
    category = fields.String()
    invited_at = fields.DateTime()
    rsvp = fields.String()
    rsvp_at = fields.DateTime(allow_none=True)
    attended = fields.Boolean()
    attended_at = fields.DateTime(allow_none=True)
    attended_via = fields.String(allow_none=True)
    checked_in_by = fields.String(
        allow_none=True, metadata={"description": "代为签到的组织者账号;本人签到或加入会议时为空"}
    )


class ProfileOut(Schema):
    age_band = fields.String(allow_none=True)
    occupation = fields.String(allow_none=True)
    stakeholder_type = fields.String(allow_none=True)


class ParticipationOut(ParticipantOut):
    """The caller's own invitation, with the profile they declared (nobody else sees it)."""

    consultation_id = fields.String()
    profile = fields.Nested(ProfileOut, allow_none=True)


class RsvpIn(In):
    answer = Text(required=True, validate=one_of(("accepted", "declined"), "答复"))


class ProfileIn(In):
    age_band = Text(load_default=None, allow_none=True, validate=one_of(AGE_BANDS, "年龄段"))
    occupation = Text(load_default=None, allow_none=True, validate=one_of(OCCUPATIONS, "职业类别"))
    stakeholder_type = Text(load_default=None, allow_none=True, validate=one_of(STAKEHOLDER_TYPES, "利益相关类型"))


class SignInIn(In):
    code = Text(required=True, validate=length("签到码", 16))


class CheckInIn(In):
    person_id = Text(
        required=True,
        validate=length("参会人编号", MAX_ID),
        metadata={"description": "受邀人的账号编号(参会人名单中的 person_id)"},
    )


# -- deliberation ---------------------------------------------------------------------------------------


class RoundIn(In):
    opens_at = Moment(required=True)
    closes_at = Moment(required=True)


class SummaryIn(In):
    summary = Text(required=True, validate=length("轮次总结", MAX_SUMMARY))


class RoundOut(Schema):
    number = fields.Integer()
    opens_at = fields.DateTime()
    closes_at = fields.DateTime()
    summary = fields.String(allow_none=True)
    summarised_at = fields.DateTime(allow_none=True)


class OpinionIn(In):
    topic_id = Text(required=True)
    stance = Text(required=True, validate=one_of(STANCES, "意见立场"))
    text = Text(required=True, validate=length("意见", MAX_OPINION))
    parent_id = Text(load_default=None, allow_none=True, metadata={"description": "回复的意见"})


class OpinionOut(Schema):
    id = fields.String()
    topic_id = fields.String()
    round_number = fields.Integer()
    stance = fields.String()
    text = fields.String()
    posted_at = fields.DateTime()
    parent_id = fields.String(allow_none=True)
    mine = fields.Boolean(metadata={"description": "Whether the caller wrote it"})
    author_category = fields.String(allow_none=True, metadata={"description": "受邀参会人的类别;本社区居民为空"})
    hidden = fields.Boolean()
    hidden_reason = fields.String(allow_none=True, metadata={"description": "Organisers only"})
    author_id = fields.String(allow_none=True, metadata={"description": "Organisers only (moderation)"})


class DeliberationOut(Schema):
    rounds = fields.List(fields.Nested(RoundOut))
    items = fields.List(fields.Nested(OpinionOut))


class VoteIn(In):
    topic_id = Text(required=True)
    choice = Text(required=True, validate=one_of(CHOICES, "表决选项"))
    reason = Text(load_default=None, allow_none=True, validate=length("理由", MAX_REASON, 0))


class VoteOut(Schema):
    topic_id = fields.String()
    choice = fields.String()
    reason = fields.String(allow_none=True)
    at = fields.DateTime()


# -- quality --------------------------------------------------------------------------------------------


class FlagOut(Schema):
    code = fields.String()
    message = fields.String()


class QualityOut(Schema):
    consultation_id = fields.String()
    method = fields.String()
    mode = fields.String()
    invited = fields.Integer()
    attendees = fields.Integer()
    attendance = fields.String(allow_none=True, metadata={"description": "签到/受邀,精确分数"})
    online_attendees = fields.Integer()
    share_not_retired = fields.String(allow_none=True)
    share_under_45 = fields.String(allow_none=True)
    categories = fields.List(fields.String())
    stakeholder_types = fields.List(fields.String())
    opinions = fields.Integer()
    rounds = fields.Integer()
    summarised_rounds = fields.Integer()
    dissent = fields.Integer()
    flags = fields.List(fields.Nested(FlagOut))
