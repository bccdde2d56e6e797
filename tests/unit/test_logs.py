import json
import logging
import sys

from shared import context
from shared.logs import JsonFormatter

TITLE = "请联系13812345678张三"


def formatted(record: logging.LogRecord) -> dict:
    return json.loads(JsonFormatter("intake").format(record))


def test_log_lines_are_json_with_ids_and_no_phone_numbers():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "sms to %s", ("13900001111",), None)
    record.event_type = "intake.proposal.submitted"
    with context.bound(request_id="r1", correlation_id="c1"):
        line = formatted(record)
    assert line["msg"] == "sms to [已隐去]"
    assert line["request_id"] == "r1"
    assert line["correlation_id"] == "c1"
    assert line["service"] == "intake"
    assert line["event_type"] == "intake.proposal.submitted"


def test_a_title_leaves_for_the_log_without_its_number_in_the_message_the_extras_and_the_traceback():
    try:
        raise ValueError(f"invalid title {TITLE!r}")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "proposal %s refused", (TITLE,), sys.exc_info())
    record.title = TITLE
    record.order = "213812345678999"  # not a phone number
    line = formatted(record)
    assert line["msg"] == "proposal 请联系[已隐去]张三 refused"
    assert line["title"] == "请联系[已隐去]张三"
    assert line["order"] == "213812345678999"
    assert "ValueError: invalid title '请联系[已隐去]张三'" in line["exc"]
    assert TITLE not in json.dumps(line, ensure_ascii=False)
