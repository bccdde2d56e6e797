"""Open311 GeoReport v2 at /open311/v2, served by the in-process platform on a real port and driven
by an independent client, the ``georeport`` package. georeport 0.3.1 only reads (services,
definitions, requests), so discovery, tokens and posting (form encoded, as a district system's
software sends it) go through plain ``requests``."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime, timedelta

import pytest
import requests
import xmltodict
from georeport import GeoReport
from sqlalchemy import MetaData, delete, func, select
from werkzeug.serving import make_server

from services.intake import domain, handlers, repository
from services.intake.models import bus, organisations, proposals
from services.intake.open311 import CLOSED, OPEN, scope_prefix
from shared.divisions import Division
from shared.events import new_event
from shared.principal import Principal
from tests.conftest import YANLIUYUAN

JURISDICTION = "341700000000"  # 池州市, the default XIESHANG_JURISDICTION_ID
DONGZHI_COMMUNITY = "341721100001"  # 尧渡社区, 东至县: in the city, outside 贵池区
OUTSIDE_CITY = "340102001001"  # 合肥市: outside the jurisdiction
PHONE = "13812345678"
EMAIL = "zhang.xiaoming@example.com"
SURNAME, GIVEN_NAME = "欧阳", "晓明"
DESCRIPTION = "绣春巷开水炉夜间噪音扰民,影响附近居民休息,希望调整营业时间"
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'


@pytest.fixture
def env(env):
    # Dozens of requests from one address within a second: not what the rate limit is tested on here.
    return {**env, "XIESHANG_RATE_LIMIT": "1000000"}


@pytest.fixture
def server(platform_all, monkeypatch):
    """The platform's gateway on a local port; yields its root URL."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    httpd = make_server("127.0.0.1", 0, platform_all.http_entry, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join(5)
    httpd.server_close()


@pytest.fixture
def base(server):
    return f"{server}/open311/v2"


@pytest.fixture
def api_key(platform_all):
    """贵池区's 12345 hotline system."""
    return platform_all.platform.gateway().accounts.create_api_key("guichi-12345", "341702", 6000)


@pytest.fixture
def client(base):
    return GeoReport(base, jurisdiction=JURISDICTION)


@pytest.fixture
def xml_client(base):
    return GeoReport(base, jurisdiction=JURISDICTION, output_format="xml")


def request_form(**changes) -> dict:
    form = {
        "jurisdiction_id": JURISDICTION,
        "service_code": "environment",
        "attribute[community_code]": YANLIUYUAN,
        "description": DESCRIPTION,
        "lat": "30.6612",
        "long": "117.4801",
        "address_string": "绣春巷12号",
        "media_url": "https://img.example.com/kaishuilu.jpg",
    }
    form.update(changes)
    return {name: value for name, value in form.items() if value is not None}


@pytest.fixture
def post(base, api_key):
    def send(fmt: str = "json", key: str | None = api_key, **changes) -> requests.Response:
        form = request_form(**changes)
        if key:
            form["api_key"] = key
        return requests.post(f"{base}/requests.{fmt}", data=form, timeout=10)

    return send


@pytest.fixture
def raise_matter(post):
    def make(**changes) -> str:
        response = post(**changes)
        assert response.status_code == 201, response.text
        return response.json()[0]["service_request_id"]

    return make


def spec_error(response: requests.Response, fmt: str) -> tuple[int, str]:
    """The (code, description) of an Open311 error answer, checking its shape."""
    if fmt == "json":
        assert response.headers["Content-Type"].startswith("application/json"), response.text
        [error] = response.json()
        assert set(error) == {"code", "description"}
        return error["code"], error["description"]
    assert response.headers["Content-Type"].startswith("text/xml"), response.text
    assert response.text.startswith(XML_DECLARATION)
    error = xmltodict.parse(response.content)["errors"]["error"]
    return int(error["code"]), error["description"]


def intake_db(platform_all):
    return platform_all.platform.runtime("intake").db


def proposal_count(platform_all) -> int:
    with intake_db(platform_all).sessions() as session:
        return session.scalar(select(func.count()).select_from(proposals))


