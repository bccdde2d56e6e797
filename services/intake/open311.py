"""Open311 GeoReport v2 at ``/open311/v2/`` (http://wiki.open311.org/GeoReport_v2): district systems
and 12345-style hotlines raise matters (百姓点事) and follow them with any Open311 client.

Routes, each as ``<resource>.json`` or ``<resource>.xml`` (without a suffix the ``Accept`` header
chooses, XML by default, the spec's required format):

===========================================  ======  ============================================
``GET discovery``                            public  the endpoint, its formats, the specification
``GET services``                             public  our active categories (问题菜单)
``GET services/{service_code}``              public  the definition: attributes ``community_code``
                                                     (required) and ``title`` (optional)
``POST requests``                            token   form encoded; the gateway turns ``api_key``
                                                     into a token of role ``system``
``GET requests``                             public  filters ``service_request_id``,
                                                     ``service_code``, ``start_date``, ``end_date``,
                                                     ``status`` (comma lists)
``GET requests/{service_request_id}``        public  one request
``GET tokens/{token}``                       public  the request a token stands for
===========================================  ======  ============================================

Decisions:

- **One jurisdiction.** ``jurisdiction_id`` is the city's 12-digit code (``XIESHANG_JURISDICTION_ID``).
  It may be left out; naming another one is a 404. Everything read or written lies inside it.
- **Creation is the JSON API's** (``services.submit``): same checks, same transaction, same
  ``intake.proposal.submitted`` event. The community is the required attribute
  ``attribute[community_code]``; the title is ``attribute[title]`` or the first 30 characters of
  the description. The way in is ``web``: the channel is ``district_system`` for role ``system`` (an
  ``api_key``), else ``web`` (``domain.channel_of``). A
  location is optional (the community locates the matter); ``address_id`` is not used.
  ``account_id`` names the resident (``submitter_id``); otherwise the caller is the submitter.
  The answer is ``201 Created``.
- **No personal data.** ``phone``, ``email``, ``first_name``, ``last_name`` and ``device_id`` are
  ignored: never stored, echoed or logged (residents' contact data lives only in notify).
- **Reads are public disclosure** (居务公开) and show no one: no submitter or account ids, and
  the personal numbers and e-mail addresses a resident typed into a text (mobiles in any spacing,
  landlines, identity card numbers…: ``shared.redaction``) are hidden (``[已隐去]``).
- **Status.** ``open``: submitted, eligible, accepted, scheduled, decided, in_progress, referred;
  ``closed``: resolved (已办结), closed (已关闭), rejected, merged. ``status_notes`` is our status
  in Chinese (a merged one: ``已合并至 <id>``; a referred one names the organisation carrying it
  out, when intake's replica of tracking's organisations knows it: ``已转交<名称>办理``,
  ``已办结(责任单位:<名称>)``). ``agency_responsible`` is that organisation (its name when
  known, else its id), else the community.
- **Rejected matters are listed, as closed, without their content.** A hotline that relayed a
  matter must learn that it was closed; but the JSON API shows a rejected matter to nobody but its
  submitter and the officials, so here it keeps only its category, community, dates and
  ``status_notes`` 未采纳: no description, address, coordinates or media, and not the reason
  (free text that may name people).
- **Listing window.** Without dates, the last 90 days; with one date, 90 days from or up to it; a
  range may not span more than 90 days. At most 1000 requests, newest first.
  ``service_request_id`` overrides every other filter (at most 100 ids).
- **Tokens.** Requests are created synchronously, so the token is the ``service_request_id``.
- **Errors** are the spec's: ``[{"code": 400, "description": "…"}]`` or
  ``<errors><error><code>400</code><description>…</description></error></errors>``, with the same
  HTTP status and a Chinese description. A missing or refused credential is a 403, as the spec
  has it; an input that breaks a rule is a 400; an unknown resource a 404. Errors of the gateway
  itself (a revoked ``api_key``, rate limits) stay problem+json.
- **Not in the OpenAPI document**: Open311 is specified elsewhere and describes itself through
  discovery; its form and XML wire formats are not what the platform's document describes.
"""

from __future__ import annotations

