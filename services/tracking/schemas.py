"""Tracking's HTTP payloads."""

from marshmallow import Schema, fields, validate

from services.tracking.domain import CHOICES, ORGANISATION_KINDS, STATUSES
from services.tracking.repository import SORTS
from shared.fields import Flag, In, Items, Moment, Text, Whole, digits, length, one_of


class DivisionOut(Schema):
    code = fields.String()
    name = fields.String()
    level = fields.String()
    parent_code = fields.String(allow_none=True)
    source = fields.String()
    active = fields.Boolean()


class DivisionQuery(Schema):
    parent = fields.String(load_default=None, metadata={"description": "12-digit parent code"})


# -- organisations ---------------------------------------------------------------------------------


class OrganisationIn(In):
    kind = Text(required=True, validate=one_of(ORGANISATION_KINDS, "单位类型"))
    name = Text(required=True, validate=length("单位名称", 100))
    scope = Text(required=True, validate=digits("服务范围"))
    active = Flag(load_default=True)


class OrganisationOut(Schema):
    id = fields.String()
    kind = fields.String()
    kind_name = fields.String()
    name = fields.String()
    scope = fields.String()
    active = fields.Boolean()


class OrganisationQuery(Schema):
    kind = Text(load_default=None, validate=one_of(ORGANISATION_KINDS, "单位类型"))


class MemberIn(In):
    account_id = Text(required=True, validate=length("账号", 64))


class MemberOut(Schema):
    account_id = fields.String()
    organisation_id = fields.String()


class RowError(Schema):
    line = fields.Integer()
    field = fields.String(allow_none=True)
    message = fields.String()


class ImportOut(Schema):
    imported = fields.Integer()
    errors = fields.List(fields.Nested(RowError))


# -- tasks ---------------------------------------------------------------------------------------------


class TaskOut(Schema):
    id = fields.String()
    source = fields.String()
    source_id = fields.String()
    community_code = fields.String()
    title = fields.String()
    agreed = fields.String()
    organisation_id = fields.String()
    deadline = fields.Date()
    status = fields.String()
    status_name = fields.String()
    consultation_id = fields.String(allow_none=True)
    proposal_ids = fields.List(fields.String())
    progress = fields.Integer()
    assigned_at = fields.AwareDateTime()
    accepted_at = fields.AwareDateTime(allow_none=True)
    completed_at = fields.AwareDateTime(allow_none=True)
    evaluated_at = fields.AwareDateTime(allow_none=True)
    closed_at = fields.AwareDateTime(allow_none=True)
    updated_at = fields.AwareDateTime()
    overdue = fields.Boolean()
    escalation_level = fields.Integer()
    noticed_at = fields.AwareDateTime(allow_none=True)
    rating_closes_at = fields.AwareDateTime(allow_none=True)
    reopened = fields.Integer()
    extension_requested = fields.Integer(allow_none=True)
    extension_reason = fields.String(allow_none=True)


class TaskPage(Schema):
    items = fields.List(fields.Nested(TaskOut))
    next_cursor = fields.String(allow_none=True)


class TaskQuery(Schema):
    community = Text(load_default=None, validate=digits("社区或区域代码"))
    status = Items(Text(validate=one_of(STATUSES, "任务状态")), load_default=None)
    organisation = Text(load_default=None, validate=length("单位编号", 64))
    overdue = Flag(load_default=False)
    sort = Text(load_default="-assigned_at", validate=one_of(sorted(SORTS), "排序方式"))
    limit = Whole(digits=True, load_default=20, validate=validate.Range(1, 100, error="每页条数须为1到100"))
    cursor = Text(load_default=None)


class HistoryOut(Schema):
    from_status = fields.String(allow_none=True)
    to_status = fields.String()
    actor_role = fields.String()
    reason = fields.String(allow_none=True)
    at = fields.AwareDateTime()


class ProgressIn(In):
    percent = Whole(required=True)
    note = Text(required=True, validate=length("进展说明", 2000))
    evidence = Items(Text(), load_default=list)


class ProgressOut(Schema):
    id = fields.String()
    percent = fields.Integer()
    note = fields.String()
    evidence = fields.List(fields.String())
    at = fields.AwareDateTime()


class CompleteIn(In):
    summary = Text(required=True, validate=length("办结说明", 2000))


class ExtensionIn(In):
    days = Whole(required=True)
    reason = Text(required=True, validate=length("延期理由", 500))


class ExtensionDecisionIn(In):
    approve = Flag(required=True)
    note = Text(load_default="", validate=length("审批意见", 500, minimum=0))


class RatingIn(In):
    choice = Text(required=True, validate=one_of(CHOICES, "评价"))
    comment = Text(load_default=None, allow_none=True, validate=length("评价意见", 500, minimum=0))


class RatingOut(Schema):
    task_id = fields.String()
    choice = fields.String()
    choice_name = fields.String()
    at = fields.AwareDateTime()