def stored_proposal(platform_all, proposal_id: str) -> domain.Proposal:
    with intake_db(platform_all).sessions() as session:
        return repository.get(session, proposal_id)


def everything_stored(platform_all) -> str:
    """Every row of every table of every database of the platform, as text."""
    dumps = []
    runtimes = [platform_all.platform.runtime(name) for name in platform_all.platform.specs]
    for db in [r.db for r in runtimes] + [platform_all.platform.gateway().db]:
        metadata = MetaData()
        metadata.reflect(db.engine)
        with db.sessions() as session:
            for table in metadata.sorted_tables:
                dumps.extend(str(dict(row)) for row in session.execute(select(table)).mappings())
    return "\n".join(dumps)


def add_directly(platform_all, community_code: str, submitted_at: datetime) -> str:
    """A proposal written straight into intake (an old one, or one the registry does not know)."""
    principal = Principal("resident-old", "resident", community_code)
    community = Division(community_code, "某社区", "community", community_code[:9] + "000", "sample")
    proposal = domain.submit(
        principal=principal,
        community=community,
        community_code=community_code,
        title="旧事项",
        description="很久以前提出的事项",
        category="environment",
        categories=domain.DEFAULT_CATEGORIES,
        via="app",
        now=submitted_at,
    )
    with intake_db(platform_all).transaction() as session:
        repository.add(session, proposal)
    return proposal.id


# -- reading the catalogue ---------------------------------------------------------------------------


def test_discovery_says_where_the_endpoint_is_and_what_it_speaks(base):
    as_json = requests.get(f"{base}/discovery.json", timeout=10)
    assert as_json.status_code == 200
    [endpoint] = as_json.json()["endpoints"]
    assert endpoint["url"] == base
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert set(endpoint["formats"]) == {"text/xml", "application/json"}
    as_xml = requests.get(f"{base}/discovery.xml", params={"jurisdiction_id": JURISDICTION}, timeout=10)
    assert as_xml.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert as_xml.text.startswith(XML_DECLARATION)
    document = xmltodict.parse(as_xml.content)["discovery"]
    assert document["endpoints"]["endpoint"]["url"] == base
    assert document["endpoints"]["endpoint"]["formats"]["format"] == ["text/xml", "application/json"]


def test_services_are_our_categories_with_their_definitions(client, xml_client):
    services = client.get_service_list()
    assert [s["service_code"] for s in services] == sorted(domain.DEFAULT_CATEGORIES)
    environment = next(s for s in services if s["service_code"] == "environment")
    assert environment["service_name"] == "环境"
    assert environment["metadata"] is True and environment["type"] == "realtime"
    assert environment["group"] == "社区协商" and "环境" in environment["keywords"]

    from_xml = xml_client.get_service_list()
    assert [s["service_code"] for s in from_xml] == [s["service_code"] for s in services]
    assert {s["metadata"] for s in from_xml} == {"true"}
    assert {s["service_name"] for s in from_xml} == set(domain.DEFAULT_CATEGORIES.values())

    definition = client.get_service_definition("environment")
    assert definition["service_code"] == "environment"
    attributes = {a["code"]: a for a in definition["attributes"]}
    assert attributes["community_code"]["required"] is True
    assert attributes["community_code"]["datatype"] == "string"
    assert attributes["community_code"]["variable"] is True
    assert attributes["title"]["required"] is False
    xml_definition = xml_client.get_service_definition("environment")
    assert [a["code"] for a in xml_definition["attributes"]["attribute"]] == ["community_code", "title"]
    assert xml_definition["attributes"]["attribute"][0]["required"] == "true"


def test_without_a_suffix_the_accept_header_chooses_and_xml_is_the_default(base):
    negotiated = requests.get(f"{base}/services", headers={"Accept": "application/json"}, timeout=10)
    assert negotiated.headers["Content-Type"] == "application/json; charset=utf-8"
    assert negotiated.json()[0]["service_code"] == "activities"
    default = requests.get(f"{base}/services", timeout=10)
    assert default.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert xmltodict.parse(default.content)["services"]["service"][0]["service_code"]


