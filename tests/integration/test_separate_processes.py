"""The thin thread with each target in its own process, over RabbitMQ and PostgreSQL: a proposal
posted through the gateway to ``intake-api`` reaches the submitter's inbox via ``notify-worker``;
the divisions arrive by ``xieshang divisions load`` and replication. The services have no keys of
their own: they verify tokens with the gateway's JWKS. Killing a service makes the gateway answer
503 problem+json; when the service returns, the gateway routes to it again by itself."""

from __future__ import annotations

from pathlib import Path

import requests

from tests.conftest import YANLIUYUAN
from tests.support import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
TARGETS = ("intake-api", "intake-worker", "notify-api", "notify-worker")


def test_thin_thread_with_each_target_in_its_own_process(processes, auth, tmp_path):
    gateway_port = free_port()
    # Services keep no keys: they fetch the gateway's public keys (lazily, at the first token).
    services = {
        "XIESHANG_JWKS_URL": f"http://127.0.0.1:{gateway_port}/.well-known/jwks.json",
        "XIESHANG_JWT_KEYS_DIR": str(tmp_path / "no-keys-here"),
    }
    upstreams = {
        f"XIESHANG_{t.split('-')[0].upper()}_URL": processes.start(t, **services) for t in TARGETS if t.endswith("-api")
    }
    for target in TARGETS:
        if target.endswith("-worker"):
            processes.start(target, **services)
    gateway = processes.start("gateway", port=gateway_port, **upstreams)
    assert "80 divisions read" in processes.cli("divisions", "load")

    headers = auth("resident", YANLIUYUAN, subject="resident-7")
    proposal = {
        "community_code": YANLIUYUAN,
        "title": "绣春巷开水炉扰民",
        "description": "开水炉清晨鼓风噪音扰民",
        "category": "environment",
    }

    def submit():
        response = requests.post(f"{gateway}/api/v1/intake/proposals", json=proposal, headers=headers, timeout=10)
        return response if response.status_code == 201 else None

    created = wait_until(submit, timeout=30, interval=0.2, what="intake to receive the divisions").json()
    assert created["status"] == "submitted"

    def inbox():
        return requests.get(f"{gateway}/api/v1/notify/inbox", headers=headers, timeout=10).json()["items"]

    items = wait_until(inbox, timeout=30, interval=0.2, what="the in-app message")
    assert items[0]["body"] == "您提交的建议“绣春巷开水炉扰民”已收到,社区将尽快处理。"

    notify_port = processes.ports["notify-api"]
    processes.kill("notify-api")
    down = requests.get(f"{gateway}/api/v1/notify/inbox", headers=headers, timeout=10)
    assert down.status_code == 503
    assert down.headers["Content-Type"].startswith("application/problem+json")
    assert "Retry-After" in down.headers
    # Other services keep answering through the gateway.
    assert requests.get(f"{gateway}/api/v1/intake/proposals/{created['id']}", headers=headers, timeout=10).ok

    processes.start("notify-api", port=notify_port, **services)
    back = requests.get(f"{gateway}/api/v1/notify/inbox", headers=headers, timeout=10)
    assert back.status_code == 200 and back.json()["items"][0]["body"] == items[0]["body"]
