"""The authorisation matrix, generated from the route table.

Every route of the public API (the gateway's merged OpenAPI document) × every role × (in scope,
out of scope, no token, expired token, token signed by another key). Which roles a route admits
comes from the route itself (``@requires``); what "in scope" means for it comes from SCENARIOS,
and a route without a scenario fails the test, so no route escapes the matrix. The only allowed
outcome out of scope is a refusal (403/404) or, for the caller's own data, an answer that holds
nothing of anyone else's.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import insert

from services.intake import domain, repository
from services.meetings import domain as meetings_domain
from services.meetings import repository as meetings_repository
from services.notify.models import notifications
from shared.auth import TokenIssuer
from shared.http import allowed_roles
from shared.keys import KeyStore
from shared.principal import ROLES, Principal
from tests.conftest import YANLIUYUAN
from tests.support import forged_tokens
from tests.unit import matrix_tracking

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
    # A fresh consultation of 烟柳园 at a stage of its procedure (``new_consultation(stage,
    # participant=…)``), for requests that change one; and an announced one, for reads.
    new_consultation: Callable[..., SimpleNamespace] = None
    consultation_id: str = ""
    # A fresh contact of 烟柳园 in notify's directory (``new_contact(app_user_id=None)``): its id.
    new_contact: Callable[..., str] = None
    # A fresh person of 烟柳园 meetings' replica of the directory knows (whom an invitation may name).
    new_invitee: Callable[[], str] = None
    # Tasks of 烟柳园 at a stage of their life (tests/unit/matrix_tracking.py).
    tracking: matrix_tracking.TrackingWorld = None
    # A community worker's account in 烟柳园 (the gateway's accounts), for administrators' moves.
    account_id: str = ""


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
MEETINGS = "/api/v1/meetings/consultations"
ONE = f"{MEETINGS}/{{consultation_id}}"


def _invitee(principal) -> str | None:
    """The caller is invited in scope; out of scope they are nobody's guest."""
    return principal.subject if principal.scope == IN_SCOPE[principal.role] else None


def _meeting(stage: str, action: str, body=None, participant: bool = False, method: str = "POST"):
    """A request acting on a fresh consultation at ``stage``."""

    def build(world, principal):
        c = world.new_consultation(stage, participant=_invitee(principal) if participant else None)
        path = action.format(id=c.id, topic_id=c.topic_id, opinion_id=c.opinion_id)
        return Request(method, f"{MEETINGS}/{path}", body(c) if callable(body) else body)

    return build


def _invite(world, principal):
    invitation = {"person_id": world.new_invitee(), "category": "expert"}
    return _meeting("draft", "{id}/participants", invitation)(world, principal)


def _new_consultation_body(world, principal):
    body = {
        "division_code": YANLIUYUAN,
        "title": "杏花家园停车难协商",
        "form": "community_council",
        "mode": "offline",
        "starts_at": (datetime.now(UTC) + timedelta(days=10)).isoformat(),
        "venue": "烟柳园社区议事厅",
        "materials": ["https://docs.example/plan.pdf"],
    }
    return Request("POST", MEETINGS, body)


CONTACTS = "/api/v1/notify/contacts"


def _phone() -> str:
    return f"139{uuid.uuid4().int % 10**8:08d}"


def _contact_body(world, principal):
    body = {"phone": _phone(), "community_code": YANLIUYUAN, "kind": "resident", "opt_outs": ["consultation"]}
    return Request("POST", CONTACTS, body)


def _contact_import(world, principal):
    csv_text = f"phone,community_code,kind,channels\n{_phone()},{YANLIUYUAN},resident,sms;app\n"
    return Request("POST", f"{CONTACTS}/import", {"csv": csv_text})


def _my_contact(method: str, body=None):
    """In scope the caller has a contact of their own; out of scope they have none."""

    def build(world, principal):
        if principal.role == "resident" and principal.scope == IN_SCOPE["resident"]:
            world.new_contact(app_user_id=principal.subject)
        return Request(method, f"{CONTACTS}/me", body)

    return build