import json
import logging
import re
import xml.etree.ElementTree as ET  # builds documents only; nothing here parses XML
from datetime import UTC, datetime, timedelta

from flask import Response, current_app, request
from werkzeug.exceptions import HTTPException

from services.intake import domain, services
from shared.http import Blueprint, current_principal, open_query, public, requires
from shared.problems import BadRequest, NotFound, Problem, default_title
from shared.redaction import redact
from shared.service import current_runtime
from shared.text import plain_text

log = logging.getLogger(__name__)

PREFIX = "/open311/v2"
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-11-26T00:00:00+00:00"  # when this API last changed (discovery): bump on a change
FORMATS = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
WINDOW = timedelta(days=90)
MAX_RESULTS = 1000
MAX_IDS = 100
TITLE_FROM_DESCRIPTION = 30
GROUP = "社区协商"

OPEN = domain.OPEN_STATUSES
CLOSED = domain.CLOSED_STATUSES

# Where a domain error's field came from, in Open311's words.
PARAMETERS = {
    "category": "service_code",
    "community_code": "attribute[community_code]",
    "title": "attribute[title]",
    "description": "description",
    "location": "lat/long",
    "address": "address_string",
    "attachments": "media_url",
    "submitter_id": "account_id",
}
# The spec knows 400, 403 and 404: a refused credential is a 403, a broken rule a 400.
STATUS_CODES = {401: 403, 409: 400, 422: 400}
# XML element of a list's items, by the list's element.
XML_ITEMS = {
    "services": "service",
    "service_requests": "request",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
    "errors": "error",
}
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_COMMUNITY_CODE = re.compile(r"^[0-9]{12}$")
_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")

SERVICE_ATTRIBUTES = [
    {
        "variable": True,
        "code": "community_code",
        "datatype": "string",
        "required": True,
        "datatype_description": "社区(居委会、村委会)的12位统计用区划代码",
        "order": 1,
        "description": "事项所在的社区",
        "values": [],
    },
    {
        "variable": True,
        "code": "title",
        "datatype": "string",
        "required": False,
        "datatype_description": f"不超过{domain.MAX_TITLE}字的纯文本",
        "order": 2,
        "description": f"事项标题;不填时取描述的前{TITLE_FROM_DESCRIPTION}个字",
        "values": [],
    },
]


class _Undocumented(Blueprint):
    """A flask-smorest blueprint whose routes stay out of the OpenAPI document."""

    def register_views_in_doc(self, *args, **kwargs) -> None:
        return None


blp = _Undocumented(
    "open311",
    __name__,
    url_prefix=PREFIX,
    description="Open311 GeoReport v2(不在本文档中,见 /open311/v2/discovery.json)",
)


def _route(rule: str, methods: tuple[str, ...] = ("GET",)):
    """Register a view at ``rule`` and ``rule.<fmt>`` (the view gets ``fmt``, None without suffix)."""

    def decorate(view):
        open_query(view)  # GeoReport clients may send parameters we do not use (first_name, email...)
        blp.add_url_rule(rule, view.__name__, view, methods=list(methods))
        blp.add_url_rule(f"{rule}.<fmt>", f"{view.__name__}_suffixed", view, methods=list(methods))
        return view

    return decorate


# -- formats -------------------------------------------------------------------------------------


def _negotiated() -> str:
    """The format a request asks for: its ``.json``/``.xml`` suffix, else its Accept header."""
    for name in FORMATS:
        if request.path.endswith(f".{name}"):
            return name
    best = request.accept_mimetypes.best_match(["text/xml", "application/xml", "application/json"], "text/xml")
    return "json" if best == "application/json" else "xml"


def _format(fmt: str | None) -> str:
    if fmt is not None and fmt not in FORMATS:
        raise NotFound("不支持的格式,请使用 .json 或 .xml")
    return fmt or _negotiated()


def _element(tag: str, value) -> ET.Element:
    node = ET.Element(tag)
    if isinstance(value, dict):
        for key, item in value.items():
            node.append(_element(key, item))
    elif isinstance(value, list):
        for item in value:
            node.append(_element(XML_ITEMS[tag], item))
    elif isinstance(value, bool):
        node.text = "true" if value else "false"
    elif value is not None:
        node.text = _XML_INVALID.sub("", str(value))
    return node


