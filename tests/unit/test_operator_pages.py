"""The operators' coverage view (/coverage) through the gateway: its figures are the coverage,
period and rates APIs' own (the same numbers, read back from the page and the CSV), scoped like
them (a district's operator sees only the district), with the communities silent for N months
named and bad input answered as a page, never a 500.

The history: consultations recorded afterwards (补录) in 秋浦社区 two months ago, 西街社区 five
months ago and 尧渡社区 (东至县) last month, so that 池州市 covers 3 of its 8 communities now and
fewer before."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from html.parser import HTMLParser

import pytest

from services.tracking.domain import beijing_date
from tests.support import wait_until

PASSWORD = "池州市-覆盖率-2026"
QIUPU, XIJIE, YAODU = "341702002001", "341702001002", "341721100001"
CHIYANG, GUICHI, DONGZHI = "341702001", "341702", "341721"
COVERAGE = "/api/v1/tracking/coverage"


def months_ago(today: date, months: int) -> datetime:
    """Noon in Beijing on the 15th of the month ``months`` before ``today``'s."""
    index = today.year * 12 + today.month - 1 - months
    return datetime(index // 12, index % 12 + 1, 15, 4, tzinfo=UTC)


class Cells(HTMLParser):
    """The text of each ``data-figure`` element and of each table row with a ``data-code``, by table id."""

    def __init__(self, html: str):
        super().__init__()
        self.figures: dict[str, str] = {}
        self.rows: dict[str, dict[str, list[str]]] = {}
        self._table, self._row, self._figure, self._cell = None, None, None, None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self._table = attrs.get("id")
        elif tag == "tr" and attrs.get("data-code") and self._table:
            self._row = self.rows.setdefault(self._table, {}).setdefault(attrs["data-code"], [])
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        if attrs.get("data-figure"):
            self._figure = (attrs["data-figure"], [])

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr":
            self._row = None
        elif self._figure and tag in ("strong", "span", "dd"):
            self.figures[self._figure[0]] = "".join(self._figure[1]).strip()
            self._figure = None

    def handle_data(self, data):
        for sink in (self._cell, self._figure and self._figure[1]):
            if sink is not None:
                sink.append(data)


def shown(ratio) -> str:
    return "—" if ratio is None else f"{ratio:.1%}"


@pytest.fixture
def accounts(platform_all):
    made = platform_all.platform.gateway().accounts
    made.create_user("chizhou.op", PASSWORD, "city_operator", "3417", "池州市运营")
    made.create_user("guichi.op", PASSWORD, "district_admin", GUICHI, "贵池区")
    made.create_user("yanliuyuan.ayi", PASSWORD, "resident", "341702001001", "王阿姨")


@pytest.fixture
def history(gateway, auth, accounts):
    today = beijing_date(datetime.now(UTC))
    for community, months, district in ((QIUPU, 2, GUICHI), (XIJIE, 5, GUICHI), (YAODU, 1, DONGZHI)):
        body = {
            "division_code": community, "title": "居民议事会", "form": "community_council", "mode": "offline",
            "held_at": months_ago(today, months).isoformat(), "venue": "社区议事室",
            "topics": [{"title": "小区环境整治", "origin": "top_down"}], "attendance": {"resident_representative": 9},
            "decision": "no_consensus", "explanation": "下次再议", "minutes_url": "https://docs.example/minutes.pdf",
        }  # fmt: skip
        official = auth("district_admin", district)
        made = gateway.post("/api/v1/meetings/consultations/recorded", json=body, headers=official)
        assert made.status_code == 201, made.json
    operator = auth("city_operator", "3417")
    wait_until(lambda: gateway.get(COVERAGE, headers=operator).json["total"]["covered"] == 3, what="tracking counting")
    return operator


def sign_in(gateway, username: str) -> None:
    login = gateway.get("/login").get_data(as_text=True)
    token = login.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    assert gateway.post("/login", data={"csrf": token, "username": username, "password": PASSWORD}).status_code == 303


def test_the_city_view_shows_the_coverage_apis_figures(gateway, history):
    sign_in(gateway, "chizhou.op")
    page = gateway.get("/coverage")
    assert page.status_code == 200 and "Content-Security-Policy" in page.headers
    cells = Cells(page.get_data(as_text=True))
    api = gateway.get(COVERAGE, query_string={"scope": "3417", "level": "district"}, headers=history).json
    total = api["total"]
    assert cells.figures["covered"] == "3" == str(total["covered"])
    assert cells.figures["communities"] == str(total["communities"])
    assert cells.figures["coverage_ratio"] == shown(total["coverage_ratio"]) == "37.5%"
    assert cells.figures["regularity"] == shown(total["regularity"])
    for area in api["areas"]:  # each district's row: communities, covered, ratio, regularity, silent
        row = cells.rows["areas"][area["code"]]
        assert row[1:5] == [str(area["communities"]), str(area["covered"]), shown(area["coverage_ratio"]),
                            shown(area["regularity"])] and row[6] == str(area["silent"])  # fmt: skip
    assert cells.rows["areas"][GUICHI][0] == "贵池区" and cells.rows["areas"][DONGZHI][2] == "1"


def test_the_chart_is_coverage_of_the_window_ending_each_month(gateway, history):
    sign_in(gateway, "chizhou.op")
    text = gateway.get("/coverage").get_data(as_text=True)
    assert '<svg viewBox="0 0 560 300" role="img"' in text and "目标 100%" in text  # the tests' default target
    # The data behind the chart: per month, the city's, 贵池区's and 东至县's coverage.
    by_month = {month: cells[1:] for month, cells in Cells(text).rows["history"].items()}
    today = beijing_date(datetime.now(UTC))
    months = list(by_month)
    assert len(months) == 12 and months[-1] == f"{today:%Y-%m}"
    # 西街 five months ago, 秋浦 two, 尧渡 one: 1, 2, then 3 of the city's 8 communities.
    assert [by_month[m][0] for m in months[-7:]] == ["0.0%", "12.5%", "12.5%", "12.5%", "25.0%", "37.5%", "37.5%"]
    for month in months:  # each month is the period API's window of 12 months ending then
        index = int(month[:4]) * 12 + int(month[5:]) - 12
        since = f"{index // 12}-{index % 12 + 1:02d}"
        period = gateway.get(f"{COVERAGE}/period", headers=history,
                             query_string={"scope": "3417", "since": since, "until": month}).json  # fmt: skip
        assert by_month[month] == [shown(period["total"]["coverage_ratio"]),
                                   *(shown(a["coverage_ratio"]) for a in period["areas"])], month  # fmt: skip
    this_month = gateway.get(COVERAGE, query_string={"scope": "3417"}, headers=history).json["total"]
    assert by_month[months[-1]][0] == shown(this_month["coverage_ratio"])


def test_the_csv_holds_the_same_numbers(gateway, history):
    sign_in(gateway, "chizhou.op")
    exported = gateway.get("/coverage/export.csv")
    assert exported.status_code == 200 and exported.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.get_data().decode("utf-8-sig"))))
    api = gateway.get(COVERAGE, query_string={"scope": "3417"}, headers=history).json
    assert [r["区划代码"] for r in rows] == ["3417", *(a["code"] for a in api["areas"])]
    for row, area in zip(rows, (api["total"], *api["areas"]), strict=True):
        expected = (area["communities"], area["covered"], str(area["coverage_ratio"]))
        assert (int(row["社区数"]), int(row["已覆盖"]), row["覆盖率"]) == expected
    period = {"scope": GUICHI, "since": rows[1]["三率起"], "until": rows[1]["三率止"]}
    rates = gateway.get("/api/v1/tracking/rates", headers=history, query_string=period).json
    assert int(rows[1]["分派任务"]) == rates["assigned"] and rows[1]["响应率"] == str(rates["response_rate"] or "")
    assert rows[0]["目标覆盖率"] == str(api["target"]["ratio"]) and rows[0]["截至"] == api["as_of"]


