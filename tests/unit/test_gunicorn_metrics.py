"""Metrics stay correct when an API target runs several gunicorn worker processes."""

import re
from pathlib import Path

import requests

from tests.integration.processes import Processes


def test_request_counts_are_summed_across_worker_processes(settings, env, platform, tmp_path):
    processes = Processes(env, tmp_path)
    url = processes.start("tracking-api", XIESHANG_WEB_CONCURRENCY="2")
    port = processes.ports["tracking-api"]
    try:
        for _ in range(40):
            # A fresh connection each time, so requests spread over both workers.
            assert requests.get(f"{url}/healthz", headers={"Connection": "close"}, timeout=5).ok
        exposition = requests.get(f"{url}/metrics", timeout=5).text
    finally:
        processes.stop_all()
    counts = re.findall(
        r'xieshang_http_requests_total\{method="GET",route="/healthz",service="tracking",status="200"\} (\S+)',
        exposition,
    )
    assert counts, exposition[:2000]
    assert float(counts[0]) == 40  # the 40 requests, from every worker (readiness is polled on /readyz)
    workers_dir = Path(env["XIESHANG_DATA_DIR"]) / "prometheus" / f"tracking-api-{port}"
    assert len(list(workers_dir.glob("counter_*.db"))) >= 1