SMS = "/api/v1/notify/sms"


def _notice(world, principal):
    world.new_contact()  # a subscriber to tell
    return Request("POST", f"{SMS}/notices", {"community_code": YANLIUYUAN, "variables": {"content": "周六清理楼道"}})


CONTACT_SCENARIOS: dict[tuple[str, str], Scenario] = {
    ("POST", CONTACTS): Scenario(_contact_body),
    ("GET", CONTACTS): Scenario(
        lambda w, p: Request("GET", f"{CONTACTS}?community={YANLIUYUAN}"),
        leaks=lambda body, p: any(item["community_code"] == YANLIUYUAN for item in body["items"]),
    ),
    ("GET", f"{CONTACTS}/{{contact_id}}"): Scenario(lambda w, p: Request("GET", f"{CONTACTS}/{w.new_contact()}")),
    ("PATCH", f"{CONTACTS}/{{contact_id}}"): Scenario(
        lambda w, p: Request("PATCH", f"{CONTACTS}/{w.new_contact()}", {"channels": ["app"]})
    ),
    ("DELETE", f"{CONTACTS}/{{contact_id}}"): Scenario(lambda w, p: Request("DELETE", f"{CONTACTS}/{w.new_contact()}")),
    ("POST", f"{CONTACTS}/import"): Scenario(_contact_import),
    ("GET", f"{CONTACTS}/me"): Scenario(_my_contact("GET")),
    ("PATCH", f"{CONTACTS}/me"): Scenario(_my_contact("PATCH", {"quiet_start": "21:30"})),
    ("GET", f"{SMS}/messages"): Scenario(
        lambda w, p: Request("GET", f"{SMS}/messages"),
        leaks=lambda body, p: any(item["division_code"] == YANLIUYUAN for item in body["items"]),
    ),
    ("POST", f"{SMS}/preview"): Scenario(
        lambda w, p: Request("POST", f"{SMS}/preview", {"variables": {"content": "周六清理楼道"}}),
        own_data=True,
        leaks=lambda body, p: False,  # a text the caller wrote, counted
    ),
    ("POST", f"{SMS}/notices"): Scenario(_notice),
}


def _read(suffix: str = ""):
    return lambda w, p: Request("GET", f"{MEETINGS}/{w.consultation_id}{suffix}")


RELOCATION = {"venue": "小学礼堂", "online_link": "https://meet.example/b", "reason": "议事厅维修"}


def _recorded(world, principal):
    """A consultation of 烟柳园 held two days ago, recorded afterwards (a title of its own each time:
    the same one is recorded once)."""
    body = {
        "division_code": YANLIUYUAN,
        "title": f"补录的议事会 {uuid.uuid4().hex[:8]}",
        "form": "community_council",
        "mode": "offline",
        "held_at": (datetime.now(UTC) - timedelta(days=2)).isoformat(),
        "venue": "烟柳园社区议事厅",
        "topics": [{"title": "楼道堆物清理"}],
        "attendance": {"resident_representative": 9, "party_member": 3},
        "decision": "no_consensus",
        "explanation": "下月再议",
        "minutes_url": "https://docs.example/minutes.pdf",
    }
    return Request("POST", f"{MEETINGS}/recorded", body)


def _recorded_import(world, principal):
    held_at = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    csv_text = (
        "division_code,title,form,mode,held_at,venue,topics,attendees,decision,minutes_url\n"
        f"{YANLIUYUAN},补录的议事会 {uuid.uuid4().hex[:8]},community_council,offline,{held_at},议事厅,楼道堆物,12,"
        "decided,https://docs.example/minutes.pdf\n"
    )
    return Request("POST", f"{MEETINGS}/recorded/import", {"csv": csv_text})