def test_a_district_operator_sees_only_the_district(gateway, history):
    sign_in(gateway, "guichi.op")
    own = Cells(gateway.get("/coverage").get_data(as_text=True))
    assert own.figures["covered"] == "2" and set(own.rows["areas"]) == {CHIYANG, "341702002"}
    for path in ("/coverage?scope=341721", "/coverage?scope=3417", "/coverage/export.csv?scope=3417",
                 "/coverage/silent?scope=341721"):  # fmt: skip
        refused = gateway.get(path)
        assert refused.status_code == 403 and 'role="alert"' in refused.get_data(as_text=True), path


def test_the_drill_down_reaches_the_street_and_names_its_silent_communities(gateway, history):
    sign_in(gateway, "guichi.op")
    street = gateway.get(f"/coverage?scope={CHIYANG}").get_data(as_text=True)
    assert '<nav aria-label="区划层级"' in street and f'href="/coverage?scope={GUICHI}"' in street
    assert set(Cells(street).rows["areas"]) == {f"{CHIYANG}{n:03d}" for n in (1, 2, 3, 4)}
    api = gateway.get(COVERAGE, query_string={"scope": CHIYANG, "level": "community"}, headers=history).json
    silent = Cells(gateway.get(f"/coverage/silent?scope={CHIYANG}").get_data(as_text=True))
    assert sorted(silent.rows["quiet"]) == sorted(api["total"]["silent_communities"])  # 6 months: all but 西街
    assert XIJIE not in silent.rows["quiet"] and len(silent.rows["quiet"]) == api["total"]["silent"] == 3
    three = Cells(gateway.get(f"/coverage/silent?scope={GUICHI}&months=3").get_data(as_text=True))
    assert XIJIE in three.rows["quiet"] and QIUPU not in three.rows["quiet"]  # 西街's was five months ago
    assert three.rows["quiet"][XIJIE][:2] == ["西街社区", "池阳街道"]


def test_bad_input_and_other_roles_are_answered_as_pages(gateway, history):
    assert gateway.get("/coverage").headers["Location"].endswith("/login")
    sign_in(gateway, "chizhou.op")
    for path in ("/coverage?months=0", "/coverage?scope=abc", "/coverage/silent?months=99"):
        refused = gateway.get(path)
        assert refused.status_code in (400, 422) and 'role="alert"' in refused.get_data(as_text=True), path
    gateway.delete_cookie("xs_session")
    sign_in(gateway, "yanliuyuan.ayi")
    assert gateway.get("/coverage").status_code == 403
