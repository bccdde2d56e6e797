"""Meetings' HTTP payloads. What people send is checked here for shape (with Chinese messages);
the rules themselves are the domain's."""

from __future__ import annotations

from fractions import Fraction

from marshmallow import Schema, fields, validate

from services.meetings.domain import (
    AGE_BANDS,
    CATEGORIES,
    CHOICES,
    FORMS,
    MAX_AGREED,
    MAX_ID,
    MAX_MATERIALS,
    MAX_MINUTES,
    MAX_OPINION,
    MAX_REASON,
    MAX_SUMMARY,
    MAX_TITLE,
    METHODS,
    MODES,
    OCCUPATIONS,
    ORIGINS,
    STAKEHOLDER_TYPES,
    STANCES,
    STATUSES,
)
from services.meetings.repository import SORTS

# -- fields with Chinese messages -----------------------------------------------------------------------

_COMMON = {"required": "此项必填", "null": "此项不能为空", "validator_failed": "取值无效"}


class Text(fields.String):
    default_error_messages = {**_COMMON, "invalid": "必须是文字", "invalid_utf8": "必须是UTF-8文字"}


class Moment(fields.AwareDateTime):
    default_error_messages = {
        **_COMMON,
        "invalid": "必须是带时区的ISO 8601时间,如 2024-05-13T19:00:00+08:00",
        "invalid_awareness": "必须是带时区的ISO 8601时间,如 2024-05-13T19:00:00+08:00",
        "format": "时间格式无效",
    }


class Day(fields.Date):
    default_error_messages = {**_COMMON, "invalid": "必须是日期,如 2024-06-30", "format": "日期格式无效"}


class Items(fields.List):
    default_error_messages = {**_COMMON, "invalid": "必须是列表"}


class Obj(fields.Nested):
    default_error_messages = {**_COMMON, "type": "必须是对象"}


class Ratio(fields.String):
    """A share as an exact fraction: "2/3", "1/2", "1", or a number such as 0.5."""

    default_error_messages = {**_COMMON, "invalid": "必须是比例,如 2/3"}

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise self.make_error("invalid")
        try:
            return str(Fraction(str(value).strip()))
        except (ValueError, ZeroDivisionError):
            raise self.make_error("invalid") from None


def one_of(choices, label: str):
    return validate.OneOf(list(choices), error=f"未知的{label},可选:{{choices}}")


def length(label: str, maximum: int, minimum: int = 1):
    return validate.Length(minimum, maximum, error=f"{label}须为{minimum}到{maximum}个字")


class In(Schema):
    error_messages = {"unknown": "未知字段", "type": "请求内容必须是JSON对象"}


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
    responsible_party = fields.String()
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
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ConsultationQuery(In):
    division = Text(load_default=None, validate=validate.Regexp(r"^\d{2,12}$", error="区划代码须为2到12位数字"))
    status = Items(Text(validate=one_of(STATUSES, "协商状态")), load_default=None)
    since = Moment(load_default=None, metadata={"description": "开始时间不早于"})
    until = Moment(load_default=None, metadata={"description": "开始时间早于"})
    sort = Text(load_default="-starts_at", validate=one_of(sorted(SORTS), "排序方式"))
    limit = fields.Integer(
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
    responsible_party = Text(required=True, validate=length("责任单位", MAX_ID))
    deadline = Day(required=True)
    agreed = Text(required=True, validate=length("决议内容", MAX_AGREED))


class PublishIn(In):
    minutes = Text(required=True, validate=length("会议纪要", MAX_MINUTES))
    resolutions = Items(Obj(ResolutionIn), load_default=list)
    explanation = Text(load_default=None, allow_none=True, validate=length("说明", MAX_MINUTES, 0))


# -- participants ---------------------------------------------------------------------------------------


class InviteIn(In):
    person_id = Text(required=True, validate=length("参会人编号", MAX_ID), metadata={"description": "受邀人的账号编号"})
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
