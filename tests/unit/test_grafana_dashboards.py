"""The provisioned Grafana dashboards (deploy/grafana/dashboards/) are what deploy/grafana/dashboards.py
writes, are well formed, and query only what the platform exports or the rules record. That every
query returns data is checked against a real Prometheus in tests/integration/test_prometheus.py."""

import importlib.util
import json
import re

import pytest

from tests.prometheus import DASHBOARDS, ROOT, dashboard_queries, exported_names, metric_names, promtool, recorded_names

BOARDS = sorted(DASHBOARDS.glob("*.json"))


def generator():
    spec = importlib.util.spec_from_file_location("dashboards", ROOT / "deploy" / "grafana" / "dashboards.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_files_are_what_the_generator_writes():
    rendered = generator().rendered()
    assert sorted(rendered) == [path.name for path in BOARDS]
    for path in BOARDS:
        assert path.read_text(encoding="utf-8") == rendered[path.name], "run: python deploy/grafana/dashboards.py"


@pytest.mark.parametrize("path", BOARDS, ids=lambda path: path.name)
def test_a_dashboard_loads_into_grafanas_model_unchanged(path):
    """The SDK's models are generated from Grafana's dashboard schema: a key they do not know is
    dropped on the way in, a wrong kind of value fails, so an unchanged round trip is a schema check."""
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models.dashboard import Dashboard

    board = json.loads(path.read_text(encoding="utf-8"))
    assert json.loads(json.dumps(Dashboard.from_json(board), cls=JSONEncoder)) == board


@pytest.mark.parametrize("path", BOARDS, ids=lambda path: path.name)
def test_a_dashboard_is_well_formed(path):
    board = json.loads(path.read_text(encoding="utf-8"))
    assert {"uid", "title", "panels", "schemaVersion", "time", "templating", "annotations"} <= set(board)
    assert re.fullmatch(r"[a-z0-9-]{1,40}", board["uid"])
    datasource = (ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    occupied = set()
    for panel in board["panels"]:
        assert panel["type"] in {"timeseries", "stat", "bargauge", "table"}, panel["type"]
        assert panel["title"] and panel["targets"], panel
        grid = panel["gridPos"]
        assert grid["w"] > 0 and grid["h"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        x, y, w, h = grid["x"], grid["y"], grid["w"], grid["h"]
        cells = {(column, row) for column in range(x, x + w) for row in range(y, y + h)}
        assert not cells & occupied, f"{panel['title']} overlaps another panel"
        occupied |= cells
        refs = [target["refId"] for target in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
        for source in (panel["datasource"], *(target["datasource"] for target in panel["targets"])):
            assert source["type"] == "prometheus" and f"uid: {source['uid']}" in datasource


def test_every_query_parses_and_names_only_exported_or_recorded_metrics(tmp_path):
    known = exported_names() | recorded_names()
    queries = dashboard_queries()
    for board, title, expr in queries:
        unknown = metric_names(expr) - known
        assert not unknown, f"{board} / {title}: {sorted(unknown)} is neither exported nor recorded"
    # promtool parses PromQL when it checks rules: one recording rule per query.
    rules = {"groups": [{"name": "dashboards", "rules": [
        {"record": f"dashboard:query_{n}", "expr": expr} for n, (_, _, expr) in enumerate(queries)
    ]}]}  # fmt: skip
    (tmp_path / "queries.yml").write_text(json.dumps(rules), encoding="utf-8")
    checked = promtool("check", "rules", str(tmp_path / "queries.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