# -- raising a matter and following it ----------------------------------------------------------------


def test_a_district_system_raises_a_matter_and_follows_it(post, client, xml_client, base, platform_all):
    response = post()
    assert response.status_code == 201, response.text
    [created] = response.json()
    assert set(created) == {"service_request_id", "service_notice", "account_id"}
    assert created["account_id"] is None and "烟柳园社区" in created["service_notice"]
    proposal_id = created["service_request_id"]

    stored = stored_proposal(platform_all, proposal_id)
    assert stored.channel == "district_system" and stored.origin == "resident"
    assert stored.submitter_id == "apikey:guichi-12345"
    assert stored.category == "environment" and stored.community_code == YANLIUYUAN
    assert stored.title == DESCRIPTION[:30] and stored.description == DESCRIPTION
    assert (stored.latitude, stored.longitude, stored.address) == (30.6612, 117.4801, "绣春巷12号")
    assert stored.attachments == ["https://img.example.com/kaishuilu.jpg"]
    with intake_db(platform_all).sessions() as session:
        assert repository.history(session, proposal_id)[0]["to_status"] == "submitted"
        outbox = session.execute(select(bus.outbox.c.event_type)).scalars().all()
    assert outbox == ["intake.proposal.submitted"]  # the same path as the JSON API

    read = client.get_service_request(proposal_id)
    assert read["service_request_id"] == proposal_id
    assert (read["status"], read["status_notes"]) == ("open", "已提交")
    assert (read["service_code"], read["service_name"]) == ("environment", "环境")
    assert read["agency_responsible"] == "烟柳园社区"
    assert read["description"] == DESCRIPTION and read["address"] == "绣春巷12号"
    assert (read["lat"], read["long"]) == (30.6612, 117.4801)
    assert read["media_url"] == "https://img.example.com/kaishuilu.jpg"
    requested = datetime.fromisoformat(read["requested_datetime"])
    assert requested.tzinfo is not None and abs(datetime.now(UTC) - requested) < timedelta(minutes=5)
    assert datetime.fromisoformat(read["updated_datetime"]) >= requested

    from_xml = xml_client.get_service_request(proposal_id)
    assert from_xml["service_request_id"] == proposal_id
    assert (from_xml["status"], from_xml["status_notes"], from_xml["lat"]) == ("open", "已提交", "30.6612")

    token = requests.get(f"{base}/tokens/{proposal_id}.json", params={"jurisdiction_id": JURISDICTION}, timeout=10)
    assert token.json() == [{"service_request_id": proposal_id, "token": proposal_id}]
    token_xml = xmltodict.parse(requests.get(f"{base}/tokens/{proposal_id}.xml", timeout=10).content)
    assert token_xml["service_requests"]["request"] == {"service_request_id": proposal_id, "token": proposal_id}


def test_posting_in_xml_with_a_title_and_for_a_resident(post, platform_all):
    response = post(fmt="xml", **{"attribute[title]": "开水炉扰民"}, account_id="resident-4711", lat=None, long=None)
    assert response.status_code == 201, response.text
    assert response.text.startswith(XML_DECLARATION)
    created = xmltodict.parse(response.content)["service_requests"]["request"]
    assert created["account_id"] == "resident-4711"
    stored = stored_proposal(platform_all, created["service_request_id"])
    assert stored.title == "开水炉扰民" and stored.submitter_id == "resident-4711"
    assert stored.latitude is None and stored.address == "绣春巷12号"


