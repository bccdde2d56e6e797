"""Browser tests: Debian's chromium (``deploy/browser/install.sh``; no browser download) driven by
Playwright for Python through the residents' web app of the whole platform, served on a free
port with the demo loaded. axe-core (``axe.min.js``, vendored from the npm registry: version in
its first line, licence beside it) checks each page; a screenshot of each page goes to
``test-artifacts/screenshots/`` (``XIESHANG_TEST_ARTIFACTS`` to choose another directory).
Outside CI a missing chromium or Playwright skips the tests; with ``CI=true`` it fails them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
AXE = Path(__file__).with_name("axe.min.js")
AXE_RUN = """async () => (await axe.run(document)).violations
  .map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))}))"""
ARTIFACTS = (
    Path(os.environ.get("XIESHANG_TEST_ARTIFACTS", Path(__file__).parents[2] / "test-artifacts")) / "screenshots"
)


def _missing(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: run deploy/browser/install.sh)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        _missing("Debian's chromium is not installed")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def env(env):
    return {**env, "XIESHANG_NOTICE_DAYS": "0", "XIESHANG_RATE_LIMIT": "100000"}


@pytest.fixture
def site(settings, keys, with_divisions):
    """The whole platform on a free port, the demo loaded through it: (base URL, demo summary)."""
    from tests.races import serving
    from xieshang.demo import Demo, http_transport

    with serving(settings) as (url, platform):
        summary = Demo(http_transport(url), platform.gateway().accounts, settings.data_dir, log=lambda *_: None).run()
        yield url, summary, platform


def bearer(url: str, username: str) -> dict[str, str]:
    """The Authorization header of a demo account's own token (as a resident's app gets one)."""
    import urllib3

    from xieshang.demo import PASSWORD

    login = urllib3.request("POST", f"{url}/api/v1/auth/token", json={"username": username, "password": PASSWORD})
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


class Phone:
    """A resident's phone: a 412 px wide page with large text, axe-core and screenshots at hand."""

    def __init__(self, page, base_url: str):
        self.page, self.base_url = page, base_url

    def go(self, path: str):
        self.page.goto(self.base_url + path)
        return self.page

    def sign_in(self, username: str):
        """Sign in on the login page with the demo's password; the page once it has left /login."""
        from xieshang.demo import PASSWORD

        page = self.go("/login")
        page.get_by_label("用户名").fill(username)
        page.get_by_label("密码").fill(PASSWORD)
        page.get_by_role("button", name="登录").click()
        page.wait_for_url(lambda address: "/login" not in address)
        return page

    def check(self, name: str) -> None:
        """No serious or critical accessibility violation (axe-core), and a screenshot of the page."""
        self.page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
        found = self.page.evaluate(AXE_RUN)
        serious = [v for v in found if v["impact"] in ("serious", "critical")]
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        assert not serious, f"{name}: {serious}"


@pytest.fixture
def phone(browser, site):
    # bypass_csp: axe-core is injected into the page, which the pages' own policy would refuse.
    context = browser.new_context(viewport={"width": 412, "height": 915}, device_scale_factor=1, locale="zh-CN",
                                  is_mobile=True, has_touch=True, bypass_csp=True)  # fmt: skip
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield Phone(page, site[0])
    context.close()