def _respond(fmt: str, root: str, body, status: int = 200) -> Response:
    """``body`` as JSON, or as XML under ``root`` (UTF-8, with its declaration)."""
    if fmt == "json":
        text = json.dumps(body, ensure_ascii=False)
    else:
        text = '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(_element(root, body), encoding="unicode")
    return Response(text.encode("utf-8"), status=status, content_type=FORMATS[fmt])


def _error(status: int, description: str) -> Response:
    return _respond(_negotiated(), "errors", [{"code": status, "description": description}], status)


@blp.errorhandler(Problem)
def _problem(exc: Problem):
    status = STATUS_CODES.get(exc.status, exc.status)
    if exc.status == 401:
        description = f"需要有效的api_key:{exc.detail or exc.title}"
    else:
        description = exc.detail or exc.title
    parameter = PARAMETERS.get(exc.extra.get("field", ""))
    if parameter:
        description = f"{description}({parameter})"
    if exc.extra.get("allowed"):
        description = f"{description};可选:{'、'.join(exc.extra['allowed'])}"
    return _error(status, description)


@blp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    status = STATUS_CODES.get(exc.code or 500, exc.code or 500)
    return _error(status, default_title(status)[1])


@blp.errorhandler(Exception)
def _unexpected(exc: Exception):
    log.exception("unhandled error")
    return _error(500, default_title(500)[1])


# -- parameters ----------------------------------------------------------------------------------


def _jurisdiction(params) -> str:
    """The division-code prefix of this endpoint's jurisdiction; naming another one is refused."""
    configured = current_runtime().settings.jurisdiction_id
    named = (params.get("jurisdiction_id") or "").strip()
    if named and named != configured:
        raise NotFound(f"jurisdiction_id 不存在:本接口只服务 {configured}")
    return scope_prefix(configured)


def scope_prefix(code: str) -> str:
    """``341700000000`` → ``3417``: a 12-digit division code as the scope prefix it stands for."""
    for length in (2, 4, 6, 9):
        if not code[length:].strip("0"):
            return code[:length]
    return code


def _text(params, name: str) -> str | None:
    value = (params.get(name) or "").strip()
    return value or None


def _comma_list(params, name: str) -> list[str]:
    return [part.strip() for value in params.getlist(name) for part in value.split(",") if part.strip()]


def _datetime(params, name: str) -> datetime | None:
    value = _text(params, name)
    if value is None:
        return None
    value = re.sub(r" ([0-9]{2}:?[0-9]{2})$", r"+\1", value)  # an unencoded "+" of the offset
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"{name} 不是有效的时间,请使用 W3C 格式,如 2024-01-01T00:00:00+08:00") from None
    if parsed.tzinfo is None:
        raise BadRequest(f"{name} 必须带时区,如 2024-01-01T00:00:00Z 或 +08:00")
    return parsed.astimezone(UTC)


def _window(params, now: datetime) -> tuple[datetime, datetime]:
    """[start, end] of ``requested_datetime``: the 90 days up to ``now`` by default, never longer."""
    start, end = _datetime(params, "start_date"), _datetime(params, "end_date")
    if start is None and end is None:
        end = now
    if start is None:
        start = end - WINDOW
    if end is None:
        end = start + WINDOW
    if start > end:
        raise BadRequest("start_date 不能晚于 end_date")
    if end - start > WINDOW:
        raise BadRequest(f"start_date 到 end_date 不能超过{WINDOW.days}天")
    return start, end


def _float(params, name: str) -> float | None:
    value = _text(params, name)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        raise BadRequest(f"{name} 必须是数字(十进制度)", field="location") from None