def test_listing_with_the_specs_filters(raise_matter, client, xml_client, base, server, auth, platform_all,
                                       with_organisations):  # fmt: skip
    worker = auth("community_worker", YANLIUYUAN, subject="worker-1")
    triage = f"{server}/api/v1/intake/proposals"
    kept = raise_matter()
    rejected = raise_matter(service_code="management", description="希望小区增加充电桩", lat=None, long=None)
    merged = raise_matter()
    referred = raise_matter(service_code="management", description="三号楼楼道灯坏了")
    assert requests.post(f"{triage}/{rejected}/reject", json={"reason": "张三家的事"}, headers=worker).ok
    assert requests.post(f"{triage}/{merged}/merge", json={"into": kept}, headers=worker).ok
    assert requests.post(f"{triage}/{referred}/refer", json={"department_id": "guichi-zhujianju"}, headers=worker).ok
    old = add_directly(platform_all, YANLIUYUAN, datetime.now(UTC) - timedelta(days=120))
    elsewhere = add_directly(platform_all, OUTSIDE_CITY, datetime.now(UTC))
    recent = {kept, rejected, merged, referred}

    listed = client.get_service_requests()
    assert {r["service_request_id"] for r in listed} == recent  # 90 days, this jurisdiction only
    times = [r["requested_datetime"] for r in listed]
    assert times == sorted(times, reverse=True)
    by_id = {r["service_request_id"]: r for r in listed}
    assert (by_id[kept]["status"], by_id[kept]["status_notes"]) == ("open", "已提交")
    assert (by_id[merged]["status"], by_id[merged]["status_notes"]) == ("closed", f"已合并至 {kept}")
    assert by_id[referred]["status"] == "open" and by_id[referred]["status_notes"] == "已转交贵池区住建局办理"
    assert by_id[referred]["agency_responsible"] == "贵池区住建局"  # the organisation's name, not its id
    shown_rejected = by_id[rejected]
    assert (shown_rejected["status"], shown_rejected["status_notes"]) == ("closed", "未采纳")
    assert shown_rejected["service_code"] == "management" and shown_rejected["description"] is None
    assert shown_rejected["address"] is None and shown_rejected["lat"] is None

    def ids(**filters) -> set[str]:
        return {r["service_request_id"] for r in client.get_service_requests(**filters)}

    assert ids(status="open") == {kept, referred}
    assert ids(status="closed") == {rejected, merged}
    assert ids(status="open,closed") == recent
    assert ids(service_code="management") == {rejected, referred}
    assert ids(service_code="environment,management") == recent
    assert ids(service_code="management", status="closed") == {rejected}
    now = datetime.now(UTC)
    long_ago = {
        "start_date": (now - timedelta(days=130)).isoformat(),
        "end_date": (now - timedelta(days=100)).isoformat(),
    }
    assert ids(**long_ago) == {old}
    assert ids(start_date=(now - timedelta(days=1)).isoformat()) == recent
    assert ids(end_date=(now - timedelta(days=100)).isoformat()) == {old}
    assert ids(end_date=(now - timedelta(days=100)).strftime("%Y-%m-%dT%H:%M:%SZ")) == {old}
    assert ids(service_request_id=f"{kept},{old},{elsewhere},no-such-id") == {kept, old}

    closed_xml = xml_client.get_service_requests(status="closed")
    assert {r["service_request_id"] for r in closed_xml} == {rejected, merged}
    assert {r["status"] for r in closed_xml} == {"closed"}

    missing = requests.get(f"{base}/requests/{elsewhere}.json", timeout=10)
    assert missing.status_code == 404 and spec_error(missing, "json")[0] == 404
    for fmt in ("json", "xml"):
        body = requests.get(f"{base}/requests.{fmt}", params={"status": "open,closed"}, timeout=10).text
        assert "apikey:" not in body and "worker-1" not in body and "张三" not in body


def tracking_event(kind: str, proposal_id: str, **extra):
    payload = {"task_id": "t-1", "community_code": YANLIUYUAN, "proposal_ids": [proposal_id], **extra}
    return new_event(f"tracking.task.{kind}", payload, producer="tracking", division_code=YANLIUYUAN)


