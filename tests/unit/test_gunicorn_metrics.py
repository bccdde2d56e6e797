"""Metrics stay correct when an API target runs several gunicorn worker processes."""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import requests

from tests.support import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]


def test_request_counts_are_summed_across_worker_processes(settings, env, platform):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "xieshang.cli", "run", "--target", "tracking-api"],
        cwd=ROOT,
        env={**os.environ, **env, "PORT": str(port), "XIESHANG_WEB_CONCURRENCY": "2", "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def up():
            try:
                return requests.get(f"{url}/healthz", timeout=1).ok
            except requests.RequestException:
                return False

        wait_until(up, timeout=60, interval=0.2, what="tracking-api")
        for _ in range(40):
            # A fresh connection each time, so requests spread over both workers.
            assert requests.get(f"{url}/healthz", headers={"Connection": "close"}, timeout=5).ok
        exposition = requests.get(f"{url}/metrics", timeout=5).text
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(20)
    counts = re.findall(
        r'xieshang_http_requests_total\{method="GET",route="/healthz",service="tracking",status="200"\} (\S+)',
        exposition,
    )
    assert counts, exposition[:2000]
    assert float(counts[0]) >= 41  # the 40 requests plus the readiness poll(s), from every worker
    workers_dir = Path(env["XIESHANG_DATA_DIR"]) / "prometheus" / f"tracking-api-{port}"
    assert len(list(workers_dir.glob("counter_*.db"))) >= 1
