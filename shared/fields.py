"""Marshmallow fields and base schema with Chinese messages, for every service's HTTP payloads:
residents and officials read the errors."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from marshmallow import Schema, fields, validate

# Every time and date a client sends lies in this window: far enough for any consultation, deadline
# or report the platform deals with, near enough that no arithmetic on it (a local time, a calendar
# feed, a deadline plus days) can leave Python's datetime range. Domain rules narrow it further.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
WINDOW = "须在2000年至2099年之间"
# A whole number fits a PostgreSQL ``integer`` column unless a field sets its own range.
INT_RANGE = (-(2**31), 2**31 - 1)
_WHOLE = re.compile(r"[+-]?\d{1,12}")

# The messages every field shares (a service's own fields spread them too).
COMMON = {"required": "此项必填", "null": "此项不能为空", "validator_failed": "取值无效"}


class Text(fields.String):
    default_error_messages = {**COMMON, "invalid": "必须是文字", "invalid_utf8": "必须是UTF-8文字"}


class Whole(fields.Integer):
    """An integer, refusing ``2.5`` rather than storing 2, and anything outside a PostgreSQL
    ``integer`` unless ``validate`` sets a range of its own. A JSON body must send a number; a query
    parameter (``digits=True``) is digits."""

    default_error_messages = {**COMMON, "invalid": "必须是整数", "too_large": "数值过大"}

    def __init__(self, *, digits: bool = False, **kwargs):
        if "validate" not in kwargs:
            kwargs["validate"] = validate.Range(*INT_RANGE, error="数值超出范围")
        self.digits = digits
        super().__init__(**kwargs)

    def _validated(self, value):
        if isinstance(value, str) and self.digits and _WHOLE.fullmatch(value.strip()):
            return super()._validated(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


class Flag(fields.Boolean):
    default_error_messages = {**COMMON, "invalid": "必须是true或false"}


class Moment(fields.AwareDateTime):
    """A time with its zone, within ``EARLIEST`` and ``LATEST``."""

    default_error_messages = {
        **COMMON,
        "invalid": "必须是带时区的ISO 8601时间,如 2024-05-13T19:00:00+08:00",
        "invalid_awareness": "必须是带时区的ISO 8601时间,如 2024-05-13T19:00:00+08:00",
        "format": "时间格式无效",
        "window": "时间" + WINDOW,
    }

    def _deserialize(self, value, attr, data, **kwargs):
        moment = super()._deserialize(value, attr, data, **kwargs)
        if not EARLIEST <= moment < LATEST:
            raise self.make_error("window")
        return moment


class Day(fields.Date):
    """A calendar day within the years of ``EARLIEST`` and ``LATEST``."""

    default_error_messages = {
        **COMMON,
        "invalid": "必须是日期,如 2024-06-30",
        "format": "日期格式无效",
        "window": "日期" + WINDOW,
    }

    def _deserialize(self, value, attr, data, **kwargs):
        day = super()._deserialize(value, attr, data, **kwargs)
        if not EARLIEST.date() <= day < LATEST.date():
            raise self.make_error("window")
        return day


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
