"""What a hostile client sends, through the gateway of the embedded platform: every class of bad
input gets a 4xx problem+json, nothing is written, and nothing further in meets a value it cannot
handle. Each test is named after the class of defect it pins (issue #11)."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta

import pytest
from marshmallow import fields

from shared import fields as shared_fields
from shared.inbound import MAX_DEPTH, too_deep
from shared.problems import PROBLEM_JSON
from shared.text import normalised, plain_text
from tests.conftest import YANLIUYUAN
from tests.integration.processes import Processes

INTAKE = "/api/v1/intake/proposals"
MEETINGS = "/api/v1/meetings/consultations"
PROPOSAL = {
    "community_code": YANLIUYUAN,
    "title": "红光新村业委会活动场所",
    "description": "业委会没有固定活动场所",
    "category": "management",
}


@pytest.fixture
def resident(auth):
    return auth("resident", YANLIUYUAN, subject="resident-hostile")


@pytest.fixture
def worker(auth):
    return auth("community_worker", YANLIUYUAN, subject="worker-hostile")


def refused(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == PROBLEM_JSON
    body = response.json
    assert body["status"] == status and body["title"]
    return body


def proposals_stored(gateway, worker) -> int:
    return len(gateway.get(INTAKE, headers=worker).json["items"])


def consultation(**changes) -> dict:
    starts = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    body = {
        "division_code": YANLIUYUAN,
        "title": "加装电梯协商会",
        "form": "community_council",
        "mode": "offline",
        "starts_at": starts.isoformat(),
        "venue": "社区议事厅",
    }
    return {**body, **changes}


# -- 1. out-of-range values -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "starts_at", ["9999-12-31T23:59:59+00:00", "0001-01-01T00:00:00+00:00", "2100-01-01T00:00:00Z"]
)
def test_out_of_range_times_are_refused_where_they_enter(gateway, worker, starts_at):
    body = refused(gateway.post(MEETINGS, json=consultation(starts_at=starts_at), headers=worker), 422)
    assert "2000年至2099年" in json.dumps(body, ensure_ascii=False)


def test_out_of_range_a_consultation_is_planned_within_ten_years(gateway, worker):
    eleven_years = (datetime.now(UTC) + timedelta(days=11 * 366)).isoformat()
    body = refused(gateway.post(MEETINGS, json=consultation(starts_at=eleven_years), headers=worker), 422)
    assert body["detail"] == "开始时间不能晚于10年之后" and body["field"] == "starts_at"
    nine_years = (datetime.now(UTC) + timedelta(days=9 * 365)).isoformat()
    assert gateway.post(MEETINGS, json=consultation(starts_at=nine_years), headers=worker).status_code == 201


def test_out_of_range_filters_and_numbers_are_refused(gateway, worker):
    refused(gateway.get(f"{INTAKE}?since=9999-12-31T23:59:59%2B00:00", headers=worker), 422)
    refused(gateway.get(f"{INTAKE}?limit=99999999999999999999", headers=worker), 422)


def test_out_of_range_every_event_time_the_catalog_admits_fits_local_arithmetic():
    """Consumers turn event times into Beijing time and add days to them: the catalog admits
    only times for which that cannot overflow."""
    from shared.events.catalog import __dict__ as catalog

    moments = [
        field
        for schema in catalog.values()
        if isinstance(schema, type) and hasattr(schema, "_declared_fields")
        for field in schema._declared_fields.values()
        if isinstance(field, fields.DateTime)
    ]
    assert moments and all(isinstance(field, shared_fields.Moment) for field in moments)
    latest = shared_fields.LATEST - timedelta(microseconds=1)
    assert (latest + timedelta(hours=8, days=366)).year == 2101


# -- 3. text the database or the encoder rejects ------------------------------------------------------


@pytest.mark.parametrize(
    "title",
    ["\ud800x", "标题\x00", "标题\x1b[31m", "\u202e标题", "标题\x7f", "\udc00"],
    ids=["lone-surrogate", "nul", "escape", "bidi-override", "delete", "low-surrogate"],
)
def test_text_the_database_or_encoder_rejects_is_refused_with_a_422(gateway, resident, worker, title):
    before = proposals_stored(gateway, worker)
    raw = json.dumps({**PROPOSAL, "title": title})  # ASCII escapes, as a client would send them
    response = gateway.post(INTAKE, data=raw, content_type="application/json", headers=resident)
    body = refused(response, 422)
    assert body["field"] == "title" and "不允许的字符" in body["detail"]
    assert proposals_stored(gateway, worker) == before


def test_text_forbidden_characters_are_refused_in_keys_queries_forms_and_paths(gateway, resident, worker):
    raw = json.dumps({**PROPOSAL, "ti\u0000tle": "x"})
    refused(gateway.post(INTAKE, data=raw, content_type="application/json", headers=resident), 422)
    refused(gateway.get(f"{INTAKE}?q=%00", headers=worker), 422)
    refused(gateway.get(f"{INTAKE}/%00abc", headers=worker), 422)
    form = {"service_code": "management", "attribute[community_code]": YANLIUYUAN, "description": "楼道\x00灯坏了"}
    response = gateway.post("/open311/v2/requests.json", data=form, headers=resident)
    assert response.status_code == 400  # Open311 answers every broken rule with a 400, in its own format
    assert "不允许的字符" in response.json[0]["description"] and proposals_stored(gateway, worker) == 0


def test_text_one_line_fields_fold_line_breaks_and_many_lines_keep_them(gateway, resident):
    sent = {**PROPOSAL, "title": "  红光新村\r\n业委会\t活动场所 ", "description": "第一行\r\n第二行  \r第三行"}
    created = gateway.post(INTAKE, json=sent, headers=resident)
    assert created.status_code == 201, created.json
    assert created.json["title"] == "红光新村 业委会 活动场所"
    assert created.json["description"] == "第一行\n第二行\n第三行"


def test_text_policy_in_the_domain_holds_for_every_way_in():
    with pytest.raises(Exception, match="不允许的字符") as refused_text:
        plain_text("title", "标题", "a\ud800", 50)
    assert refused_text.value.status == 422
    assert normalised("地点:\n社区\u2028议事厅") == "地点: 社区 议事厅"
    assert normalised("一\r\n二\u2029三", multiline=True) == "一\n二\n三"


# -- 4. deep nesting -------------------------------------------------------------------------------


@pytest.mark.parametrize("body", ["[" * 100_000, '{"a":' * 5_000 + "1" + "}" * 5_000], ids=["arrays", "objects"])
def test_deep_nesting_is_refused_with_a_400_before_it_is_parsed(gateway, resident, body):
    response = gateway.post(INTAKE, data=body, content_type="application/json", headers=resident)
    assert refused(response, 400)["detail"] == f"JSON嵌套层数不能超过{MAX_DEPTH}层"


def test_deep_nesting_is_measured_outside_strings_only():
    assert not too_deep(json.dumps({"title": "[" * 1000, "tags": [[["a"]]]}).encode())
    assert too_deep(b'{"a":' * (MAX_DEPTH + 1) + b"1" + b"}" * (MAX_DEPTH + 1))
    assert not too_deep(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH)


def test_deep_nesting_is_refused_by_each_service_as_well(platform_all, resident):
    """A service reached without the gateway (split deployments) refuses it too."""
    from werkzeug.test import Client

    intake = Client(platform_all.platform.runtime("intake").create_api())
    response = intake.post(INTAKE, data="[" * 5_000, content_type="application/json", headers=resident)
    refused(response, 400)


# -- 8. small inconsistencies ------------------------------------------------------------------------


def test_small_inconsistencies_like_wildcards_match_themselves(gateway, resident, worker):
    for title in ("百分之百满意", "楼道灯坏了"):
        assert gateway.post(INTAKE, json={**PROPOSAL, "title": title}, headers=resident).status_code == 201
    assert gateway.get(f"{INTAKE}?q=%25", headers=worker).json["items"] == []
    assert gateway.get(f"{INTAKE}?q=_", headers=worker).json["items"] == []
    assert [p["title"] for p in gateway.get(f"{INTAKE}?q=楼道", headers=worker).json["items"]] == ["楼道灯坏了"]


@pytest.mark.parametrize("threshold", [2.5, "2.5", True, 2**40])
def test_small_inconsistencies_non_integers_are_refused(gateway, auth, threshold):
    street = auth("street_admin", "341702001")
    response = gateway.put(
        f"/api/v1/intake/communities/{YANLIUYUAN}/settings", json={"support_threshold": threshold}, headers=street
    )
    refused(response, 422)


def test_small_inconsistencies_json_sent_as_another_type_gets_a_415(gateway, resident, worker):
    response = gateway.post(INTAKE, data=json.dumps(PROPOSAL), content_type="text/plain", headers=resident)
    refused(response, 415)
    response = gateway.post(INTAKE, data=json.dumps(PROPOSAL), headers=resident)  # no type at all
    refused(response, 415)
    assert proposals_stored(gateway, worker) == 0


def test_small_inconsistencies_unknown_query_parameters_are_refused_naming_the_accepted(gateway, auth):
    operator = auth("city_operator", "3417")
    body = refused(gateway.get("/api/v1/tracking/divisions?level=street", headers=operator), 400)
    assert body["unknown"] == ["level"] and body["detail"].endswith("此接口接受:parent")
    refused(gateway.get(f"{INTAKE}/nothing?parent_code=1", headers=operator), 400)
    repeated = refused(gateway.get("/api/v1/tracking/tasks?organisation=a&organisation=b", headers=operator), 400)
    assert repeated["repeated"] == ["organisation"]  # which of the two would count?
    assert gateway.get(f"{INTAKE}?status=submitted&status=accepted", headers=operator).status_code == 200  # a list
    assert gateway.get("/open311/v2/services.json?jurisdiction_id=341700000000&first_name=x").status_code == 200


def test_small_inconsistencies_api_keys_in_the_query_are_not_passed_on(gateway, cli):
    _, out = cli("apikeys", "create", "--name", "hostile-test", "--scope", "341702", "--rate", "600")
    key = out.strip().splitlines()[-1]
    assert gateway.get(f"{INTAKE}?api_key={key}&limit=5").status_code == 200


def test_request_schemas_use_the_bounded_fields():
    """Every field a request schema loads a number or a time with is one of ``shared.fields``'
    (integers refusing 2.5, times within the window; a query's integers as digits), on every
    route of every service."""
    loose = []
    for service in ("intake", "meetings", "notify", "tracking"):
        for view in _app(service).view_functions.values():
            for argument in getattr(view, "_apidoc", {}).get("arguments", {}).get("parameters", []):
                schema = argument["schema"]
                schema = schema() if isinstance(schema, type) else schema
                loose += [
                    f"{service}: {type(schema).__name__}.{name}"
                    for name, field in _fields(schema)
                    if _loose(field, in_query=argument["in"] == "query")
                ]
    assert loose == []


def _app(service):
    import tempfile

    from shared.config import load_settings
    from xieshang.platform import Platform

    settings = load_settings({"XIESHANG_DATA_DIR": tempfile.mkdtemp(), "XIESHANG_AMQP_URL": "memory://"})
    return Platform(settings).runtime(service).create_api()


def _fields(schema):
    for name, field in schema.load_fields.items():
        yield name, field
        inner = field
        while isinstance(inner, fields.List):
            inner = inner.inner
            yield f"{name}[]", inner
        if isinstance(inner, fields.Dict) and inner.value_field is not None:
            yield f"{name}{{}}", inner.value_field
        if isinstance(inner, fields.Nested):
            yield from ((f"{name}.{child}", f) for child, f in _fields(inner.schema))


def _loose(field, *, in_query: bool) -> bool:
    return (
        (isinstance(field, fields.Integer) and not isinstance(field, shared_fields.Whole))
        or (isinstance(field, shared_fields.Whole) and in_query and not field.digits)
        or (isinstance(field, fields.DateTime) and not isinstance(field, shared_fields.Moment))
        or (isinstance(field, fields.Date) and not isinstance(field, shared_fields.Day))
    )


# -- the server's own refusals ------------------------------------------------------------------------


@pytest.fixture
def served(env, platform, tmp_path):
    """``xieshang run --target all`` as operators run it: gunicorn in front."""
    processes = Processes(env, tmp_path)
    url = processes.start("all")
    yield url.removeprefix("http://")
    processes.stop_all()


def raw_request(address: str, request: bytes) -> tuple[str, dict[str, str], bytes]:
    host, port = address.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(request)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    return status, headers, body


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /healthz?" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", 400),
    ],
    ids=["uri-too-long", "header-too-large", "malformed"],
)
def test_the_servers_own_refusals_are_problem_json_in_chinese(served, request_bytes, status):
    line, headers, body = raw_request(served, request_bytes)
    assert line.startswith(f"HTTP/1.1 {status} ")
    assert headers["Content-Type"] == PROBLEM_JSON
    problem = json.loads(body)
    assert problem["status"] == status and problem["type"].startswith("https://xieshang.example/problems/")
    assert any("\u4e00" <= ch <= "\u9fff" for ch in problem["title"])


def test_the_servers_own_413_is_problem_json(served, resident):
    import requests

    response = requests.post(
        f"http://{served}{INTAKE}",
        data=b"x" * (1024 * 1024 + 1),
        headers={**resident, "Content-Type": "application/json"},
    )
    assert response.status_code == 413 and response.headers["Content-Type"] == PROBLEM_JSON


# -- found by the fuzzing suite ------------------------------------------------------------------------


def test_out_of_range_months_are_refused(gateway, auth):
    operator = auth("city_operator", "3417")
    period = "/api/v1/tracking/coverage/period?since=0000-04&until=0420-06&level=street&scope=341702001"
    assert "2000年至2099年" in refused(gateway.get(period, headers=operator), 422)["errors"]["query"]["since"][0]


def test_small_inconsistencies_uploads_with_odd_parts_or_line_breaks_are_refused_not_failed(gateway, auth):
    operator = auth("city_operator", "3417")
    imports = "/api/v1/tracking/organisations/import"
    boundary = "xsboundary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name=""\r\n\r\n{{"a": 1}}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="o.csv"\r\n\r\nid,kind\r\n'
        f"--{boundary}--\r\n"
    )
    response = gateway.post(
        imports, data=body, content_type=f"multipart/form-data; boundary={boundary}", headers=operator
    )
    assert 400 <= response.status_code < 500 and response.headers["Content-Type"] == PROBLEM_JSON
    broken = "id,kind,name,scope\r\nx\rphysical,物业\r\n"  # a bare carriage return: a line break like any other
    response = gateway.post(imports, data=broken.encode(), content_type="text/csv", headers=operator)
    assert response.status_code == 200 and [error["line"] for error in response.json["errors"]] == [2, 3]