def test_a_finished_referral_is_closed_with_notes_saying_what_happened_and_who(
    raise_matter, base, server, auth, intake, with_organisations
):
    worker = auth("community_worker", YANLIUYUAN, subject="worker-1")
    matter = raise_matter(service_code="management", description="三号楼楼道灯坏了")
    referral = {"department_id": "dept-guichi-lighting", "note": "楼道灯维修"}
    assert requests.post(f"{server}/api/v1/intake/proposals/{matter}/refer", json=referral, headers=worker).ok

    def move(*events) -> None:  # as intake's consumer would apply tracking's events
        for event in events:
            with intake.unit_of_work() as uow:
                handlers.HANDLERS[event.type](uow, event)

    def read() -> list[tuple[str, str, str]]:
        """(status, status_notes, agency_responsible) as JSON and as XML."""
        as_json = requests.get(f"{base}/requests/{matter}.json", params={"jurisdiction_id": JURISDICTION}, timeout=10)
        as_xml = requests.get(f"{base}/requests/{matter}.xml", timeout=10)
        [shown] = as_json.json()
        from_xml = xmltodict.parse(as_xml.content)["service_requests"]["request"]
        return [tuple(r[k] for k in ("status", "status_notes", "agency_responsible")) for r in (shown, from_xml)]

    move(tracking_event("started", matter))
    assert read() == [("open", "办理中(责任单位:贵池区路灯管理所)", "贵池区路灯管理所")] * 2
    move(tracking_event("completed", matter))
    assert read() == [("closed", "已办结(责任单位:贵池区路灯管理所)", "贵池区路灯管理所")] * 2
    sent_back = tracking_event("reopened", matter, department_id="dept-guichi-lighting", title="楼道灯不亮",
                               reason="居民评价不满意", due_at="2026-12-15T18:00:00+08:00")  # fmt: skip
    move(sent_back)
    assert read() == [("open", "办理中(责任单位:贵池区路灯管理所)", "贵池区路灯管理所")] * 2
    move(tracking_event("completed", matter), tracking_event("closed", matter))
    assert read() == [("closed", "已关闭(责任单位:贵池区路灯管理所)", "贵池区路灯管理所")] * 2


def test_a_finished_matter_of_an_organisation_the_replica_does_not_know_says_its_status(
    raise_matter, base, server, auth, intake, register_organisations
):
    estate = {"id": "estate-9", "kind": "property_company", "name": "某物业", "scope": YANLIUYUAN, "active": True}
    register_organisations(intake, estate)
    worker = auth("community_worker", YANLIUYUAN, subject="worker-1")
    matter = raise_matter()
    assert requests.post(f"{server}/api/v1/intake/proposals/{matter}/refer", json={"department_id": "estate-9"},
                         headers=worker).ok  # fmt: skip
    with intake.db.transaction() as session:  # as for a matter referred before intake kept the replica
        session.execute(delete(organisations))
    for kind in ("started", "completed"):
        with intake.unit_of_work() as uow:
            handlers.HANDLERS[f"tracking.task.{kind}"](uow, tracking_event(kind, matter))
    [shown] = requests.get(f"{base}/requests/{matter}.json", timeout=10).json()
    assert (shown["status"], shown["status_notes"], shown["agency_responsible"]) == ("closed", "已办结", "estate-9")


def test_a_matter_of_another_district_of_the_city_is_listed_too(platform_all, base, client):
    key = platform_all.platform.gateway().accounts.create_api_key("dongzhi-12345", "341721", 600)
    form = request_form(**{"attribute[community_code]": DONGZHI_COMMUNITY}, api_key=key)
    created = requests.post(f"{base}/requests.json", data=form, timeout=10)
    assert created.status_code == 201, created.text
    [listed] = client.get_service_requests()
    assert listed["agency_responsible"] == "尧渡社区"


# -- errors --------------------------------------------------------------------------------------------

BAD_READS = [
    ("services/potholes", {}, 404),
    ("services", {"jurisdiction_id": "341100000000"}, 404),
    ("requests", {"jurisdiction_id": "341100000000"}, 404),
    ("requests/no-such-request", {}, 404),
    ("tokens/no-such-token", {}, 404),
    ("requests", {"start_date": "yesterday"}, 400),
    ("requests", {"start_date": "2025-01-01T00:00:00"}, 400),  # no time zone
    ("requests", {"start_date": "2025-01-01T00:00:00Z", "end_date": "2025-06-01T00:00:00Z"}, 400),  # > 90 days
    ("requests", {"start_date": "2025-02-01T00:00:00Z", "end_date": "2025-01-01T00:00:00Z"}, 400),
    ("requests", {"status": "pending"}, 400),
    ("requests", {"service_code": "potholes"}, 400),
    ("requests", {"service_request_id": ",".join(str(n) for n in range(101))}, 400),
    ("no-such-resource", {}, 404),
]

