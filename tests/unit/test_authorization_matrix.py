"""The authorisation matrix, generated from the route table.

Every route of the public API (the gateway's merged OpenAPI document) × every role × (in scope,
out of scope, no token, expired token, token signed by another key). Which roles a route admits
comes from the route itself (``@requires``); what "in scope" means for it comes from SCENARIOS,
and a route without a scenario fails the test, so no route escapes the matrix. The only allowed
outcome out of scope is a refusal (403/404) or, for the caller's own data, an answer that holds
nothing of anyone else's.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert

from services.intake import domain, repository
from services.intake.models import divisions
from services.notify.models import notifications
from shared.auth import ROLES, Principal, TokenIssuer
from shared.divisions import Registry
from shared.http import allowed_roles
from shared.keys import KeyStore
from tests.conftest import YANLIUYUAN
from tests.support import forged_tokens

# A scope that covers 烟柳园社区 and one that does not, per role (shapes per shared.auth.SCOPE_LENGTHS).
IN_SCOPE = {
    "resident": YANLIUYUAN,
    "community_worker": YANLIUYUAN,
    "street_admin": "341702001",
    "district_admin": "341702",
    "city_operator": "3417",
    "department": "341702",
    "supervisor": "341702",
    "system": "341702",
}
OUT_OF_SCOPE = {
    "resident": "341702002001",
    "community_worker": "341702002001",
    "street_admin": "341702002",
    "district_admin": "341721",
    "city_operator": "3401",
    "department": "341721",
    "supervisor": "341721",
    "system": "341721",
}


@dataclass
class World:
    """Data every scenario acts on: all of it in 烟柳园社区, or owned by one person."""

    proposal_id: str
    seed_notification: Callable[[str], str]
    new_proposal: Callable[..., str]  # a fresh proposal, for requests that change one
    seed_support: Callable[[str, str], None]


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    json: dict | None = None


@dataclass(frozen=True)
class Scenario:
    build: Callable[[World, Principal], Request]
    # Answers with the caller's own data, or with platform-wide reference data that belongs to no
    # division: 2xx either way, and never anybody else's data.
    own_data: bool = False
    # Does a 2xx answer to an out-of-scope caller show data that is not theirs to see?
    leaks: Callable[[dict, Principal], bool] = lambda body, principal: True


def _proposal(world, principal):
    body = {
        "community_code": YANLIUYUAN,
        "title": "楼道堆物",
        "description": "消防通道被占用",
        "category": "management",
    }
    return Request("POST", "/api/v1/intake/proposals", body)


def _withdraw(world, principal):
    proposal_id = world.new_proposal()
    world.seed_support(proposal_id, principal.subject)
    return Request("DELETE", f"/api/v1/intake/proposals/{proposal_id}/support")


def _merge(world, principal):
    duplicate, target = world.new_proposal(), world.new_proposal()
    return Request("POST", f"/api/v1/intake/proposals/{duplicate}/merge", {"into": target})


INTAKE = "/api/v1/intake"


SCENARIOS: dict[tuple[str, str], Scenario] = {
    ("POST", "/api/v1/intake/proposals"): Scenario(_proposal),
    ("GET", "/api/v1/intake/proposals/{proposal_id}"): Scenario(
        lambda w, p: Request("GET", f"/api/v1/intake/proposals/{w.proposal_id}")
    ),
    ("GET", f"{INTAKE}/proposals"): Scenario(
        lambda w, p: Request("GET", f"{INTAKE}/proposals?community={YANLIUYUAN}"),
        leaks=lambda body, p: any(item["community_code"] == YANLIUYUAN for item in body["items"]),
    ),
    ("GET", f"{INTAKE}/proposals/{{proposal_id}}/history"): Scenario(
        lambda w, p: Request("GET", f"{INTAKE}/proposals/{w.proposal_id}/history")
    ),
    ("GET", f"{INTAKE}/proposals/{{proposal_id}}/supporters"): Scenario(
        lambda w, p: Request("GET", f"{INTAKE}/proposals/{w.proposal_id}/supporters")
    ),
    ("POST", f"{INTAKE}/proposals/{{proposal_id}}/support"): Scenario(
        lambda w, p: Request("POST", f"{INTAKE}/proposals/{w.new_proposal()}/support")
    ),
    ("DELETE", f"{INTAKE}/proposals/{{proposal_id}}/support"): Scenario(_withdraw),
    ("POST", f"{INTAKE}/proposals/{{proposal_id}}/accept"): Scenario(
        lambda w, p: Request("POST", f"{INTAKE}/proposals/{w.new_proposal()}/accept")
    ),
    ("POST", f"{INTAKE}/proposals/{{proposal_id}}/reject"): Scenario(
        lambda w, p: Request("POST", f"{INTAKE}/proposals/{w.new_proposal()}/reject", {"reason": "已由物业处理"})
    ),
    ("POST", f"{INTAKE}/proposals/{{proposal_id}}/merge"): Scenario(_merge),
    ("POST", f"{INTAKE}/proposals/{{proposal_id}}/refer"): Scenario(
        lambda w, p: Request("POST", f"{INTAKE}/proposals/{w.new_proposal()}/refer", {"department_id": "贵池区住建局"})
    ),
    ("GET", f"{INTAKE}/categories"): Scenario(
        lambda w, p: Request("GET", f"{INTAKE}/categories"), own_data=True, leaks=lambda body, p: False
    ),
    ("PUT", f"{INTAKE}/categories"): Scenario(
        lambda w, p: Request("PUT", f"{INTAKE}/categories", {"code": "safety", "name": "安全"}),
        own_data=True,
        leaks=lambda body, p: False,
    ),
    ("GET", f"{INTAKE}/communities/{{community_code}}/settings"): Scenario(
        lambda w, p: Request("GET", f"{INTAKE}/communities/{YANLIUYUAN}/settings")
    ),
    ("PUT", f"{INTAKE}/communities/{{community_code}}/settings"): Scenario(
        lambda w, p: Request("PUT", f"{INTAKE}/communities/{YANLIUYUAN}/settings", {"support_threshold": 5})
    ),
    ("GET", "/api/v1/tracking/divisions"): Scenario(
        lambda w, p: Request("GET", "/api/v1/tracking/divisions?parent=341702001000"),
        leaks=lambda body, p: any(d["code"] == YANLIUYUAN for d in body),
    ),
    ("GET", "/api/v1/tracking/divisions/{code}"): Scenario(
        lambda w, p: Request("GET", f"/api/v1/tracking/divisions/{YANLIUYUAN}")
    ),
    ("GET", "/api/v1/notify/inbox"): Scenario(
        lambda w, p: Request("GET", "/api/v1/notify/inbox"),
        own_data=True,
        leaks=lambda body, p: any(item["body"].startswith("他人") for item in body["items"]),
    ),
    ("POST", "/api/v1/notify/inbox/{notification_id}/read"): Scenario(
        # In scope: the caller's own message. Out of scope: somebody else's.
        lambda w, p: Request(
            "POST",
            f"/api/v1/notify/inbox/{w.seed_notification(p.subject if p.scope == IN_SCOPE[p.role] else 'x')}/read",
        )
    ),
    ("GET", "/api/v1/auth/me"): Scenario(
        lambda w, p: Request("GET", "/api/v1/auth/me"),
        own_data=True,
        leaks=lambda body, p: (body["subject"], body["scope"]) != (p.subject, p.scope),
    ),
}


def route_table(gateway) -> list[tuple[str, str, bool]]:
    """(method, template, public) of every operation in the public API."""
    spec = gateway.get("/api/v1/openapi.json").json
    default_security = spec.get("security")
    routes = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                public = operation.get("security", default_security) == []
                routes.append((method.upper(), path, public))
    return sorted(routes)


def roles_admitted(platform_all, method: str, template: str) -> frozenset[str]:
    """The roles the owning service's view admits (every role when it declares none)."""
    flask_path = template.replace("{", "<").replace("}", ">")
    for app in [*platform_all.apps.values(), platform_all.http_entry.own]:
        for rule in app.url_map.iter_rules():
            if rule.rule == flask_path and method in rule.methods:
                return allowed_roles(app.view_functions[rule.endpoint]) or frozenset(ROLES)
    raise AssertionError(f"{method} {template} is in the API document but no service serves it")


