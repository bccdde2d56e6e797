"""promtool and a real Prometheus for the observability tests (Debian's ``prometheus`` package,
installed by ``deploy/prometheus/install.sh``). Without them a test fails under ``CI=true`` and is
skipped elsewhere."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
import requests

from tests.support import free_port, wait_until

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "deploy" / "prometheus" / "rules"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "tests"
DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"


def binary(name: str) -> str:
    """The path of ``prometheus`` or ``promtool``."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed (deploy/prometheus/install.sh installs Debian's prometheus package)"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"{message}; CI=true: the observability tests must not be skipped", pytrace=False)
    pytest.skip(message)


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([binary("promtool"), *args], input=stdin, capture_output=True, text=True, timeout=120,
                          check=False)  # fmt: skip


def recorded_names() -> set[str]:
    """The series the recording rules define."""
    return {
        name
        for path in sorted(RULES.glob("*.yml"))
        for name in re.findall(r"^\s*- record: (\S+)$", path.read_text(encoding="utf-8"), re.MULTILINE)
    }


_NOT_NAMES = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
              "offset", "inf", "nan"}  # fmt: skip


def metric_names(expr: str) -> set[str]:
    """The metric (and recorded series) names a PromQL expression selects: identifiers that are not
    functions, keywords, label names or string contents."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)  # label lists
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        word = match.group(0)
        if word.lower() in _NOT_NAMES or text[match.end() :].lstrip().startswith("("):
            continue
        names.add(word)
    return names


class Prometheus:
    """A Prometheus of its own: a free port, a scratch data directory, a generated configuration
    scraping ``targets`` every second and evaluating the project's rules every second."""

    def __init__(self, directory: Path, targets: list[str]):
        self.directory = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
            "rule_files": [str(RULES / "*.yml")],
            "scrape_configs": [{"job_name": "xieshang", "static_configs": [{"targets": targets}]}],
        }
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "prometheus.yml").write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
        self.log = directory / "prometheus.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> Prometheus:
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [binary("prometheus"), f"--config.file={self.directory / 'prometheus.yml'}",
                 f"--storage.tsdb.path={self.directory / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}",
                 "--web.enable-lifecycle", "--log.level=warn"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        wait_until(self._ready, timeout=60, interval=0.2, what="Prometheus ready")
        return self

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"prometheus exited:\n{self.log.read_text()[-3000:]}")
        try:
            return requests.get(f"{self.url}/-/ready", timeout=1).ok
        except requests.RequestException:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)

    def _api(self, path: str, **params) -> object:
        answer = requests.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)
        body = answer.json()
        assert body.get("status") == "success", (path, params, body)
        return body["data"]

    def query(self, expr: str) -> list[dict]:
        """An instant query's samples (a scalar as one sample without labels)."""
        data = self._api("query", query=expr)
        if data["resultType"] in {"scalar", "string"}:
            return [{"metric": {}, "value": data["result"]}]
        return data["result"]

    def query_range(self, expr: str, start: float, end: float, step: float = 1.0) -> list[dict]:
        return self._api("query_range", query=expr, start=start, end=end, step=step)["result"]

    def alerts(self) -> list[dict]:
        return self._api("alerts")["alerts"]


def exported_names() -> set[str]:
    """Every sample name the platform's code exports: the process metrics of ``shared.metrics``
    (counters as ``_total``, histograms as ``_bucket``/``_count``/``_sum``) and tracking's gauges."""
    from prometheus_client import Counter, Gauge, Histogram

    from services.tracking import gauges
    from shared import metrics

    names = set()
    for value in vars(metrics).values():
        if isinstance(value, Counter):
            names.add(f"{value._name}_total")
        elif isinstance(value, Gauge):
            names.add(value._name)
        elif isinstance(value, Histogram):
            names.update(f"{value._name}{suffix}" for suffix in ("_bucket", "_count", "_sum"))
    names.update(f"xieshang_{name}" for name in (*gauges.COVERAGE, *gauges.TASKS, *gauges.RATES))
    names.update({"xieshang_coverage_target_ratio", "xieshang_coverage_target_deadline_timestamp_seconds"})
    return names


def dashboard_queries() -> list[tuple[str, str, str]]:
    """(dashboard file, panel title, PromQL) of every query of the provisioned dashboards."""
    return [
        (path.name, panel["title"], target["expr"])
        for path in sorted(DASHBOARDS.glob("*.json"))
        for panel in json.loads(path.read_text(encoding="utf-8"))["panels"]
        for target in panel.get("targets", [])
    ]