BAD_POSTS = [
    ({"service_code": None}, 400, "service_code"),
    ({"service_code": "potholes"}, 400, "service_code"),
    ({"attribute[community_code]": None}, 400, "community_code"),
    ({"attribute[community_code]": "34170200100"}, 400, "community_code"),
    ({"attribute[community_code]": "341702001999"}, 400, "community_code"),  # no such community
    ({"attribute[community_code]": "341702001000"}, 400, "community_code"),  # a street, not a community
    ({"attribute[community_code]": OUTSIDE_CITY}, 400, "jurisdiction_id"),
    ({"attribute[community_code]": DONGZHI_COMMUNITY}, 403, "范围"),  # outside the key's 贵池区
    ({"description": "<script>alert(1)</script>开水炉"}, 400, "description"),
    ({"description": None}, 400, "description"),
    ({"attribute[title]": "<b>开水炉</b>"}, 400, "attribute[title]"),
    ({"lat": "north"}, 400, "lat"),
    ({"lat": "95", "long": "117.48"}, 400, "lat/long"),
    ({"long": None}, 400, "lat/long"),
    ({"media_url": "javascript:alert(1)"}, 400, "media_url"),
    ({"account_id": "x" * 65}, 400, "account_id"),
    ({"jurisdiction_id": "341100000000"}, 404, "jurisdiction_id"),
]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_bad_input_gets_the_specs_error_format_and_writes_nothing(fmt, base, post, platform_all):
    failures = []
    for resource, params, status in BAD_READS:
        response = requests.get(f"{base}/{resource}.{fmt}", params=params, timeout=10)
        code, description = spec_error(response, fmt)
        if (response.status_code, code) != (status, status) or not description:
            failures.append(f"GET {resource} {params} -> {response.status_code} {response.text}")
    for changes, status, mentions in BAD_POSTS:
        response = post(fmt=fmt, **changes)
        code, description = spec_error(response, fmt)
        if (response.status_code, code) != (status, status) or mentions not in description:
            failures.append(f"POST {changes} -> {response.status_code} {response.text}")
    assert not failures, "\n".join(failures)
    assert proposal_count(platform_all) == 0
    with intake_db(platform_all).sessions() as session:
        assert session.scalar(select(func.count()).select_from(bus.outbox)) == 0


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_refusals_are_in_the_specs_format_too(fmt, base, post, platform_all):
    anonymous = post(fmt=fmt, key=None)
    assert anonymous.status_code == 403
    code, description = spec_error(anonymous, fmt)
    assert code == 403 and "api_key" in description

    other_city = platform_all.platform.gateway().accounts.create_api_key(f"dongzhi-{fmt}", "341721", 600)
    outside = post(fmt=fmt, key=other_city)  # 东至县's key, 烟柳园社区 of 贵池区
    assert outside.status_code == 403
    code, description = spec_error(outside, fmt)
    assert code == 403 and "不在您的范围内" in description

    not_allowed = requests.delete(f"{base}/requests.{fmt}", timeout=10)
    assert not_allowed.status_code == 405 and spec_error(not_allowed, fmt)[0] == 405
    assert set(not_allowed.headers["Allow"].split(", ")) == {"GET", "POST"}
    unknown_format = requests.get(f"{base}/services.csv", headers={"Accept": f"text/{fmt}"}, timeout=10)
    assert unknown_format.status_code == 404
    assert proposal_count(platform_all) == 0


def test_a_revoked_key_is_refused_at_the_gateway_in_the_spec_format(base, post, platform_all):
    platform_all.platform.gateway().accounts.revoke_api_key("guichi-12345")
    refused = post()
    assert refused.status_code == 403  # the spec's answer for a bad api_key
    assert refused.json()[0]["code"] == 403 and "API密钥" in refused.json()[0]["description"]
    as_xml = post(fmt="xml")
    assert as_xml.status_code == 403 and spec_error(as_xml, "xml")[0] == 403
    assert proposal_count(platform_all) == 0


