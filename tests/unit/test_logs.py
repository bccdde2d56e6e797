import json
import logging

from shared import context
from shared.logs import JsonFormatter, mask_phones


def test_phone_numbers_are_masked():
    assert mask_phones("请联系13812341234谢谢") == "请联系138****1234谢谢"
    assert mask_phones("order 213812341234999") == "order 213812341234999"  # not a phone number


def test_log_lines_are_json_with_ids_and_no_phone_numbers():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "sms to %s", ("13900001111",), None)
    record.event_type = "intake.proposal.submitted"
    with context.bound(request_id="r1", correlation_id="c1"):
        line = json.loads(JsonFormatter("intake").format(record))
    assert line["msg"] == "sms to 139****1111"
    assert line["request_id"] == "r1"
    assert line["correlation_id"] == "c1"
    assert line["service"] == "intake"
    assert line["event_type"] == "intake.proposal.submitted"