@pytest.fixture
def env(env):
    # Some 1,700 requests from one address in a few seconds: not what the rate limit is tested on here.
    return {**env, "XIESHANG_RATE_LIMIT": "1000000"}


@pytest.fixture
def world(platform_all, gateway, token):
    created = gateway.post(
        "/api/v1/intake/proposals",
        json={"community_code": YANLIUYUAN, "title": "绣春巷开水炉", "description": "扰民", "category": "environment"},
        headers={"Authorization": f"Bearer {token('resident', YANLIUYUAN)}"},
    )
    assert created.status_code == 201
    notify_db = platform_all.platform.runtime("notify").db

    def seed_notification(recipient: str) -> str:
        notification_id = str(uuid.uuid4())
        with notify_db.transaction() as session:
            session.execute(
                insert(notifications).values(
                    id=notification_id, recipient_id=recipient, channel="app", template="proposal_received",
                    body="他人的消息" if recipient == "x" else "您的消息", division_code=YANLIUYUAN,
                    event_id=str(uuid.uuid4()), created_at=datetime.now(UTC),
                )
            )  # fmt: skip
        return notification_id

    seed_notification("x")  # somebody else's message, which no inbox but theirs may show

    intake = platform_all.platform.runtime("intake")

    def new_proposal() -> str:
        principal = Principal(f"resident-{uuid.uuid4().hex[:6]}", "resident", YANLIUYUAN)
        with intake.unit_of_work() as uow:
            proposal = domain.submit(
                principal=principal,
                community=Registry(divisions).active_community(uow.session, YANLIUYUAN),
                community_code=YANLIUYUAN,
                title="楼道灯不亮",
                description="三号楼楼道灯坏了",
                category="management",
                categories=repository.active_categories(uow.session),
                channel="app",
                now=datetime.now(UTC),
            )
            repository.add(uow.session, proposal)
        return proposal.id

    def seed_support(proposal_id: str, supporter: str) -> None:
        with intake.db.transaction() as session:
            repository.add_support(session, proposal_id, supporter, datetime.now(UTC))

    return World(created.json["id"], seed_notification, new_proposal, seed_support)