# -- personal data ---------------------------------------------------------------------------------------


def test_personal_data_is_neither_stored_nor_echoed(post, base, client, platform_all, caplog):
    caplog.set_level(logging.DEBUG)
    personal = {"phone": PHONE, "email": EMAIL, "first_name": GIVEN_NAME, "last_name": SURNAME, "device_id": "dev-1"}
    answers = [post(**personal), post(fmt="xml", **personal)]
    assert [a.status_code for a in answers] == [201, 201]
    proposal_id = answers[0].json()[0]["service_request_id"]
    answers += [
        requests.get(f"{base}/requests/{proposal_id}.json", timeout=10),
        requests.get(f"{base}/requests/{proposal_id}.xml", timeout=10),
        requests.get(f"{base}/requests.json", timeout=10),
        requests.get(f"{base}/requests.xml", timeout=10),
        requests.get(f"{base}/tokens/{proposal_id}.json", timeout=10),
    ]
    assert client.get_service_request(proposal_id)["description"] == DESCRIPTION
    stored = everything_stored(platform_all)
    assert proposal_id in stored
    for value in (PHONE, EMAIL, SURNAME, GIVEN_NAME, "dev-1"):
        assert value not in stored, value
        for answer in answers:
            assert value not in answer.text, (value, answer.url)
        assert value not in caplog.text, value


def test_numbers_a_resident_typed_into_the_text_are_masked_in_public(raise_matter, client, xml_client):
    proposal_id = raise_matter(
        description="开水炉扰民,请联系13812345678张三,或138 1234 5678、+86-139-5678-5678、１３９１２３４５６７８,"
        "座机0566-2123456,邮箱zhangsan@example.com,身份证34170219800101123X,2026-12-18前处理",
        address_string="绣春巷12号(电话(0566)2123456)",
        **{"attribute[title]": "请联系13812345678张三"},
    )
    for read in (client.get_service_request(proposal_id), xml_client.get_service_request(proposal_id)):
        assert read["description"] == (
            "开水炉扰民,请联系[已隐去]张三,或[已隐去]、[已隐去]、[已隐去],"
            "座机[已隐去],邮箱[已隐去],身份证[已隐去],2026-12-18前处理"
        )
        assert read["address"] == "绣春巷12号(电话[已隐去])"
        assert "13812345678" not in json.dumps(read, ensure_ascii=False)


# -- directly on intake, and the rules behind it -----------------------------------------------------------


def test_directly_on_intake_with_a_bearer_token(platform, with_divisions, auth):
    intake = platform.runtime("intake")
    http = intake.create_api().test_client()
    form = request_form()
    created = http.post("/open311/v2/requests.json", data=form, headers=auth("resident", YANLIUYUAN, subject="r-1"))
    assert created.status_code == 201, created.json
    with intake.db.sessions() as session:
        stored = repository.get(session, created.json[0]["service_request_id"])
    assert (stored.channel, stored.submitter_id) == ("web", "r-1")
    department = http.post("/open311/v2/requests.xml", data=form, headers=auth("department", "341702"))
    assert department.status_code == 403
    assert xmltodict.parse(department.data)["errors"]["error"]["code"] == "403"
    nobody = http.post("/open311/v2/requests.json", data=form)
    assert nobody.status_code == 403 and nobody.json[0]["code"] == 403
    assert http.get("/open311/v2/services.json").status_code == 200  # public: no token


def test_every_status_is_either_open_or_closed():
    assert OPEN | CLOSED == set(domain.STATUSES) and not OPEN & CLOSED


def test_the_jurisdiction_is_a_scope_prefix():
    assert scope_prefix("341700000000") == "3417"
    assert scope_prefix("340000000000") == "34"
    assert scope_prefix("341702000000") == "341702"
    assert scope_prefix("341702001000") == "341702001"
    assert scope_prefix("341702001001") == "341702001001"


def test_open311_is_not_in_the_openapi_document(gateway):
    paths = gateway.get("/api/v1/openapi.json").json["paths"]
    assert paths and not [path for path in paths if path.startswith("/open311")]
