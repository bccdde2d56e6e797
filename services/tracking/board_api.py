"""Tracking's public board (居务公开, ``/public/…``, no token) and case library (典型案例,
``/api/v1/tracking/cases``) over HTTP: thin — parse, call one use case of ``board``, serialise.

- ``GET /public/<community_code>`` (HTML) and ``….json``: a community's board;
  ``GET /public/area/<code>`` (HTML) and ``….json``: a district's (6 digits) or street's (9 digits)
  communities. An unknown code is a 404: an HTML page, or problem+json for ``.json``. Answers are
  cacheable (``Cache-Control: public, max-age=300``) with an ``ETag``, the hash of the body;
  ``If-None-Match`` with it is a 304. Pages carry the day, not the time, of the answer, so the
  ETag holds until something on the page changes.
- ``GET /api/v1/tracking/cases``: pages by ``limit``/``cursor`` (keyset, the latest evaluated
  first), as tasks do. ``GET …/cases/export?format=csv|json``: the same filters, at most
  ``board.EXPORT_LIMIT`` cases (``X-Export-Truncated: true`` and ``truncated`` say when there
  were more); the CSV has a header and a UTF-8 BOM (Excel reads it as UTF-8), and a cell that
  starts like a formula is prefixed with ``'``.
- ``PUT /api/v1/tracking/cases/<task_id>/featured`` ``{"featured": true|false}``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json

from flask import Response, render_template, request
from marshmallow import Schema, fields, validate

from services.tracking import board
from shared.fields import Flag, In, Text, Whole, digits, length, one_of
from shared.http import Blueprint, current_principal, public, requires
from shared.problems import NotFound
from shared.service import current_runtime
from shared.vocabulary import CONSULTATION_FORMS

public_board = Blueprint(
    "public",
    __name__,
    url_prefix="/public",
    description="居务公开:社区协商与成果落实情况(公开,无需登录,不含个人信息)",
    template_folder="templates",
)
cases = Blueprint("cases", __name__, url_prefix="/api/v1/tracking/cases", description="典型案例(每月一课)")
BLUEPRINTS = (public_board, cases)

CACHE_CONTROL = "public, max-age=300"
HTML = "text/html; charset=utf-8"
JSON = "application/json; charset=utf-8"
_HTML_BODY = {"text/html": {"schema": {"type": "string"}}}
HTML_DOC = {
    "200": {"description": "HTML页面", "content": _HTML_BODY},
    "404": {"description": "区划不存在(HTML页面)", "content": _HTML_BODY},
}

# -- schemas ---------------------------------------------------------------------------------------------


class RatingCountsOut(Schema):
    satisfied = fields.Integer(metadata={"description": "满意"})
    basically_satisfied = fields.Integer(metadata={"description": "基本满意"})
    unsatisfied = fields.Integer(metadata={"description": "不满意"})
    total = fields.Integer()
    satisfaction_rate = fields.Float(allow_none=True, metadata={"description": "满意率:(满意+基本满意)/评价数"})


class PlaceOut(Schema):
    code = fields.String()
    name = fields.String()
    level = fields.String()


class BoardFiguresOut(Schema):
    code = fields.String()
    name = fields.String()
    consultations = fields.Integer(metadata={"description": "统计期内举行的协商次数"})
    open_tasks = fields.Integer()
    overdue_tasks = fields.Integer()
    ratings = fields.Nested(RatingCountsOut, metadata={"description": "统计期内的居民评价"})


class BoardHeldOut(Schema):
    held_on = fields.Date(metadata={"description": "举行日期(北京时间)"})
    form = fields.String()
    form_name = fields.String()
    attendees = fields.Integer()
    recorded_afterwards = fields.Boolean(metadata={"description": "会后补录"})


class BoardTaskOut(Schema):
    id = fields.String()
    title = fields.String()
    organisation = fields.String(metadata={"description": "责任单位"})
    deadline = fields.Date()
    status = fields.String()
    status_name = fields.String()
    progress = fields.Integer()
    overdue = fields.Boolean()
    noticed = fields.Boolean(metadata={"description": "已通报"})
    last_note_at = fields.AwareDateTime(allow_none=True, metadata={"description": "最新进展时间(北京时间)"})
    last_note = fields.String(allow_none=True)
    ratings = fields.Nested(RatingCountsOut)


class BoardNoticeOut(Schema):
    task_id = fields.String()
    title = fields.String()
    organisation = fields.String()
    deadline = fields.Date()
    noticed_at = fields.AwareDateTime(metadata={"description": "通报时间(北京时间)"})
    status_name = fields.String()
    still_open = fields.Boolean()


class CaseOut(Schema):
    task_id = fields.String()
    community_code = fields.String()
    community_name = fields.String(allow_none=True)
    title = fields.String()
    proposal_title = fields.String(allow_none=True)
    category = fields.String(allow_none=True)
    category_name = fields.String(allow_none=True)
    form = fields.String(allow_none=True)
    form_name = fields.String(allow_none=True)
    held_on = fields.Date(allow_none=True)
    agreed = fields.String(metadata={"description": "商定事项"})
    result = fields.String(allow_none=True, metadata={"description": "办理结果(办结说明)"})
    organisation = fields.String()
    status = fields.String()
    status_name = fields.String()
    evaluated_at = fields.AwareDateTime(metadata={"description": "评价完成时间(北京时间)"})
    ratings = fields.Nested(RatingCountsOut)
    featured = fields.Boolean()


class BoardOut(Schema):
    community = fields.Nested(PlaceOut)
    parents = fields.List(fields.Nested(PlaceOut), metadata={"description": "所属街道、区县"})
    as_of = fields.Date()
    since = fields.Date(metadata={"description": "统计期起始日(近12个月)"})
    figures = fields.Nested(BoardFiguresOut)
    consultations = fields.List(fields.Nested(BoardHeldOut))
    tasks = fields.List(fields.Nested(BoardTaskOut))
    notices = fields.List(fields.Nested(BoardNoticeOut), metadata={"description": "超期通报"})
    cases = fields.List(fields.Nested(CaseOut), metadata={"description": "典型案例"})


class AreaSummaryOut(Schema):
    area = fields.Nested(PlaceOut)
    parents = fields.List(fields.Nested(PlaceOut))
    as_of = fields.Date()
    since = fields.Date()
    total = fields.Nested(BoardFiguresOut)
    communities = fields.List(fields.Nested(BoardFiguresOut))


class CaseFilters(Schema):
    category = Text(load_default=None, validate=length("类别", 64))
    community = Text(load_default=None, validate=digits("社区或区域代码"))
    form = Text(load_default=None, validate=one_of(CONSULTATION_FORMS, "协商形式"))
    featured = Flag(load_default=None)
    q = Text(load_default=None, validate=length("关键词", 50))


class CaseQuery(CaseFilters):
    limit = Whole(digits=True, load_default=20, validate=validate.Range(1, 100, error="每页条数须为1到100"))
    cursor = Text(load_default=None)


class CasePage(Schema):
    items = fields.List(fields.Nested(CaseOut))
    next_cursor = fields.String(allow_none=True)


class CaseExportQuery(CaseFilters):
    format = Text(load_default="csv", validate=one_of(("csv", "json"), "导出格式"))


class CaseExport(Schema):
    items = fields.List(fields.Nested(CaseOut))
    truncated = fields.Boolean(metadata={"description": "案例多于导出上限,只导出了最新的部分"})


EXPORT_DOC = {
    "description": "案例:JSON,或CSV(UTF-8带BOM,首行为表头)",
    "content": {"application/json": {"schema": CaseExport}, "text/csv": {"schema": {"type": "string"}}},
}


class FeaturedIn(In):
    featured = Flag(required=True)


# -- the public board ----------------------------------------------------------------------------------


@public_board.app_template_filter("day")
def _day(value) -> str:
    return f"{value.year}年{value.month}月{value.day}日" if value else "—"


@public_board.app_template_filter("minute")
def _minute(value) -> str:
    return f"{_day(value)} {value:%H:%M}" if value else "—"


@public_board.app_template_filter("percent")
def _percent(value) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _cached(body: bytes, content_type: str, status: int = 200) -> Response:
    """The answer, cacheable for five minutes, with the body's hash as its ETag (304 on a match)."""
    response = Response(body, status=status, content_type=content_type)
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.set_etag(hashlib.sha256(body).hexdigest()[:32])
    return response.make_conditional(request)