def call(gateway, request: Request, token: str | None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return gateway.open(request.path, method=request.method, json=request.json, headers=headers)


def test_every_role_on_every_route(platform_all, gateway, world, keys, tmp_path):
    issuer = TokenIssuer(keys)
    other_keys = KeyStore(tmp_path / "another-gateway")
    routes = route_table(gateway)
    assert len(routes) >= 10
    missing = [(m, p) for m, p, public in routes if not public and (m, p) not in SCENARIOS]
    assert not missing, f"routes without an authorisation scenario: {missing}"

    failures, checked = [], 0
    for method, template, public in routes:
        if public:
            continue
        scenario = SCENARIOS[(method, template)]
        admitted = roles_admitted(platform_all, method, template)
        for role in ROLES:
            for case in ("in_scope", "out_of_scope", "no_token", "expired", "other_key"):
                scope = IN_SCOPE[role] if case != "out_of_scope" else OUT_OF_SCOPE[role]
                principal = Principal(f"{role}-{case}-{uuid.uuid4().hex[:6]}", role, scope)
                request = scenario.build(world, principal)
                if case == "no_token":
                    token = None
                elif case in ("expired", "other_key"):
                    token = forged_tokens(keys, principal, other_keys)[case]
                else:
                    token = issuer.issue(principal)
                response = call(gateway, request, token)
                checked += 1
                status = response.status_code
                if case in ("no_token", "expired", "other_key"):
                    ok = status == 401
                elif role not in admitted:
                    ok = status == 403
                elif case == "in_scope":
                    ok = 200 <= status < 300
                elif scenario.own_data:
                    ok = 200 <= status < 300 and not scenario.leaks(response.json, principal)
                else:
                    ok = status in (403, 404) or (200 <= status < 300 and not scenario.leaks(response.json, principal))
                if not ok:
                    failures.append(f"{role:16} {case:12} {method} {template} -> {status}")
    assert not failures, "\n".join(failures)
    assert checked == len(ROLES) * 5 * len([r for r in routes if not r[2]])


def test_public_routes_answer_without_a_token(gateway):
    for method, template, public in route_table(gateway):
        if public and method == "GET":
            assert gateway.get(template).status_code == 200, template