MEETING_SCENARIOS: dict[tuple[str, str], Scenario] = {
    ("POST", MEETINGS): Scenario(_new_consultation_body),
    ("GET", MEETINGS): Scenario(
        lambda w, p: Request("GET", f"{MEETINGS}?division={YANLIUYUAN}"),
        leaks=lambda body, p: any(item["division_code"] == YANLIUYUAN for item in body["items"]),
    ),
    ("GET", ONE): Scenario(_read()),
    ("PATCH", ONE): Scenario(_meeting("draft", "{id}", {"title": "新名称"}, method="PATCH")),
    ("POST", f"{ONE}/topics"): Scenario(_meeting("draft", "{id}/topics", {"title": "夜间施工时间"})),
    ("DELETE", f"{ONE}/topics/{{topic_id}}"): Scenario(_meeting("draft", "{id}/topics/{topic_id}", method="DELETE")),
    ("POST", f"{ONE}/participants"): Scenario(_invite),
    ("GET", f"{ONE}/participants"): Scenario(_read("/participants")),
    ("GET", f"{ONE}/checklist"): Scenario(_read("/checklist")),
    ("GET", f"{ONE}/attendance-code"): Scenario(_read("/attendance-code")),
    ("POST", f"{ONE}/announce"): Scenario(_meeting("draft", "{id}/announce")),
    ("POST", f"{ONE}/postpone"): Scenario(
        _meeting(
            "announced",
            "{id}/postpone",
            lambda c: {"starts_at": (c.starts_at + timedelta(days=1)).isoformat(), "reason": "场地维修"},
        )
    ),
    ("POST", f"{ONE}/cancel"): Scenario(_meeting("draft", "{id}/cancel", {"reason": "场地不可用"})),
    ("POST", f"{ONE}/relocate"): Scenario(_meeting("announced", "{id}/relocate", RELOCATION)),
    ("POST", f"{ONE}/start"): Scenario(_meeting("starting", "{id}/start")),
    ("POST", f"{ONE}/decide"): Scenario(_meeting("in_session", "{id}/decide")),
    ("POST", f"{ONE}/no-consensus"): Scenario(_meeting("in_session", "{id}/no-consensus", {"reason": "分歧较大"})),
    ("POST", f"{ONE}/publish"): Scenario(
        _meeting("no_consensus", "{id}/publish", {"minutes": "未达成共识", "explanation": "下月再议"})
    ),
    ("POST", f"{ONE}/close"): Scenario(_meeting("published", "{id}/close")),
    ("POST", f"{ONE}/rsvp"): Scenario(_meeting("announced", "{id}/rsvp", {"answer": "accepted"}, participant=True)),
    ("POST", f"{ONE}/profile"): Scenario(
        _meeting("announced", "{id}/profile", {"occupation": "employed"}, participant=True)
    ),
    ("POST", f"{ONE}/sign-in"): Scenario(
        _meeting("starting", "{id}/sign-in", lambda c: {"code": c.attendance_code}, participant=True)
    ),
    ("POST", f"{ONE}/join"): Scenario(_meeting("starting", "{id}/join", participant=True)),
    ("POST", f"{ONE}/attendance"): Scenario(_meeting("starting", "{id}/attendance", {"person_id": "invitee-1"})),
    ("POST", f"{ONE}/rounds"): Scenario(
        _meeting(
            "draft",
            "{id}/rounds",
            lambda c: {
                "opens_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
                "closes_at": (datetime.now(UTC) + timedelta(days=2)).isoformat(),
            },
        )
    ),
    ("POST", f"{ONE}/rounds/{{number}}/summary"): Scenario(
        _meeting("summarisable", "{id}/rounds/1/summary", {"summary": "居民普遍支持"})
    ),
    ("GET", f"{ONE}/opinions"): Scenario(_read("/opinions")),
    ("POST", f"{ONE}/opinions"): Scenario(
        _meeting(
            "announced",
            "{id}/opinions",
            lambda c: {"topic_id": c.topic_id, "stance": "support", "text": "支持建设停车场"},
            participant=True,
        )
    ),
    ("POST", f"{ONE}/opinions/{{opinion_id}}/hide"): Scenario(
        _meeting("announced", "{id}/opinions/{opinion_id}/hide", {"reason": "含个人信息"})
    ),
    ("POST", f"{ONE}/votes"): Scenario(
        _meeting("in_session", "{id}/votes", lambda c: {"topic_id": c.topic_id, "choice": "support"}, participant=True)
    ),
    ("GET", f"{ONE}/quality"): Scenario(_read("/quality")),
    ("POST", f"{MEETINGS}/recorded"): Scenario(_recorded),
    ("POST", f"{MEETINGS}/recorded/import"): Scenario(_recorded_import),
}