# -- what the public sees ---------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def public_request(proposal: domain.Proposal, disclosure: services.Disclosure) -> dict:
    """A proposal as Open311 shows it to anyone: no one's ids, no personal numbers, and of a
    withheld one (``domain.shown_publicly``) not its content."""
    shown = domain.shown_publicly(proposal)
    organisation = disclosure.organisation_name(proposal)
    return {
        "service_request_id": proposal.id,
        "status": "closed" if proposal.status in CLOSED else "open",
        "status_notes": domain.status_note(proposal, organisation),
        "service_name": disclosure.category_names.get(proposal.category, proposal.category),
        "service_code": proposal.category,
        "description": redact(proposal.description) if shown else None,
        "agency_responsible": organisation
        or proposal.department_id
        or disclosure.community_names.get(proposal.community_code),
        "service_notice": None,
        "requested_datetime": _iso(proposal.submitted_at),
        "updated_datetime": _iso(proposal.updated_at),
        "expected_datetime": None,
        "address": redact(proposal.address) if shown else None,
        "address_id": None,
        "zipcode": None,
        "lat": proposal.latitude if shown else None,
        "long": proposal.longitude if shown else None,
        "media_url": proposal.attachments[0] if shown and proposal.attachments else None,
    }


def _recent(params, now: datetime) -> dict:
    """The filters of a listing without ids: service codes, statuses, the window, the limit."""
    statuses: set[str] = set()
    for wanted in _comma_list(params, "status"):
        if wanted not in ("open", "closed"):
            raise BadRequest("status 只能是 open 或 closed")
        statuses |= OPEN if wanted == "open" else CLOSED
    start, end = _window(params, now)
    return {
        "categories": _comma_list(params, "service_code"),
        "statuses": statuses,
        "since": start,
        "until": end + timedelta(microseconds=1),  # end_date is included
        "limit": MAX_RESULTS,
    }


def _ids(candidates) -> list[str]:
    """The ids among ``candidates`` that could be ours (others are not looked up)."""
    return [candidate for candidate in candidates if _ID.match(candidate)]


# -- routes ------------------------------------------------------------------------------------------


@_route("/discovery")
@blp.doc(security=[])
@public
def discovery(fmt=None):
    """Where this endpoint is and what it speaks (Open311 service discovery)."""
    fmt = _format(fmt)
    _jurisdiction(request.args)
    endpoint = {
        "specification": SPECIFICATION,
        "url": request.host_url.rstrip("/") + PREFIX,
        "changeset": CHANGESET,
        "type": "production",
        "formats": ["text/xml", "application/json"],
    }
    body = {
        "changeset": CHANGESET,
        "contact": "协商平台市级运营人员",
        "key_service": "API密钥由市级运营人员签发(xieshang apikeys create),范围为区划代码前缀",
        "endpoints": [endpoint],
    }
    return _respond(fmt, "discovery", body)


@_route("/services")
@blp.doc(security=[])
@public
def list_services(fmt=None):
    """The kinds of matter one can raise: our active categories (问题菜单)."""
    fmt = _format(fmt)
    _jurisdiction(request.args)
    with current_runtime().unit_of_work() as uow:
        active = services.list_categories(uow)
    listed = [
        {
            "service_code": code,
            "service_name": name,
            "description": f"{name}类社区事项:由社区两委确定是否列为协商议题,或转交部门办理",
            "metadata": True,
            "type": "realtime",
            "keywords": f"{name}, {GROUP}, 百姓点事",
            "group": GROUP,
        }
        for code, name in active.items()
    ]
    return _respond(fmt, "services", listed)


@_route("/services/<service_code>")
@blp.doc(security=[])
@public
def service_definition(service_code: str, fmt=None):
    """What a request of this service needs: the community, and optionally a title."""
    fmt = _format(fmt)
    _jurisdiction(request.args)
    with current_runtime().unit_of_work() as uow:
        if service_code not in services.list_categories(uow):
            raise NotFound("service_code 不存在")
    return _respond(fmt, "service_definition", {"service_code": service_code, "attributes": SERVICE_ATTRIBUTES})