class RatingSummaryOut(Schema):
    ratings = fields.Integer()
    by_choice = fields.Dict(keys=fields.String(), values=fields.Integer())
    satisfaction_rate = fields.Float(allow_none=True)
    closes_at = fields.AwareDateTime(allow_none=True)
    mine = fields.String(allow_none=True)


# -- coverage and rates -----------------------------------------------------------------------------


class CoverageQuery(Schema):
    scope = Text(load_default=None, validate=digits("范围"))
    level = Text(load_default="district", validate=one_of(("district", "street", "community"), "汇总层级"))
    months = Whole(digits=True, load_default=None, validate=validate.Range(1, 60, error="统计窗口须为1到60个月"))


class AreaOut(Schema):
    code = fields.String()
    name = fields.String(allow_none=True)
    communities = fields.Integer()
    covered = fields.Integer()
    coverage_ratio = fields.Float(allow_none=True)
    regularity = fields.Float(allow_none=True)
    bottom_up_ratio = fields.Float(allow_none=True)
    topics = fields.Integer()
    resident_topics = fields.Integer()
    newly_covered_recently = fields.Integer()
    projected_full_coverage = fields.Date(allow_none=True)
    on_track = fields.Boolean(allow_none=True)
    share_under_45 = fields.Float(
        allow_none=True, metadata={"description": "attendees under 45 / attendees who declared an age band"}
    )
    share_not_retired = fields.Float(
        allow_none=True, metadata={"description": "attendees not retired / attendees who declared an occupation"}
    )
    social_organisation_share = fields.Float(
        allow_none=True, metadata={"description": "consultations a social organisation attended / consultations"}
    )
    silent = fields.Integer()
    silent_communities = fields.List(fields.String())


class TargetOut(Schema):
    ratio = fields.Float()
    deadline = fields.Date()


class CoverageOut(Schema):
    as_of = fields.Date()
    window_months = fields.Integer()
    silent_months = fields.Integer()
    target = fields.Nested(TargetOut)
    total = fields.Nested(AreaOut)
    areas = fields.List(fields.Nested(AreaOut))


# A month of the years a request may name (shared.fields' window): 2000-01 to 2099-12.
MONTH = validate.Regexp(r"^20\d\d-(0[1-9]|1[0-2])$", error="月份须为 YYYY-MM(2000年至2099年),如 2026-01")


class PeriodQuery(Schema):
    scope = Text(load_default=None, validate=digits("范围"))
    level = Text(load_default="district", validate=one_of(("district", "street", "community"), "汇总层级"))
    since = Text(required=True, validate=MONTH, metadata={"description": "first month, YYYY-MM"})
    until = Text(required=True, validate=MONTH, metadata={"description": "last month, YYYY-MM"})


class PeriodAreaOut(Schema):
    code = fields.String()
    name = fields.String(allow_none=True)
    communities = fields.Integer()
    covered = fields.Integer()
    coverage_ratio = fields.Float(allow_none=True)
    consultations = fields.Integer()


class PeriodOut(Schema):
    since = fields.String()
    until = fields.String()
    total = fields.Nested(PeriodAreaOut)
    areas = fields.List(fields.Nested(PeriodAreaOut))


class RatesQuery(Schema):
    scope = Text(load_default=None, validate=digits("范围"))
    since = Moment(required=True)
    until = Moment(required=True)


class AreaRatesQuery(Schema):
    scope = Text(load_default=None, validate=digits("范围"))
    level = Text(load_default="district", validate=one_of(("district", "street", "community"), "汇总层级"))
    since = Moment(required=True)
    until = Moment(required=True)


class AreaRatesOut(Schema):
    code = fields.String()
    name = fields.String(allow_none=True)
    assigned = fields.Integer()
    responded = fields.Integer(metadata={"description": "tasks accepted (签收) within 24 h of assignment"})
    resolved = fields.Integer(metadata={"description": "tasks evaluated or closed"})
    ratings = fields.Integer()
    satisfied = fields.Integer(metadata={"description": "ratings 满意 or 基本满意"})
    response_rate = fields.Float(allow_none=True)
    resolution_rate = fields.Float(allow_none=True)
    satisfaction_rate = fields.Float(allow_none=True)


class RatesByAreaOut(Schema):
    scope = fields.String()
    level = fields.String()
    since = fields.AwareDateTime()
    until = fields.AwareDateTime()
    total = fields.Nested(AreaRatesOut)
    areas = fields.List(fields.Nested(AreaRatesOut))


class RatesOut(Schema):
    scope = fields.String()
    since = fields.AwareDateTime()
    until = fields.AwareDateTime()
    assigned = fields.Integer()
    responded = fields.Integer()
    resolved = fields.Integer()
    due = fields.Integer()
    on_time = fields.Integer()
    ratings = fields.Integer()
    satisfied = fields.Integer()
    response_rate = fields.Float(allow_none=True)
    resolution_rate = fields.Float(allow_none=True)
    on_time_rate = fields.Float(allow_none=True)
    satisfaction_rate = fields.Float(allow_none=True)