ACCOUNTS = "/api/v1/auth/accounts"
MATRIX_PASSWORD = "矩阵测试-烟柳园-2026"


def _new_worker(world, principal):
    body = {"username": f"w{uuid.uuid4().hex[:10]}", "password": MATRIX_PASSWORD, "role": "community_worker",
            "scope": YANLIUYUAN}  # fmt: skip
    return Request("POST", ACCOUNTS, body)


ACCOUNT_SCENARIOS = {
    ("POST", ACCOUNTS): Scenario(_new_worker),
    ("GET", ACCOUNTS): Scenario(
        lambda w, p: Request("GET", ACCOUNTS),
        leaks=lambda body, p: any(not p.covers(a["scope"]) for a in body["items"]),
    ),
    ("POST", f"{ACCOUNTS}/{{account_id}}/disable"): Scenario(
        lambda w, p: Request("POST", f"{ACCOUNTS}/{w.account_id}/disable")
    ),
    ("POST", f"{ACCOUNTS}/{{account_id}}/enable"): Scenario(
        lambda w, p: Request("POST", f"{ACCOUNTS}/{w.account_id}/enable")
    ),
    ("POST", f"{ACCOUNTS}/{{account_id}}/password"): Scenario(
        lambda w, p: Request("POST", f"{ACCOUNTS}/{w.account_id}/password", {"password": MATRIX_PASSWORD})
    ),
    ("GET", "/api/v1/auth/session"): Scenario(
        lambda w, p: Request("GET", "/api/v1/auth/session"),
        own_data=True,
        leaks=lambda body, p: body["account"]["subject"] != p.subject,
    ),
    # The gateway's registration asks notify to send a code (no data of anyone's in the answer).
    ("POST", "/api/v1/notify/sms/verification-codes"): Scenario(
        lambda w, p: Request("POST", "/api/v1/notify/sms/verification-codes", {"phone": _phone(), "code": "123456"}),
        own_data=True,
        leaks=lambda body, p: False,
    ),
}