def _json(payload: dict) -> Response:
    return _cached(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode(), JSON)


def _page(template: str, **context) -> Response:
    return _cached(render_template(template, months=board.WINDOW_MONTHS, **context).encode(), HTML)


def _not_found(problem: NotFound) -> Response:
    body = render_template("public_not_found.html", message=problem.detail, as_of=None).encode()
    response = Response(body, status=404, content_type=HTML)
    response.headers["Cache-Control"] = "public, max-age=60"
    return response


def _board(community_code: str) -> board.Board:
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        return board.community_board(uow, community_code, runtime.now())


def _summary(code: str) -> board.AreaSummary:
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        return board.area_summary(uow, code, runtime.now())


@public_board.get("/<community_code>")
@public_board.doc(security=[], responses=HTML_DOC)
@public
def board_page(community_code: str):
    """A community's public board (HTML): consultations held in the last 12 months, tasks and
    their progress, overdue notices (通报), ratings, typical cases. No personal data."""
    try:
        found = _board(community_code)
    except NotFound as problem:
        return _not_found(problem)
    return _page("public_board.html", board=found, as_of=found.as_of)


@public_board.get("/<community_code>.json")
@public_board.doc(security=[])
@public_board.response(200, BoardOut)
@public_board.alt_response(404, description="社区不存在(problem+json)")
@public
def board_json(community_code: str):
    """A community's public board as JSON (the same content as the page)."""
    return _json(BoardOut().dump(_board(community_code)))


