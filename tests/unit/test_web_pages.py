"""The residents' web app through the gateway: signing in by form, pages as a signed-in resident,
the API's Chinese refusals beside the field, and forms refused without their CSRF token."""

import re

import pytest

from tests.conftest import YANLIUYUAN

PASSWORD = "红光新村-业委会-2018"


@pytest.fixture
def resident(platform_all):
    platform_all.platform.gateway().accounts.create_user("wang.ayi", PASSWORD, "resident", YANLIUYUAN, "王阿姨")
    return "wang.ayi"


def form_token(page) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def sign_in(gateway, username):
    token = form_token(gateway.get("/login"))
    return gateway.post("/login", data={"csrf": token, "username": username, "password": PASSWORD})


def test_a_resident_signs_in_and_sees_her_community(gateway, resident):
    signed = sign_in(gateway, resident)
    assert signed.status_code == 303 and "xs_session=" in signed.headers["Set-Cookie"]
    home = gateway.get("/")
    assert home.status_code == 200 and "我的社区" in home.get_data(as_text=True)
    assert (
        "no-store" in home.headers["Cache-Control"]
        and "frame-ancestors 'none'" in home.headers["Content-Security-Policy"]
    )


def test_signed_out_pages_lead_to_the_login(gateway):
    assert gateway.get("/").headers["Location"].endswith("/login")
    assert gateway.get("/api/v1/auth/me").status_code == 401  # the API stays the API


def test_a_bad_login_is_shown_on_the_page(gateway, resident):
    token = form_token(gateway.get("/login"))
    page = gateway.post("/login", data={"csrf": token, "username": resident, "password": "wrong-password"})
    assert page.status_code == 401 and "用户名或密码错误" in page.get_data(as_text=True)


def test_a_form_without_its_token_is_refused(gateway, resident):
    gateway.get("/login")
    page = gateway.post("/login", data={"username": resident, "password": PASSWORD})
    assert page.status_code == 403 and "页面已过期" in page.get_data(as_text=True)
    sign_in(gateway, resident)
    forged = gateway.post(
        "/matters/new", data={"title": "楼道堆物", "description": "消防通道被占", "category": "management"}
    )
    assert forged.status_code == 403  # the gateway refused the page's API request without the session's token


def test_a_matter_with_a_bad_field_is_refused_beside_it_and_nothing_is_saved(gateway, resident):
    sign_in(gateway, resident)
    token = form_token(gateway.get("/matters/new"))
    page = gateway.post(
        "/matters/new", data={"csrf": token, "title": "", "description": "消防通道被占", "category": "management"}
    )
    text = page.get_data(as_text=True)
    assert page.status_code == 422 and 'id="e-title"' in text, text
    assert gateway.get("/api/v1/intake/proposals", query_string={"community": YANLIUYUAN}).json["items"] == []
    made = gateway.post("/matters/new", data={"csrf": token, "title": "楼道堆物", "description": "消防通道被占",
                                              "category": "management", "place": "3栋"})  # fmt: skip
    assert made.status_code == 303 and made.headers["Location"].startswith("/matters/")
    assert "楼道堆物" in gateway.get(made.headers["Location"]).get_data(as_text=True)


def test_the_first_page_with_its_css_and_script_weighs_under_150_kb(gateway):
    weights = [len(gateway.get(path).get_data()) for path in ("/login", "/static/app.css", "/static/app.js")]
    assert sum(weights) < 150 * 1024 and all(weights)
