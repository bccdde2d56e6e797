"""The Grafana dashboards, as code: ``python deploy/grafana/dashboards.py`` writes
``deploy/grafana/dashboards/*.json`` (provisioned by ``provisioning/dashboards/xieshang.yml``).

Built with Grafana's own grafana-foundation-sdk (its builders are generated from Grafana 11.6's
dashboard schema, so a panel kind, option or unit the schema lacks does not build). A panel is one
call: kind, title, queries (PromQL, legend) and unit. ``tests/unit/test_grafana_dashboards.py``
checks the files are what this module writes, that they load back into the SDK's models, that
their structure is sound, and that every query parses and names only metrics the platform exports
or the recording rules define; ``tests/integration/test_prometheus.py`` runs every query against a
real Prometheus scraping a running platform and expects data.
"""

from __future__ import annotations

import json
from pathlib import Path

from grafana_foundation_sdk.builders import bargauge, dashboard, prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import BarGaugeDisplayMode, VizOrientation
from grafana_foundation_sdk.models.dashboard import DashboardCursorSync, DataSourceRef

FOLDER = Path(__file__).resolve().parent / "dashboards"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="prometheus")  # provisioning/datasources/prometheus.yml
KINDS = {"timeseries": timeseries.Panel, "stat": stat.Panel, "bargauge": bargauge.Panel, "table": table.Panel}


class Board:
    def __init__(self, uid: str, title: str, description: str):
        self.builder = (
            dashboard.Dashboard(title).uid(uid).description(description).tags(["xieshang"]).timezone("browser").readonly()
            .tooltip(DashboardCursorSync.CROSSHAIR).refresh("1m").time("now-30d", "now")
        )  # fmt: skip
        self.panels = 0

    def panel(self, kind: str, title: str, targets: list[tuple[str, str]], *, unit: str = "short",
              width: int = 12, height: int = 8, description: str = "", percent: bool = False,
              bars: BarGaugeDisplayMode | None = None) -> None:  # fmt: skip
        """A panel of ``kind`` showing ``targets``: (PromQL, legend); a ``percent`` panel spans 0–1;
        a bar gauge is drawn ``bars`` and horizontally."""
        self.panels += 1
        built = KINDS[kind]().id(self.panels).title(title).description(description).datasource(DATASOURCE)
        built = built.span(width).height(height).unit(unit)
        for n, (expr, legend) in enumerate(targets):
            query = prometheus.Dataquery().ref_id(chr(ord("A") + n)).datasource(DATASOURCE).expr(expr)
            query = query.legend_format(legend)
            built = built.with_target(query.range() if kind == "timeseries" else query.instant())
        if percent:
            built = built.min(0).max(1)
        if bars is not None:
            built = built.display_mode(bars).orientation(VizOrientation.HORIZONTAL)
        self.builder.with_panel(built)

    def json(self) -> dict:
        return json.loads(json.dumps(self.builder.build(), cls=JSONEncoder))


DISTRICT = '{level="district"}'


def city_overview() -> Board:
    board = Board("xieshang-city", "协商 · 城市概览 (city overview)",
                  "Coverage by district against the target, the projection at the current pace, regularity, "
                  "the 三率 and overdue tasks (tracking's gauges; deploy/prometheus/rules/coverage.yml).")  # fmt: skip
    board.panel("timeseries", "覆盖率 by district against the target", [
        (f"area:xieshang_coverage_ratio:max{DISTRICT}", "{{area}}"),
        ("xieshang:coverage_target_ratio:max", "目标 target"),
    ], unit="percentunit", width=16, height=9, percent=True)  # fmt: skip
    board.panel("stat", "Deadline of the target", [
        ("xieshang:coverage_target_deadline_timestamp_seconds:max * 1000", "deadline"),
    ], unit="dateTimeAsIso", width=8, height=9)  # fmt: skip
    board.panel(
        "bargauge",
        "Coverage reached by the deadline at the pace of the last 3 months",
        [
            (f"area:xieshang_coverage_projected_ratio:max{DISTRICT}", "{{area}}"),
        ],
        unit="percentunit",
        percent=True,
        bars=BarGaugeDisplayMode.GRADIENT,
    )
    board.panel(
        "table",
        "Projected date of full coverage",
        [
            (f"area:xieshang_coverage_projected_completion_timestamp_seconds:max{DISTRICT} * 1000", "{{area}}"),
        ],
        unit="dateTimeAsIso",
        description="No row: no community was first covered in the last three months.",
    )
    board.panel("timeseries", "Regularity (months with a consultation, over communities)", [
        (f"max by (area) (xieshang_coverage_regularity_ratio{DISTRICT})", "{{area}}"),
    ], unit="percentunit", width=8, percent=True)  # fmt: skip
    board.panel("timeseries", "Topics raised by residents (bottom-up)", [
        (f"max by (area) (xieshang_coverage_bottom_up_ratio{DISTRICT})", "{{area}}"),
    ], unit="percentunit", width=8, percent=True)  # fmt: skip
    board.panel("bargauge", "Communities silent for months", [
        (f"max by (area) (xieshang_coverage_silent_communities{DISTRICT})", "{{area}}"),
    ], width=8, bars=BarGaugeDisplayMode.BASIC)  # fmt: skip
    board.panel("timeseries", "响应率 · 解决率 · 满意率 (last 30 days)", [
        (f"max by (area) (xieshang_tasks_response_ratio{DISTRICT})", "响应率 {{area}}"),
        (f"max by (area) (xieshang_tasks_resolution_ratio{DISTRICT})", "解决率 {{area}}"),
        (f"max by (area) (xieshang_tasks_satisfaction_ratio{DISTRICT})", "满意率 {{area}}"),
    ], unit="percentunit", width=16, percent=True)  # fmt: skip
    board.panel("timeseries", "Open and overdue tasks", [
        (f"max by (area) (xieshang_tasks_open{DISTRICT})", "open {{area}}"),
        (f"area:xieshang_tasks_overdue:max{DISTRICT}", "overdue {{area}}"),
    ], width=8)  # fmt: skip
    return board