SCENARIOS: dict[tuple[str, str], Scenario] = {
    ("POST", "/api/v1/intake/proposals"): Scenario(_proposal),
    ("GET", "/api/v1/intake/proposals/{proposal_id}"): Scenario(
        lambda w, p: Request("GET", f"/api/v1/intake/proposals/{w.proposal_id}")
    ),
    ("GET", f"{INTAKE}/proposals"): Scenario(
        lambda w, p: Request("GET", f"{INTAKE}/proposals?community={YANLIUYUAN}"),
        leaks=lambda body, p: any(item["community_code"] == YANLIUYUAN for item in body["items"]),
    ),
    ("GET", f"{INTAKE}/proposals/similar"): Scenario(
        lambda w, p: Request(
            "GET", f"{INTAKE}/proposals/similar?community={YANLIUYUAN}&title=%E6%A5%BC%E9%81%93%E5%A0%86%E7%89%A9"
        ),
        leaks=lambda body, p: bool(body["items"]),  # 楼道堆物: the world's proposals read alike
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
        # 贵池区住建局, in intake's replica of tracking's organisations (the world's ``with_organisations``)
        lambda w, p: Request(
            "POST", f"{INTAKE}/proposals/{w.new_proposal()}/refer", {"department_id": "guichi-zhujianju"}
        )
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
    ("GET", "/api/v1/notify/inbox/stream"): Scenario(
        # An event stream of the caller's own messages (not JSON, and read here only as far as the
        # status): that nobody else's appear is tests/unit/test_notify_stream.py's to show.
        lambda w, p: Request("GET", "/api/v1/notify/inbox/stream"),
        own_data=True,
        leaks=lambda body, p: body is not None,  # a JSON body would not be the stream
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
    **MEETING_SCENARIOS,
    **CONTACT_SCENARIOS,
    **ACCOUNT_SCENARIOS,
}
SCENARIOS.update(matrix_tracking.scenarios(Scenario, Request))


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
    for app in [*platform_all.apps.values(), platform_all.http_entry.own]:
        for rule in app.url_map.iter_rules():
            # Flask's <int:number> is OpenAPI's {number}.
            if re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule.rule) == template and method in rule.methods:
                return allowed_roles(app.view_functions[rule.endpoint]) or frozenset(ROLES)
    raise AssertionError(f"{method} {template} is in the API document but no service serves it")


@pytest.fixture
def env(env):
    # Some 1,700 requests from one address in a few seconds: not what the rate limit is tested on here.
    return {**env, "XIESHANG_RATE_LIMIT": "1000000"}


@pytest.fixture
def world(platform_all, gateway, token, with_organisations, register_people):
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
                community=uow.divisions.active_community(YANLIUYUAN),
                community_code=YANLIUYUAN,
                title="楼道灯不亮",
                description="三号楼楼道灯坏了",
                category="management",
                categories=repository.active_categories(uow.session),
                via="app",
                now=datetime.now(UTC),
            )
            repository.add(uow.session, proposal)
        return proposal.id

    def seed_support(proposal_id: str, supporter: str) -> None:
        with intake.db.transaction() as session:
            repository.add_support(session, proposal_id, supporter, datetime.now(UTC))

    meetings = platform_all.platform.runtime("meetings")

    def new_consultation(stage: str = "draft", participant: str | None = None) -> SimpleNamespace:
        """A consultation of 烟柳园 brought to ``stage`` along the domain's path, its times set so
        that the stage's next step is allowed now: draft (complete, ready to announce), announced
        (a round open, one opinion posted), summarisable (a round closed), starting (the start
        time just passed), in_session (everyone signed in), no_consensus, published."""
        m = meetings_domain
        organiser = Principal("seed-worker", "community_worker", YANLIUYUAN)
        now = datetime.now(UTC)
        held = stage in ("starting", "in_session", "no_consensus", "published")
        prepared_at = now - timedelta(days=8) if held else now
        starts_at = now - timedelta(minutes=10) if held else now + timedelta(days=10)
        rounds, opinions = [], []
        with meetings.unit_of_work() as uow:
            consultation, _ = m.create(
                principal=organiser,
                division=uow.divisions.get(YANLIUYUAN),
                division_code=YANLIUYUAN,
                title="杏花家园停车难协商",
                form="community_council",
                mode="hybrid",
                starts_at=starts_at,
                now=prepared_at,
                venue="烟柳园社区议事厅",
                online_link="https://meet.example/yanliuyuan",
                materials=["https://docs.example/plan.pdf"],
            )
            c = m.add_topic(consultation, organiser, prepared_at, title="空地改建停车场", origin="top_down")
            people = []
            for person_id in ("invitee-1", participant) if participant else ("invitee-1",):
                people.append(
                    m.invite(c, people, organiser, prepared_at, person_id=person_id, category="stakeholder",
                             homes=(YANLIUYUAN,))  # seeded in the domain: people of 烟柳园
                )  # fmt: skip
            if stage != "draft":
                c, _ = m.announce(c, people, organiser, prepared_at)
            if stage == "announced":
                opens, closes = now - timedelta(hours=1), now + timedelta(days=1)
                rounds.append(m.open_round(c, rounds, organiser, now, opens_at=opens, closes_at=closes))
                author = Principal("invitee-1", "resident", YANLIUYUAN)
                opinions.append(
                    m.post_opinion(c, rounds, people[0], author, now, topic_id=c.topics[0].id, stance="oppose",
                                   text="反对,电话13800000000")
                )  # fmt: skip
            if stage == "summarisable":
                opens, closes = now - timedelta(hours=3), now - timedelta(hours=1)
                rounds.append(m.open_round(c, rounds, organiser, opens, opens_at=opens, closes_at=closes))
            if stage in ("in_session", "no_consensus", "published"):
                people = [
                    m.sign_in(c, p, Principal(p.id, "resident", YANLIUYUAN), starts_at, c.attendance_code)
                    for p in people
                ]
                c, _ = m.start(c, organiser, starts_at)
            if stage in ("no_consensus", "published"):
                c, _ = m.declare_no_consensus(c, organiser, starts_at, "分歧较大")
            if stage == "published":
                c, _ = m.publish_outcome(c, organiser, starts_at, minutes="未达成共识", explanation="下月再议")
            meetings_repository.add(uow.session, c)
            for participant_ in people:
                meetings_repository.add_participant(uow.session, participant_)
            for round_ in rounds:
                meetings_repository.add_round(uow.session, round_)
            for opinion in opinions:
                meetings_repository.add_opinion(uow.session, opinion)
        return SimpleNamespace(
            id=c.id,
            topic_id=c.topics[0].id,
            starts_at=c.starts_at,
            attendance_code=c.attendance_code,
            opinion_id=opinions[0].id if opinions else None,
        )

    def new_contact(app_user_id: str | None = None) -> str:
        answer = gateway.post(
            CONTACTS,
            json={"phone": _phone(), "community_code": YANLIUYUAN, "kind": "resident", "app_user_id": app_user_id},
            headers={"Authorization": f"Bearer {token('community_worker', YANLIUYUAN)}"},
        )
        assert answer.status_code == 201, answer.json
        return answer.json["id"]

    def new_invitee() -> str:
        person = f"invitee-{uuid.uuid4().hex[:8]}"
        register_people(meetings, {person: YANLIUYUAN})
        return person

    new_contact()  # one contact in 烟柳园 at least, which no out-of-scope listing may show
    notice = {"community_code": YANLIUYUAN, "variables": {"content": "周六清理楼道"}}
    sent = gateway.post(  # and an SMS to it, which no out-of-scope log may show
        f"{SMS}/notices", json=notice, headers={"Authorization": f"Bearer {token('community_worker', YANLIUYUAN)}"}
    )
    assert sent.status_code == 202 and sent.json["sms"] == 1, sent.json

    return World(
        created.json["id"],
        seed_notification,
        new_proposal,
        seed_support,
        new_consultation=new_consultation,
        consultation_id=new_consultation("announced").id,
        new_contact=new_contact,
        new_invitee=new_invitee,
        tracking=matrix_tracking.TrackingWorld(platform_all.platform.runtime("tracking"), IN_SCOPE),
        account_id=platform_all.platform.gateway().accounts.create_user(
            "matrix.worker", MATRIX_PASSWORD, "community_worker", YANLIUYUAN
        ),
    )


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
    spec = gateway.get("/api/v1/openapi.json").json
    for method, template, public in route_table(gateway):
        if public and method == "GET":
            path = re.sub(r"\{[^/{}]+\}", YANLIUYUAN, template)  # a real community for every parameter
            parameters = spec["paths"][template]["get"].get("parameters", [])
            # Provider callbacks need their signed parameters: without them a 422, never a 401.
            signed = any(p["in"] == "query" and p.get("required") for p in parameters)
            assert gateway.get(path).status_code == (422 if signed else 200), path
