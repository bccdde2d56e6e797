"""The city's operator at a desk, through the demo (池阳街道's four matters carried out and rated, a
year of consultations recorded across 贵池区 and 东至县): the coverage view of 池州市, each figure
checked against the coverage, period and rates APIs asked with the operator's own token; the
drill-down to 贵池区, 池阳街道 and its silent communities; the CSV; and a district's operator on her
phone, who sees only her district. Every page passes axe-core and is photographed."""

from __future__ import annotations

import csv
import io
import json

import pytest
import urllib3

from tests.browser.conftest import Phone, bearer

GUICHI, CHIYANG = "341702", "341702001"


@pytest.fixture
def desk(browser, site):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN", bypass_csp=True,
                                  accept_downloads=True)  # fmt: skip
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield Phone(page, site[0])
    context.close()


def api(url: str, username: str):
    """GET the gateway's API with the account's own bearer token."""
    headers = bearer(url, username)

    def get(path: str, **query) -> dict:
        answer = urllib3.request("GET", url + path, fields=query, headers=headers)
        assert answer.status == 200, (path, answer.status, answer.data)
        return json.loads(answer.data)

    return get


def shown(ratio) -> str:
    return "—" if ratio is None else f"{ratio:.1%}"


def figure(page, name: str) -> str:
    return page.locator(f"[data-figure={name}]").inner_text().strip()


def cells(page, table: str, code: str) -> list[str]:
    return [c.strip() for c in page.locator(f"#{table} tr[data-code='{code}'] > *").all_inner_texts()]


def test_an_operator_walks_the_coverage_view_and_its_figures_are_the_apis(desk, site):
    url, _, _ = site
    get = api(url, "chizhou.operator")
    page = desk.sign_in("chizhou.operator")
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="覆盖率").click()
    page.wait_for_url(f"{url}/coverage")
    city = get("/api/v1/tracking/coverage", scope="3417", level="district")
    total = city["total"]
    assert page.get_by_role("heading", name="池州市协商覆盖率").is_visible()
    assert figure(page, "coverage_ratio") == shown(total["coverage_ratio"])
    assert (figure(page, "covered"), figure(page, "communities")) == (str(total["covered"]), str(total["communities"]))
    assert figure(page, "regularity") == shown(total["regularity"])
    assert figure(page, "silent") == str(total["silent"])
    for area in city["areas"]:
        row = cells(page, "areas", area["code"])
        assert row[:4] == [area["name"], str(area["communities"]), str(area["covered"]), shown(area["coverage_ratio"])]
        assert row[4] == shown(area["regularity"]) and row[6] == str(area["silent"])

    # The chart, and this month's point of it, the rolling figure.
    assert page.get_by_role("img", name="近12个月的覆盖率").is_visible()
    this_month = page.locator("#history tbody tr").last  # in a closed <details>: its text, not what shows
    assert this_month.locator("td").first.text_content() == shown(total["coverage_ratio"])

    # The CSV: the same rows, and the period of its 三率, which the page's 三率 are the rates API's for.
    with page.expect_download() as download:
        page.get_by_role("link", name="导出 CSV").click()
    rows = list(csv.DictReader(io.StringIO(open(download.value.path(), encoding="utf-8-sig").read())))
    assert [(r["区划代码"], r["覆盖率"]) for r in rows] == [
        (a["code"], str(a["coverage_ratio"])) for a in (total, *city["areas"])
    ]
    for row in rows:
        rates = get("/api/v1/tracking/rates", scope=row["区划代码"], since=row["三率起"], until=row["三率止"])
        shown_rates = cells(page, "rates", row["区划代码"])
        assert [c.split()[0] for c in shown_rates[1:]] == [
            shown(rates[k]) for k in ("response_rate", "resolution_rate", "satisfaction_rate")
        ]
    guichi_rates = get("/api/v1/tracking/rates", scope=GUICHI, since=rows[1]["三率起"], until=rows[1]["三率止"])
    assert guichi_rates["assigned"] >= 4 and guichi_rates["ratings"] >= 1  # the demo's four tasks, rated
    desk.check("20-coverage-city")

    # Down to 贵池区's streets, then 池阳街道's communities and those silent there.
    page.locator("#areas").get_by_role("link", name="贵池区").click()
    page.wait_for_url(f"{url}/coverage?scope={GUICHI}")
    streets = get("/api/v1/tracking/coverage", scope=GUICHI, level="street")
    assert figure(page, "coverage_ratio") == shown(streets["total"]["coverage_ratio"])
    for area in streets["areas"]:
        assert cells(page, "areas", area["code"])[2:4] == [str(area["covered"]), shown(area["coverage_ratio"])]
    desk.check("21-coverage-district")
    page.locator("#areas").get_by_role("link", name="池阳街道").click()
    page.wait_for_url(f"{url}/coverage?scope={CHIYANG}")
    assert page.get_by_role("navigation", name="区划层级").get_by_role("link", name="贵池区").is_visible()
    chiyang = get("/api/v1/tracking/coverage", scope=CHIYANG, level="community")
    assert figure(page, "covered") == str(chiyang["total"]["covered"])
    desk.check("22-coverage-street")
    page.get_by_role("link", name="名单").click()
    page.wait_for_url(f"{url}/coverage/silent?scope={CHIYANG}")
    listed = sorted(page.locator("#quiet tbody tr").evaluate_all("rows => rows.map(r => r.dataset.code)"))
    assert listed == sorted(chiyang["total"]["silent_communities"])
    assert figure(page, "quiet") == str(chiyang["total"]["silent"])
    desk.check("23-coverage-silent")


def test_a_district_operator_sees_only_her_district(phone, site):
    url, _, _ = site
    get = api(url, "dongzhi.district")
    phone.sign_in("dongzhi.district")
    page = phone.go("/coverage")
    own = get("/api/v1/tracking/coverage", scope="341721", level="street")
    assert page.get_by_role("heading", name="东至县协商覆盖率").is_visible()
    assert figure(page, "coverage_ratio") == shown(own["total"]["coverage_ratio"])
    assert figure(page, "projected_full_coverage") != ""
    phone.check("24-coverage-phone")
    page = phone.go(f"/coverage?scope={GUICHI}")
    assert page.get_by_role("alert").first.inner_text() == "该区划不在您的管辖范围内"  # tracking's refusal, as a page