def pipeline_health() -> Board:
    board = Board("xieshang-pipeline", "协商 · 平台运行 (pipeline health)",
                  "The outbox, the consumers, dead letters, notifications and SMS, and the HTTP APIs against their "
                  "objectives (deploy/prometheus/rules/pipeline.yml and slo.yml).")  # fmt: skip
    board.panel("timeseries", "Outbox backlog", [
        ("max by (service) (xieshang_outbox_backlog)", "{{service}}"),
    ], width=8)  # fmt: skip
    board.panel("timeseries", "Oldest unpublished event", [
        ("max by (service) (xieshang_outbox_oldest_age_seconds)", "{{service}}"),
    ], unit="s", width=8)  # fmt: skip
    board.panel("timeseries", "Consumer lag (p95, occurrence to commit)", [
        ("histogram_quantile(0.95, sum by (service, le) (rate(xieshang_event_consume_lag_seconds_bucket[5m])))",
         "{{service}}"),
    ], unit="s", width=8)  # fmt: skip
    board.panel("timeseries", "Events published and consumed", [
        ("sum by (service) (rate(xieshang_events_published_total[5m]))", "published {{service}}"),
        ("sum by (service, outcome) (rate(xieshang_events_consumed_total[5m]))", "{{outcome}} {{service}}"),
    ], unit="ops", width=8)  # fmt: skip
    board.panel("timeseries", "Redeliveries and dead letters", [
        ("sum(rate(xieshang_bus_redeliveries_total[5m])) or vector(0)", "redelivered"),
        ("sum(increase(xieshang_bus_dead_lettered_total[1h])) or vector(0)", "dead-lettered in the last hour"),
    ], width=8)  # fmt: skip
    board.panel("bargauge", "Waiting in the dead-letter queues", [
        ("max by (service) (xieshang_bus_dead_letters)", "{{service}}"),
    ], width=8, bars=BarGaugeDisplayMode.BASIC)  # fmt: skip
    board.panel("timeseries", "Notifications by channel and outcome", [
        ("sum by (channel, status) (rate(xieshang_notify_messages_total[5m]))", "{{channel}} {{status}}"),
    ], unit="ops", width=8)  # fmt: skip
    board.panel("timeseries", "SMS parts handed to the provider", [
        ("sum(rate(xieshang_notify_sms_parts_total[5m]))", "parts per second"),
    ], unit="ops", width=8)  # fmt: skip
    board.panel("timeseries", "SMS waiting", [
        ("max by (status) (xieshang_notify_sms_waiting)", "{{status}}"),
    ], width=8)  # fmt: skip
    board.panel("timeseries", "HTTP requests by route template", [
        ('sum by (service, route) (rate(xieshang_http_requests_total{route!~"/metrics|/healthz|/readyz"}[5m]))',
         "{{service}} {{route}}"),
    ], unit="reqps")  # fmt: skip
    board.panel("timeseries", "HTTP latency by route template (p95)", [
        ('histogram_quantile(0.95, sum by (service, route, le) '
         '(rate(xieshang_http_request_duration_seconds_bucket{route!~"/metrics|/healthz|/readyz"}[5m])))',
         "{{service}} {{route}}"),
    ], unit="s")  # fmt: skip
    board.panel("timeseries", "5xx ratio against the objective (0.5%)", [
        ("service:xieshang_http_errors:ratio_rate5m", "5m {{service}}"),
        ("service:xieshang_http_errors:ratio_rate1h", "1h {{service}}"),
    ], unit="percentunit")  # fmt: skip
    board.panel("timeseries", "Answers slower than 0.5 s against the objective (1%)", [
        ("service:xieshang_http_slow:ratio_rate5m", "5m {{service}}"),
        ("service:xieshang_http_slow:ratio_rate1h", "1h {{service}}"),
    ], unit="percentunit")  # fmt: skip
    return board


BOARDS = {"city-overview.json": city_overview, "pipeline-health.json": pipeline_health}


def rendered() -> dict[str, str]:
    return {name: json.dumps(make().json(), ensure_ascii=False, indent=2) + "\n" for name, make in BOARDS.items()}


def main() -> None:
    FOLDER.mkdir(exist_ok=True)
    for name, text in rendered().items():
        (FOLDER / name).write_text(text, encoding="utf-8")
        print(FOLDER / name)


if __name__ == "__main__":
    main()
