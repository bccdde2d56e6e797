"""Every target's /metrics is clean for ``promtool check metrics`` (Prometheus naming: a
``xieshang_`` prefix, base units, ``_total`` counters, ``_seconds`` histograms) and carries no label
that grows with communities, people, ids or raw paths; so is the output of several gunicorn workers
(multiprocess mode)."""

import re

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from werkzeug.test import Client

from shared.http import create_app
from tests.conftest import YANLIUYUAN
from tests.integration.processes import Processes
from tests.prometheus import promtool
from xieshang.targets import TARGETS, assemble

# Label names the platform's metrics may carry, each with a bounded set of values.
BOUNDED = {"service", "method", "route", "status", "type", "outcome", "channel", "level", "area", "le"}


def lint(text: str) -> None:
    checked = promtool("check", "metrics", stdin=text)
    assert checked.returncode == 0 and not checked.stdout.strip(), checked.stdout + checked.stderr
    for family in text_string_to_metric_families(text):
        if not family.name.startswith("xieshang_"):
            continue
        for sample in family.samples:
            assert set(sample.labels) <= BOUNDED, (sample.name, sample.labels)
            route = sample.labels.get("route", "")
            assert not re.search(r"\d{6,}|[0-9a-f]{8}-[0-9a-f]{4}", route), f"a raw path as a route: {route}"
            area = sample.labels.get("area", "")
            assert len(area) <= 6, f"an area finer than a district: {area}"


def exposition(platform, target: str, auth) -> str:
    assembly = assemble(platform, target)
    app = assembly.http_entry or create_app(target, verifier=None, ready_checks=assembly.ready_checks)
    client = Client(app)
    if assembly.http_entry is not None:  # requests with ids in their paths: routes stay templates
        headers = auth("community_worker", YANLIUYUAN)
        for service in ("intake", "tracking"):
            client.get(f"/api/v1/{service}/nothing/{YANLIUYUAN}/0b6f1c1e-0000-4000-8000-000000000000", headers=headers)
        client.get("/api/v1/tracking/tasks/0b6f1c1e-0000-4000-8000-000000000000", headers=headers)
        client.get(f"/public/{YANLIUYUAN}.json")
    answer = client.get("/metrics")
    assert answer.status_code == 200
    return answer.get_data(as_text=True)


@pytest.mark.parametrize("target", TARGETS)
def test_every_targets_metrics_are_clean(platform, with_divisions, auth, target):
    lint(exposition(platform, target, auth))


def test_the_gauges_of_a_district_are_exported_by_the_tracking_targets(platform, with_divisions, auth):
    text = exposition(platform, "tracking-api", auth)
    assert 'xieshang_coverage_communities{level="district",area="341702"}' in text
    assert "xieshang_coverage_target_deadline_timestamp_seconds" in text


def test_several_gunicorn_workers_give_clean_metrics(env, platform, tmp_path):
    processes = Processes(env, tmp_path)
    url = processes.start("intake-api", XIESHANG_WEB_CONCURRENCY="2")
    try:
        for _ in range(10):
            requests.get(f"{url}/api/v1/intake/proposals/{YANLIUYUAN}", headers={"Connection": "close"}, timeout=5)
        text = requests.get(f"{url}/metrics", timeout=5).text
    finally:
        processes.stop_all()
    assert 'route="/api/v1/intake/proposals/<proposal_id>"' in text
    lint(text)
