"""Notify's HTTP payloads (marshmallow), and the contacts CSV read into rows of ``ContactIn`` input."""

import csv
import io
import re

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate

from services.notify.domain import CATEGORIES, CHANNELS, KINDS, ImportRow
from services.notify.phones import PHONE
from services.notify.sms import STATUSES
from shared.fields import Whole
from shared.problems import Invalid


class NotificationOut(Schema):
    id = fields.String()
    channel = fields.String()
    template = fields.String()
    body = fields.String()
    created_at = fields.DateTime()
    read_at = fields.DateTime(allow_none=True)


class InboxOut(Schema):
    unread = fields.Integer()
    items = fields.List(fields.Nested(NotificationOut))


class StreamQuery(Schema):
    after = fields.String(
        load_default=None,
        metadata={"description": "Resume after this event id (as Last-Event-ID; the header wins when both are sent)"},
    )


class StreamHeaders(Schema):
    last_event_id = fields.String(
        data_key="Last-Event-ID",
        load_default=None,
        metadata={"description": "The id of the last event received, as EventSource sends it on reconnecting"},
    )


# -- the contact directory -----------------------------------------------------------------------------

HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"
REQUIRED = {"required": "必须填写", "null": "不能为空"}


class _Strict(Schema):
    class Meta:
        unknown = RAISE

    error_messages = {"unknown": "不支持的字段", "type": "请求内容须为JSON对象"}


def _text(**kwargs) -> fields.String:
    return fields.String(error_messages={**REQUIRED, "invalid": "须为文本"}, **kwargs)


def _choices(choices, label: str, **kwargs) -> fields.List:
    inner = fields.String(validate=validate.OneOf(choices, error=f"{label}须为以下之一:{'、'.join(choices)}"))
    return fields.List(inner, error_messages={**REQUIRED, "invalid": "须为列表"}, **kwargs)


def _hhmm(**kwargs) -> fields.String:
    return _text(validate=validate.Regexp(HHMM, error="时间须为HH:MM格式(北京时间),如22:00"), **kwargs)


class PreferencesIn(_Strict):
    channels = _choices(CHANNELS, "渠道", validate=validate.Length(min=1, error="至少选择一个渠道"))
    quiet_start = _hhmm()
    quiet_end = _hhmm()
    opt_outs = _choices(CATEGORIES, "退订类别")


class ContactIn(PreferencesIn):
    phone = _text(required=True, validate=validate.Regexp(PHONE.pattern, error="手机号须为11位中国大陆手机号"))
    community_code = _text(required=True, validate=validate.Regexp(r"^\d{12}$", error="社区代码必须是12位数字"))
    kind = _text(required=True, validate=validate.OneOf(KINDS, error=f"类型须为以下之一:{'、'.join(KINDS)}"))
    app_user_id = _text(load_default=None, allow_none=True, validate=validate.Length(max=64, error="最长64个字符"))
    department_id = _text(load_default=None, allow_none=True, validate=validate.Length(max=64, error="最长64个字符"))


class ContactOut(Schema):
    id = fields.String()
    kind = fields.String()
    community_code = fields.String()
    department_id = fields.String(allow_none=True)
    app_user_id = fields.String(allow_none=True)
    phone = fields.String(allow_none=True, metadata={"description": "Masked, e.g. 138****1234; null once erased"})
    channels = fields.List(fields.String())
    quiet_start = fields.String()
    quiet_end = fields.String()
    quiet_timezone = fields.String()
    opt_outs = fields.List(fields.String())
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    removed_at = fields.DateTime(allow_none=True)


class ContactQuery(Schema):
    community = fields.String(
        load_default=None, validate=validate.Regexp(r"^\d{2,12}$", error="区划代码须为2到12位数字")
    )
    kind = fields.String(load_default=None, validate=validate.OneOf(KINDS, error="类型无效"))
    limit = Whole(digits=True, load_default=20, validate=validate.Range(1, 100, error="每页1到100条"))
    cursor = fields.String(load_default=None)


class ContactPage(Schema):
    items = fields.List(fields.Nested(ContactOut))
    next_cursor = fields.String(allow_none=True)


class RejectedRow(Schema):
    line = fields.Integer()
    errors = fields.List(fields.String())


class ImportOut(Schema):
    imported = fields.Integer()
    updated = fields.Integer()
    rejected = fields.List(fields.Nested(RejectedRow))


# -- the contacts CSV ------------------------------------------------------------------------------------

MAX_IMPORT_ROWS = 5000
IMPORT_COLUMNS = (
    "phone", "community_code", "kind", "app_user_id", "department_id", "channels", "quiet_start", "quiet_end",
)  # fmt: skip
REQUIRED_IMPORT_COLUMNS = ("phone", "community_code", "kind")
COLUMN_NAMES = {
    "phone": "手机号",
    "community_code": "社区代码",
    "kind": "类型",
    "app_user_id": "应用用户",
    "department_id": "部门",
    "channels": "渠道",
    "quiet_start": "免打扰开始",
    "quiet_end": "免打扰结束",
}


