"""Marshmallow fields and base schema with Chinese messages, for every service's HTTP payloads:
residents and officials read the errors."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

# The messages every field shares (a service's own fields spread them too).
COMMON = {"required": "此项必填", "null": "此项不能为空", "validator_failed": "取值无效"}


class Text(fields.String):
    default_error_messages = {**COMMON, "invalid": "必须是文字", "invalid_utf8": "必须是UTF-8文字"}


class Whole(fields.Integer):
    """An integer, refusing 2.5 rather than storing 2."""

    default_error_messages = {**COMMON, "invalid": "必须是整数"}

    def __init__(self, **kwargs):
        super().__init__(strict=True, **kwargs)


class Flag(fields.Boolean):
    default_error_messages = {**COMMON, "invalid": "必须是true或false"}


class Moment(fields.AwareDateTime):
    default_error_messages = {
        **COMMON,
        "invalid": "必须是带时区的ISO 8601时间,如 2024-05-13T19:00:00+08:00",
        "invalid_awareness": "必须是带时区的ISO 8601时间,如 2024-05-13T19:00:00+08:00",
        "format": "时间格式无效",
    }


class Day(fields.Date):
    default_error_messages = {**COMMON, "invalid": "必须是日期,如 2024-06-30", "format": "日期格式无效"}


class Items(fields.List):
    default_error_messages = {**COMMON, "invalid": "必须是列表"}


def one_of(choices, label: str):
    return validate.OneOf(list(choices), error=f"未知的{label},可选:{{choices}}")


def length(label: str, maximum: int, minimum: int = 1):
    return validate.Length(minimum, maximum, error=f"{label}须为{minimum}到{maximum}个字")


def digits(label: str, lengths: str = "2-12"):
    low, high = lengths.split("-")
    return validate.Regexp(rf"^\d{{{low},{high}}}$", error=f"{label}须为{low}到{high}位数字的区划代码")


class In(Schema):
    """A request body: unknown fields refused, a non-object refused, in Chinese."""

    error_messages = {"unknown": "未知字段", "type": "请求内容必须是JSON对象"}
