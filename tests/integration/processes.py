"""Running targets as real processes, and one HTTP interface over in-process and real servers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import requests

from tests.support import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]


class Processes:
    def __init__(self, env: dict[str, str], logs: Path):
        self.env = {**os.environ, **env, "PYTHONPATH": str(ROOT), "XIESHANG_WEB_CONCURRENCY": "1"}
        self.logs = logs
        self.running: dict[str, subprocess.Popen] = {}
        self.ports: dict[str, int] = {}

    def start(self, target: str, port: int | None = None, name: str | None = None, **extra: str) -> str:
        """Start ``target`` (filed as ``name``, default the target: two of one target need two names);
        its output is appended to ``<name>.log``, so a restarted target's log keeps the run before."""
        name = name or target
        port = port or free_port()
        log = (self.logs / f"{name}.log").open("a")
        self.running[name] = subprocess.Popen(
            [sys.executable, "-m", "xieshang.cli", "run", "--target", target],
            cwd=ROOT,
            env={**self.env, **extra, "PORT": str(port)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: gunicorn's workers go with it
        )
        self.ports[name] = port
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: self._ready(url, name), timeout=60, interval=0.2, what=f"{name} ready")
        return url

    def _ready(self, url: str, name: str) -> bool:
        if self.running[name].poll() is not None:
            raise AssertionError(f"{name} exited:\n{(self.logs / f'{name}.log').read_text()[-3000:]}")
        try:
            return requests.get(f"{url}/readyz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def cli(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "xieshang.cli", *args], cwd=ROOT, env=self.env, capture_output=True, text=True,
            timeout=60, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stdout

    def kill(self, target: str) -> None:
        process = self.running.pop(target)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def stop_all(self) -> None:
        for process in self.running.values():
            os.killpg(process.pid, signal.SIGTERM)
        for process in self.running.values():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


class Http:
    """The same calls over a werkzeug test client (in-process) or real HTTP (separate processes)."""

    def __init__(self, client=None, base_url: str | None = None):
        self.client, self.base_url = client, base_url

    def call(self, method: str, path: str, headers: dict, json: dict | None = None) -> tuple[int, dict]:
        if self.client is not None:
            response = self.client.open(path, method=method, json=json, headers=headers)
            return response.status_code, response.json
        response = requests.request(method, self.base_url + path, json=json, headers=headers, timeout=10)
        return response.status_code, response.json()