def import_rows(text: str) -> list[ImportRow]:
    """The data rows of a contacts CSV, each read as ``ContactIn`` input or with its Chinese reasons
    (a cell's column named: 手机号:…); a bad header, more than ``MAX_IMPORT_ROWS`` rows or none at
    all is refused (422)."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_IMPORT_COLUMNS if c not in header]
    if missing:
        raise Invalid(f"CSV缺少列:{'、'.join(missing)}", columns=list(IMPORT_COLUMNS))
    unknown = [h for h in header if h not in IMPORT_COLUMNS]
    if unknown:
        raise Invalid(f"CSV含未知列:{'、'.join(unknown)}", columns=list(IMPORT_COLUMNS))
    reader.fieldnames = header
    schema = ContactIn()
    rows: list[ImportRow] = []
    for row in reader:
        if len(rows) == MAX_IMPORT_ROWS:
            raise Invalid(f"一次最多导入{MAX_IMPORT_ROWS}行")
        if None in row:
            rows.append(ImportRow(reader.line_num, None, ["列数多于表头"]))
            continue
        try:
            rows.append(ImportRow(reader.line_num, schema.load(_cells(row))))
        except ValidationError as exc:
            rows.append(ImportRow(reader.line_num, None, _messages(exc.messages)))
    if not rows:
        raise Invalid("CSV文件没有数据行")
    return rows


def _cells(row: dict) -> dict:
    """A CSV row as ContactIn input: empty cells left out, channels split."""
    data = {}
    for column in IMPORT_COLUMNS:
        value = (row.get(column) or "").strip()
        if not value:
            continue
        data[column] = [v for v in re.split(r"[;|,\s]+", value) if v] if column == "channels" else value
    return data


def _messages(errors: dict) -> list[str]:
    out = []
    for field, messages in errors.items():
        if isinstance(messages, dict):  # list items: {index: [messages]}
            messages = [m for item in messages.values() for m in item]
        for message in messages:
            out.append(f"{COLUMN_NAMES.get(field, field)}:{message}")
    return out


# -- SMS: provider callbacks (providers add parameters of their own: unknown ones are ignored) -------


class _Callback(Schema):
    class Meta:
        unknown = EXCLUDE


class KannelReportQuery(_Callback):
    id = _text(required=True)
    sig = _text(required=True)
    type = Whole(digits=True, load_default=0)
    answer = fields.String(load_default=None)


class HttpReportIn(_Callback):
    status = _text(required=True, validate=validate.OneOf(("delivered", "failed"), error="须为delivered或failed"))
    reason = fields.String(load_default=None, validate=validate.Length(max=300))


class KannelReplyQuery(_Callback):
    sig = _text(required=True)
    sender = _text(required=True, data_key="from")
    text = fields.String(load_default="")
    # The number the resident wrote to (Kannel's %P, in ``xieshang sms callback-urls``): the service
    # number, not used, but declared so the URL Kannel calls is accepted (shared.inbound).
    receiver = fields.String(load_default=None, data_key="to")


class HttpReplyIn(_Callback):
    sender = _text(required=True, data_key="from")
    text = fields.String(load_default="")


class ReplyOut(Schema):
    action = fields.String(
        metadata={
            "description": "stop (opted out), resume (opted in), answered, raised (a matter), queried, repeated "
            "(nothing more: one effect per number and question), help (the help SMS queued), register (a number "
            "without a contact told how to register) or ignored"
        }
    )


# -- SMS: the log and hand-sent notices ----------------------------------------------------------------


class SmsQuery(Schema):
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES, error="状态无效"))
    contact_id = fields.String(load_default=None)
    limit = Whole(digits=True, load_default=20, validate=validate.Range(1, 100, error="每页1到100条"))
    cursor = fields.String(load_default=None)


class SmsOut(Schema):
    id = fields.String()
    event_id = fields.String()
    contact_id = fields.String()
    template = fields.String()
    category = fields.String()
    body = fields.String(allow_none=True, metadata={"description": "The signed text as sent; null until sent"})
    parts = fields.Integer(allow_none=True)
    urgent = fields.Boolean()
    division_code = fields.String(allow_none=True)
    status = fields.String(metadata={"description": ", ".join(STATUSES)})
    not_before = fields.DateTime()
    attempts = fields.Integer()
    provider = fields.String(allow_none=True)
    error = fields.String(allow_none=True, metadata={"description": "Why it failed or was not sent"})
    created_at = fields.DateTime()
    sent_at = fields.DateTime(allow_none=True)
    delivered_at = fields.DateTime(allow_none=True)


class SmsPage(Schema):
    items = fields.List(fields.Nested(SmsOut))
    next_cursor = fields.String(allow_none=True)


class PreviewIn(_Strict):
    variables = fields.Dict(
        keys=fields.String(),
        values=fields.String(error_messages={"invalid": "须为文本"}),
        required=True,
        error_messages={**REQUIRED, "invalid": "须为对象"},
    )


class PreviewOut(Schema):
    text = fields.String()
    characters = fields.Integer(metadata={"description": "As carriers count: the signature included"})
    parts = fields.Integer(metadata={"description": "70 characters in one SMS, 67 per part beyond"})


class NoticeIn(PreviewIn):
    community_code = _text(required=True, validate=validate.Regexp(r"^\d{12}$", error="社区代码必须是12位数字"))
    notice_id = fields.UUID(load_default=None, error_messages={"invalid": "须为UUID"})
    proposal_id = _text(
        load_default=None,
        validate=validate.Length(max=36, error="建议编号最长36字"),
        metadata={"description": "A matter of the community the notice asks to co-sign (SMS end with 回复1附议)"},
    )


class NoticeOut(Schema):
    notice_id = fields.String()
    subscribers = fields.Integer()
    sms = fields.Integer(metadata={"description": "SMS queued (the others are told in the app only)"})
    sms_deferred = fields.Integer(metadata={"description": "Of those, held until the quiet hours end"})