@public_board.get("/area/<code>")
@public_board.doc(security=[], responses=HTML_DOC)
@public
def area_page(code: str):
    """A district's (6 digits) or street's (9 digits) communities (HTML): consultations held in
    the last 12 months, open and overdue tasks, 满意率, and a link to each community's board."""
    try:
        found = _summary(code)
    except NotFound as problem:
        return _not_found(problem)
    return _page("public_area.html", summary=found, code=code, as_of=found.as_of)


@public_board.get("/area/<code>.json")
@public_board.doc(security=[])
@public_board.response(200, AreaSummaryOut)
@public_board.alt_response(404, description="区域不存在(problem+json)")
@public
def area_json(code: str):
    """A district's or street's summary as JSON (the same content as the page)."""
    return _json(AreaSummaryOut().dump(_summary(code)))


# -- the case library ---------------------------------------------------------------------------------


@cases.get("")
@cases.arguments(CaseQuery, location="query")
@cases.response(200, CasePage)
def list_cases(query):
    """Finished matters (evaluated or closed) the caller may see, with their story: the proposal's
    title and category, the consultation's form, what was agreed, the result, the ratings. Filters:
    category, community (a code prefix), form, featured, q (words); pages by limit/cursor."""
    limit, cursor = query.pop("limit"), query.pop("cursor")
    with current_runtime().unit_of_work() as uow:
        items, next_cursor = board.list_cases(uow, current_principal(), filters=query, limit=limit, cursor=cursor)
    return {"items": items, "next_cursor": next_cursor}


CSV_COLUMNS = (
    ("task_id", "任务编号"),
    ("community_code", "社区代码"),
    ("community_name", "社区"),
    ("title", "事项"),
    ("proposal_title", "居民建议"),
    ("category_name", "类别"),
    ("form_name", "协商形式"),
    ("held_on", "协商日期"),
    ("agreed", "商定事项"),
    ("result", "办理结果"),
    ("organisation", "责任单位"),
    ("status_name", "状态"),
    ("evaluated_at", "评价完成时间(北京时间)"),
    ("satisfied", "满意"),
    ("basically_satisfied", "基本满意"),
    ("unsatisfied", "不满意"),
    ("satisfaction_rate", "满意率"),
    ("featured", "典型案例"),
)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text  # no formulas in Excel


def _csv(items: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([label for _, label in CSV_COLUMNS])
    for item in items:
        flat = {**item, **item["ratings"]}
        flat["evaluated_at"] = item["evaluated_at"][:16].replace("T", " ")  # Beijing time, to the minute
        writer.writerow([_cell(flat.get(key)) for key, _ in CSV_COLUMNS])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


@cases.get("/export")
@cases.arguments(CaseExportQuery, location="query")
@cases.response(200, CaseExport)
@cases.doc(responses={"200": EXPORT_DOC})
def export_cases(query):
    """The cases of the list (same filters) as CSV (UTF-8 with BOM, for Excel) or JSON."""
    fmt = query.pop("format")
    with current_runtime().unit_of_work() as uow:
        items, truncated = board.export_cases(uow, current_principal(), filters=query)
    dumped = CaseOut(many=True).dump(items)
    if fmt == "json":
        response = Response(
            json.dumps({"items": dumped, "truncated": truncated}, ensure_ascii=False).encode(), content_type=JSON
        )
    else:
        response = Response(_csv(dumped), content_type="text/csv; charset=utf-8")
        response.headers["Content-Disposition"] = 'attachment; filename="cases.csv"'
    response.headers["X-Export-Truncated"] = "true" if truncated else "false"
    return response


@cases.put("/<task_id>/featured")
@cases.arguments(FeaturedIn)
@cases.response(200, CaseOut)
@requires(*board.FEATURERS)
def feature_case(body, task_id: str):
    """Mark a finished task as a typical case (典型案例), shown on its community's public board
    too; ``{"featured": false}`` takes it back."""
    runtime = current_runtime()
    with runtime.unit_of_work() as uow:
        return board.feature_case(uow, current_principal(), task_id, body["featured"], runtime.now())
