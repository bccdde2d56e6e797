"""A real Prometheus (Debian's package, its own port and scratch data directory, the project's
rules) scrapes ``xieshang run --target all`` under gunicorn with two workers (multiprocess
metrics) on PostgreSQL and RabbitMQ, while a scripted scenario unfolds through the gateway:

    district 341721 (2 communities)   both hold a consultation this month         covered 2/2
    district 341702 (6 communities)   烟柳园 and 西街 hold one, each with a task   covered 2/6

The coverage target is 90% within about a month. At the pace of the last three months 341721 is
done and 341702 reaches (2 + 2/3) / 6: PromQL gives the coverage per district, the alert
"misses the target" is pending for 341702 and for no other district, every dashboard query
returns data, and the exposition passes ``promtool check metrics``.

``XIESHANG_CHART_DATA=docs/coverage-by-district.json`` keeps the range query of coverage by
district over the scenario for the README's chart (``python docs/coverage_chart.py``).
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, date, datetime, timedelta

import pytest
import requests

from tests.conftest import XIJIE, YANLIUYUAN
from tests.prometheus import Prometheus, dashboard_queries, promtool
from tests.support import wait_until

EAST = ("341721100001", "341721100201")  # 东至县's two sample communities
C = "/api/v1/meetings/consultations"


class Gateway:
    def __init__(self, url: str):
        self.url = url

    def call(self, method: str, path: str, headers: dict, body: dict | None = None, ok=(200, 201)) -> dict:
        answer = requests.request(method, self.url + path, json=body, headers=headers, timeout=10)
        assert answer.status_code in ok, (path, answer.status_code, answer.text[:500])
        return answer.json()

    def eventually(self, method: str, path: str, headers: dict, body: dict | None = None, what: str = "") -> dict:
        """Retried until the events it depends on have reached the service."""

        def attempt():
            answer = requests.request(method, self.url + path, json=body, headers=headers, timeout=10)
            return answer.json() if answer.status_code in (200, 201) else None

        return wait_until(attempt, timeout=60, interval=0.3, what=what or path)


def recorded(community: str, topics: list[dict], resolutions=()) -> dict:
    held = datetime.now(UTC) - timedelta(hours=2)
    return {
        "division_code": community, "title": f"议事会 {community}", "form": "community_council", "mode": "offline",
        "held_at": held.isoformat(), "venue": "社区议事厅", "topics": topics,
        "attendance": {"resident_representative": 8, "social_organisation": 1},
        "decision": "decided" if resolutions else "no_consensus", "explanation": None if resolutions else "下次再议",
        "resolutions": list(resolutions), "minutes_url": "https://docs.example/minutes.pdf",
    }  # fmt: skip


@pytest.fixture
def env(env):
    deadline = date.today() + timedelta(days=30)
    return {**env, "XIESHANG_COVERAGE_TARGET": "0.9", "XIESHANG_COVERAGE_DEADLINE": deadline.isoformat(),
            "XIESHANG_NOTIFY_CLOCK_SECONDS": "1", "XIESHANG_RELAY_INTERVAL": "0.2", "XIESHANG_NOTICE_DAYS": "0",
            "XIESHANG_RATE_LIMIT": "100000",
            # Scrapes answer from a reading at most 1 s old (15 s by default), so each step shows promptly.
            "XIESHANG_GAUGES_MAX_AGE_SECONDS": "1"}  # fmt: skip


def test_prometheus_sees_coverage_by_district_and_the_district_left_behind(processes, auth, tmp_path):
    started = time.time()
    url = processes.start("all", XIESHANG_WEB_CONCURRENCY="2")
    assert "80 divisions read" in processes.cli("divisions", "load")
    prometheus = Prometheus(tmp_path / "prometheus", [url.removeprefix("http://")]).start()
    try:
        scenario(Gateway(url), auth, prometheus)
        check_coverage_and_alerts(prometheus)
        check_dashboards(prometheus)
        lint = promtool("check", "metrics", stdin=requests.get(f"{url}/metrics", timeout=10).text)
        assert lint.returncode == 0 and not lint.stdout.strip(), lint.stdout + lint.stderr
        keep_chart_data(prometheus, started)
    finally:
        prometheus.stop()


def coverage(prometheus: Prometheus) -> dict[str, float]:
    samples = prometheus.query('area:xieshang_coverage_ratio:max{level="district"}')
    return {s["metric"]["area"]: float(s["value"][1]) for s in samples}


def scenario(gateway: Gateway, auth, prometheus: Prometheus) -> None:
    operator = auth("city_operator", "3417", subject="operator")
    gateway.call("PUT", "/api/v1/tracking/organisations/gc-housing", operator,
                 {"kind": "department", "name": "贵池区住建局", "scope": "341702"})  # fmt: skip
    gateway.call("POST", "/api/v1/tracking/organisations/gc-housing/members", operator, {"account_id": "dept-1"})
    wait_until(lambda: coverage(prometheus).get("341721") == 0.0, timeout=60, interval=0.5, what="gauges scraped")

    # 东至县 first, one community at a time (the chart shows the steps).
    for n, community in enumerate(EAST, start=1):
        worker = auth("community_worker", community, subject=f"worker-{community}")
        gateway.eventually("POST", f"{C}/recorded", worker,
                           recorded(community, [{"title": "小区停车", "origin": "top_down"}]))  # fmt: skip
        wait_until(lambda n=n: coverage(prometheus).get("341721") == n / 2, timeout=60, interval=0.5,
                   what=f"341721 at {n}/2")  # fmt: skip
        time.sleep(3)

    # 贵池区: a resident's proposal in 烟柳园 and a top-down topic in 西街, each with a resolution.
    resident = auth("resident", YANLIUYUAN, subject="resident-1")
    proposal = gateway.eventually("POST", "/api/v1/intake/proposals", resident, {
        "community_code": YANLIUYUAN, "title": "楼道堆物", "description": "居民反映楼道堆物", "category": "environment",
    }, what="intake to receive the divisions")  # fmt: skip
    deadline = (date.today() + timedelta(days=20)).isoformat()
    for n, (community, topic) in enumerate(
        ((YANLIUYUAN, {"proposal_id": proposal["id"]}), (XIJIE, {"title": "下水道堵塞", "origin": "top_down"})), start=1
    ):
        worker = auth("community_worker", community, subject=f"worker-{community}")
        if "proposal_id" in topic:
            gateway.call("POST", f"/api/v1/intake/proposals/{proposal['id']}/accept", worker)
        resolution = {"topic_index": 0, "organisation_id": "gc-housing", "deadline": deadline, "agreed": "限期整改"}
        gateway.eventually("POST", f"{C}/recorded", worker, recorded(community, [topic], [resolution]),
                           what="the proposal and the organisation in meetings")  # fmt: skip
        wait_until(lambda n=n: coverage(prometheus).get("341702") == pytest.approx(n / 6), timeout=60, interval=0.5,
                   what=f"341702 at {n}/6")  # fmt: skip
        time.sleep(3)

    # The department takes up 烟柳园's task and completes it; the resident rates it (满意率).
    department = auth("department", "341702", subject="dept-1")

    def tasks():
        items = gateway.call("GET", "/api/v1/tracking/tasks", department)["items"]
        return items if len(items) == 2 else None

    task = next(t for t in wait_until(tasks, timeout=60, what="two tasks") if t["community_code"] == YANLIUYUAN)
    gateway.call("POST", f"/api/v1/tracking/tasks/{task['id']}/accept", department)
    gateway.call("POST", f"/api/v1/tracking/tasks/{task['id']}/complete", department, {"summary": "已清理"})
    gateway.eventually("POST", f"/api/v1/tracking/tasks/{task['id']}/ratings", resident,
                       {"choice": "satisfied", "comment": None}, what="the resident concerned by the task")  # fmt: skip


def check_coverage_and_alerts(prometheus: Prometheus) -> None:
    def alerted():
        found = [a for a in prometheus.alerts() if a["labels"]["alertname"] == "XieshangCoverageMissesTarget"]
        return found or None

    alerts = wait_until(alerted, timeout=60, interval=0.5, what="the alert")
    assert [(a["labels"]["area"], a["state"]) for a in alerts] == [("341702", "pending")]  # for: 1h
    by_area = coverage(prometheus)
    assert by_area["341721"] == 1.0 and by_area["341702"] == pytest.approx(2 / 6)
    assert "341722" not in by_area  # no community in the registry: no ratio
    projected = {s["metric"]["area"]: float(s["value"][1])
                 for s in prometheus.query('area:xieshang_coverage_projected_ratio:max{level="district"}')}  # fmt: skip
    assert projected["341721"] == 1.0 and 2 / 6 < projected["341702"] < 0.9
    rated = wait_until(lambda: prometheus.query('xieshang_tasks_satisfaction_ratio{level="district",area="341702"}'),
                       timeout=30, what="满意率")  # fmt: skip
    assert {float(s["value"][1]) for s in rated} == {1.0}


def check_dashboards(prometheus: Prometheus) -> None:
    empty = []
    for board, title, expr in dashboard_queries():
        try:
            wait_until(lambda expr=expr: prometheus.query(expr), timeout=20, interval=0.5, what=expr)
        except AssertionError:
            empty.append(f"{board} / {title}: {expr}")
    assert not empty, "queries without data:\n" + "\n".join(empty)


def keep_chart_data(prometheus: Prometheus, started: float) -> None:
    target = os.environ.get("XIESHANG_CHART_DATA")
    if not target:
        return
    end = time.time()
    series = {
        s["metric"]["area"]: [(float(t), float(v)) for t, v in s["values"]]
        for s in prometheus.query_range('area:xieshang_coverage_ratio:max{level="district"}', started, end)
    }
    target_ratio = prometheus.query("xieshang:coverage_target_ratio:max")
    data = {"start": started, "end": end, "target": float(target_ratio[0]["value"][1]), "coverage": series}
    with open(target, "w", encoding="utf-8") as out:
        json.dump(data, out, indent=1)