@_route("/requests", methods=("POST",))
@requires(*domain.SUBMITTER_ROLES)
def create_request(fmt=None):
    """Raise a matter (form encoded); nothing personal is read."""
    fmt = _format(fmt)
    params = request.values
    prefix = _jurisdiction(params)
    principal, runtime = current_principal(), current_runtime()
    service_code = _text(params, "service_code")
    if service_code is None:
        raise BadRequest("缺少 service_code")
    community_code = _text(params, "attribute[community_code]")
    if community_code is None:
        raise BadRequest("缺少必填属性 attribute[community_code](社区的12位统计用区划代码)")
    if not _COMMUNITY_CODE.match(community_code):
        raise BadRequest("attribute[community_code] 必须是12位统计用区划代码")
    if not community_code.startswith(prefix):
        raise BadRequest("该社区不在本接口的辖区(jurisdiction_id)内")
    description = plain_text(
        "description", "描述", params.get("description") or "", domain.MAX_DESCRIPTION, multiline=True
    )
    title = _text(params, "attribute[title]") or " ".join(description.split())[:TITLE_FROM_DESCRIPTION]
    account_id = _text(params, "account_id")
    if account_id is not None and len(account_id) > 64:
        raise BadRequest("account_id 不能超过64个字符")
    media_url = _text(params, "media_url")
    location = domain.Location(_float(params, "lat"), _float(params, "long"), _text(params, "address_string"))
    with runtime.unit_of_work() as uow:
        submitted = services.submit(
            uow,
            principal,
            community_code=community_code,
            title=title,
            description=description,
            category=service_code,
            via="web",
            location=location,
            attachments=[media_url] if media_url else [],
            submitter_id=account_id,
            now=runtime.now(),
        )
    community = submitted.community.name
    notice = f"已受理:事项已提交{community},由社区两委确定是否列为协商议题;可凭 service_request_id 查询进度"
    body = [{"service_request_id": submitted.proposal.id, "service_notice": notice, "account_id": account_id}]
    return _respond(fmt, "service_requests", body, 201)


@_route("/requests")
@blp.doc(security=[])
@public
def list_requests(fmt=None):
    """Requests of the jurisdiction, newest first (see the module's notes on the window)."""
    fmt = _format(fmt)
    params = request.args
    prefix = _jurisdiction(params)
    ids = _comma_list(params, "service_request_id")
    if len(ids) > MAX_IDS:
        raise BadRequest(f"一次最多查询{MAX_IDS}个 service_request_id")
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        if ids:
            disclosure = services.public_requests(uow, prefix, _ids(ids))
        else:
            disclosure = services.recent_requests(uow, prefix, **_recent(params, runtime.now()))
    body = [public_request(proposal, disclosure) for proposal in disclosure.proposals]
    return _respond(fmt, "service_requests", body)


@_route("/requests/<service_request_id>")
@blp.doc(security=[])
@public
def get_request(service_request_id: str, fmt=None):
    """One request."""
    fmt = _format(fmt)
    prefix = _jurisdiction(request.args)
    with current_runtime().unit_of_work() as uow:
        disclosure = services.public_requests(uow, prefix, _ids([service_request_id]))
    if not disclosure.proposals:
        raise NotFound("service_request_id 不存在")
    body = [public_request(proposal, disclosure) for proposal in disclosure.proposals]
    return _respond(fmt, "service_requests", body)


@_route("/tokens/<token>")
@blp.doc(security=[])
@public
def get_token(token: str, fmt=None):
    """The request a token stands for: requests are created at once, so it is its own id."""
    fmt = _format(fmt)
    prefix = _jurisdiction(request.args)
    with current_runtime().unit_of_work() as uow:
        if not services.public_requests(uow, prefix, _ids([token])).proposals:
            raise NotFound("token 不存在")
    return _respond(fmt, "service_requests", [{"service_request_id": token, "token": token}])


@blp.route("/", defaults={"rest": ""}, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
@blp.route("/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
@public
@open_query
def unknown(rest: str):
    """Anything else under the prefix, answered in Open311's error format."""
    adapter = current_app.create_url_adapter(request)
    allowed = []
    for method in ("GET", "POST"):
        try:
            endpoint, _ = adapter.match(request.path, method=method)
        except HTTPException:
            continue
        if endpoint != request.endpoint:
            allowed.append(method)
    if allowed:
        response = _error(405, default_title(405)[1])
        response.headers["Allow"] = ", ".join(allowed)
        return response
    raise NotFound("Open311 接口中没有这个资源,请从 discovery.json 开始")
