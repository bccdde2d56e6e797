"""The city and district operators' coverage view at ``/coverage``: coverage by area against the
target with the projected date, coverage over time, regularity and the 三率 per area, the
communities without a consultation for N months, drill-down city → district → street →
community, and the table as CSV.

Every figure is tracking's own answer, asked with the operator's session (so a district
operator sees only the district, as the API scopes it): the rolling figures from
``/tracking/coverage``, the line over time from ``/tracking/coverage/period`` (the coverage of
month M is the communities covered in the window ending with M: the same definition), the 三率
from ``/tracking/rates/areas`` over the window (each area's ``/tracking/rates``, in one request:
a street's thirty communities would otherwise be thirty requests against the gateway's
per-client burst). Nothing is computed here but the chart's geometry."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from flask import Blueprint, Response, g, request

from shared.clock import BEIJING
from web.client import Answer
from web.coverage_chart import chart
from web.pages import ask, page, signed_in

COVERAGE, PERIOD = "/api/v1/tracking/coverage", "/api/v1/tracking/coverage/period"
AREA_RATES = "/api/v1/tracking/rates/areas"
# The level below a scope of so many digits (a province's or city's districts, a district's
# streets, a street's communities); a community has none.
LEVELS = ((6, "district", "区县"), (9, "street", "街道(乡镇)"), (12, "community", "社区(村)"))
CHART_MONTHS = 12
CHART_AREAS = 8  # more lines than this (a street's communities) and only the scope's own is drawn
ASKED = ("scope", "months")  # what the pages pass on to the API, which checks it


class Refused(Exception):
    def __init__(self, answer: Answer):
        self.answer = answer


@dataclass
class Rates:
    assigned: int = 0
    responded: int = 0
    resolved: int = 0
    ratings: int = 0
    satisfied: int = 0
    response_rate: float | None = None
    resolution_rate: float | None = None
    satisfaction_rate: float | None = None


def child_level(scope: str) -> tuple[str, str] | None:
    """(level, its Chinese name) of the areas one level below ``scope``."""
    return next(((level, name) for digits, level, name in LEVELS if digits > len(scope)), None)


def month(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


def day_cn(value) -> str:
    """A date (Beijing's day, as tracking answers it) as people write it."""
    if not value:
        return "—"
    day = date.fromisoformat(value) if isinstance(value, str) else value
    return f"{day.year}年{day.month}月{day.day}日"


def percent(value) -> str:
    return "—" if value is None else f"{value:.1%}"


def rates_period(as_of: date, window: int) -> tuple[str, str]:
    """The 三率's period: from the first day of the coverage window to the end of today, Beijing time."""
    first = month_index(as_of) - window + 1
    since = datetime.combine(date(first // 12, first % 12 + 1, 1), time(), BEIJING)
    until = datetime.combine(as_of + timedelta(days=1), time(), BEIJING)
    return since.isoformat(), until.isoformat()


coverage = Blueprint("coverage_view", __name__)
coverage.add_app_template_filter(day_cn, "day_cn")
coverage.add_app_template_filter(percent, "percent")


def read(path: str, **query) -> dict:
    """Tracking's answer; a refusal (out of scope, a bad window) becomes the page of its message."""
    answer = ask("GET", path, query={k: v for k, v in query.items() if v not in (None, "")})
    if not answer.ok:
        raise Refused(answer)
    return answer.body


@coverage.errorhandler(Refused)
def _refused(refused: Refused):
    return page("error.html", refused.answer.status, message=refused.answer.message())


def asked() -> dict:
    me = signed_in()
    query = {name: request.args.get(name, "").strip() for name in ASKED}
    query["scope"] = query["scope"] or me["scope"]
    return query


def figures(scope: str, months: str) -> tuple[dict, list[dict]]:
    """The coverage of ``scope`` (its line first, then its areas one level down: tracking's
    ``AreaOut``), each with its 三率 (``rates``) over the window."""
    below = child_level(scope)
    found = read(COVERAGE, scope=scope, months=months, level=below[0] if below else "community")
    since, until = rates_period(date.fromisoformat(found["as_of"]), found["window_months"])
    rates = read(AREA_RATES, scope=scope, level=below[0] if below else "community", since=since, until=until)
    by_code = {r["code"]: r for r in (rates["total"], *rates["areas"])}
    lines = [dict(area) for area in (found["total"], *found["areas"])]
    for line in lines:
        answer = by_code.get(line["code"], {})
        line["rates"] = Rates(**{k: v for k, v in answer.items() if k in Rates.__dataclass_fields__})
    return {**found, "rates_since": since, "rates_until": until, "level": below}, lines


def over_time(found: dict, lines: list[dict]) -> dict:
    """Coverage at the end of each of the last months (the window ending then): the scope's, and
    its areas' when they are districts or streets few enough to tell apart."""
    level = found["level"][0] if found["level"] else "community"
    drawn = lines if level != "community" and len(lines) <= CHART_AREAS + 1 else lines[:1]
    current, window = month_index(date.fromisoformat(found["as_of"])), found["window_months"]
    ends = range(current - CHART_MONTHS + 1, current + 1)
    ratios: dict[str, list] = {line["code"]: [] for line in drawn}
    for end in ends:
        answer = read(
            PERIOD, scope=found["total"]["code"], level=level, since=month(end - window + 1), until=month(end)
        )
        by_code = {a["code"]: a["coverage_ratio"] for a in (answer["total"], *answer["areas"])}
        for code, values in ratios.items():
            values.append(by_code.get(code))
    months = [month(end) for end in ends]
    named = [(line["name"] or line["code"], ratios[line["code"]]) for line in drawn]
    return {"months": months, "lines": named, "chart": chart(months, named, found["target"]["ratio"])}


def trail(scope: str, name: str | None) -> list[tuple[str, str]]:
    """The areas from the operator's own scope down to this one, for the way back up."""
    own = g.me["scope"]
    named = []
    for code in (scope[:digits] for digits in (4, 6, 9) if len(own) <= digits < len(scope)):
        division = ask("GET", f"/api/v1/tracking/divisions/{code.ljust(12, '0')}")
        named.append((code, division.body.get("name", code) if division.ok else code))
    return [*named, (scope, name or scope)]


@coverage.get("/coverage")
def overview():
    query = asked()
    found, lines = figures(query["scope"], query["months"])
    scope = found["total"]["code"]
    return page("operator/coverage.html", found=found, total=lines[0], areas=lines[1:], months=query["months"],
                history=over_time(found, lines) if scope else None, trail=trail(scope, lines[0]["name"]))  # fmt: skip


@coverage.get("/coverage/silent")
def silent():
    query = asked()
    scope = query["scope"]
    default = read(COVERAGE, scope=scope, level="community")["silent_months"]
    found = read(COVERAGE, scope=scope, level="community", months=query["months"] or default)
    communities = found["areas"] if len(scope) < 12 else [found["total"]]
    streets = {}
    if len(scope) < 9:
        streets = {a["code"]: a["name"] for a in read(COVERAGE, scope=scope, level="street")["areas"]}
    quiet = [{**c, "street": streets.get(c["code"][:9])} for c in communities if c["covered"] == 0]
    months = found["window_months"]
    return page("operator/silent.html", found=found, quiet=quiet, months=months, scope=scope,
                by_street=bool(streets), choices=sorted({3, 6, 12, 24, default, months}),
                trail=trail(scope, found["total"]["name"]))  # fmt: skip


@coverage.get("/coverage/export.csv")
def export():
    query = asked()
    found, lines = figures(query["scope"], query["months"])
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    target = found["target"]
    for line in lines:
        r = line["rates"]
        writer.writerow((
            found["as_of"], found["window_months"], target["ratio"], target["deadline"], line["code"],
            line["name"] or "", line["communities"], line["covered"], _number(line["coverage_ratio"]),
            _number(line["regularity"]), _number(line["bottom_up_ratio"]), line["newly_covered_recently"],
            line["silent"], line["projected_full_coverage"] or "", YES_NO.get(line["on_track"], ""),
            found["rates_since"], found["rates_until"], r.assigned, r.responded, _number(r.response_rate),
            r.resolved, _number(r.resolution_rate), r.ratings, r.satisfied, _number(r.satisfaction_rate),
        ))  # fmt: skip
    name = f"coverage-{found['total']['code'] or 'all'}-{found['as_of']}.csv"
    # A BOM, so that spreadsheet programs read the Chinese headers as UTF-8.
    return Response("\ufeff" + out.getvalue(), content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})  # fmt: skip


YES_NO = {True: "是", False: "否"}
CSV_COLUMNS = (
    "截至", "窗口月数", "目标覆盖率", "目标日期", "区划代码", "名称", "社区数", "已覆盖", "覆盖率", "规律性",
    "居民议题占比", "近3月新覆盖", "沉默社区", "预计全覆盖", "按期达标", "三率起", "三率止", "分派任务",
    "24小时内签收", "响应率", "已解决", "解决率", "评价数", "满意及基本满意", "满意率",
)  # fmt: skip


def _number(value) -> float | str:
    return "" if value is None else value
