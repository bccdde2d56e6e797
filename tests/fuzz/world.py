"""What the fuzzer acts on: a caller of each role in 烟柳园社区 (or above it), and resources of
烟柳园 for path parameters to name, so that generated requests reach the use cases behind the
look-ups instead of a 404 every time.

Resources are made through the gateway as their users make them (a consultation is drafted,
given a topic and a guest, announced, signed into and started, the meetings runtime's clock set
to the days this takes); a task, which only tracking's own events create, and an inbox message,
which only notify's routing writes, through the services' own code. A state-changing operation
gets fresh ones, since the requests before it may have cancelled, closed or deleted them.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select

from services.meetings.models import contacts
from services.notify.models import notifications
from shared.auth import TokenIssuer
from shared.clock import FixedClock, SystemClock
from shared.organisation_registry import get
from shared.principal import ROLES, Principal
from tests.conftest import CHIYANG, XIJIE, YANLIUYUAN
from tests.support import wait_until
from tests.unit import matrix_tracking

# Every caller's scope covers 烟柳园社区 (the shape of scope each role may hold).
SCOPES = {
    "resident": YANLIUYUAN,
    "community_worker": YANLIUYUAN,
    "street_admin": CHIYANG,
    "district_admin": "341702",
    "city_operator": "3417",
    "department": "341702",
    "supervisor": CHIYANG,
    "system": "341702",
}
PRINCIPALS = {role: Principal(f"fuzz-{role.replace('_', '-')}", role, SCOPES[role]) for role in ROLES}
RESIDENT = PRINCIPALS["resident"]
CONSULTATION_STAGES = ("draft", "announced", "in_session")
# A task of 烟柳园's property company at each stage; the department caller is one of the company
# (it joins with the first), and the resident is concerned by the completed one (and may rate it).
TASK_STAGES = (("assigned", "department"), ("accepted", "department"), ("completed", "resident"))


class World:
    def __init__(self, assembly, client, keys, *, token_ttl: int = 4 * 3600):
        self.assembly = assembly
        self.platform = assembly.platform
        self.client = client
        issuer = TokenIssuer(keys)
        self.tokens = {role: issuer.issue(principal, ttl=token_ttl) for role, principal in PRINCIPALS.items()}
        self.api_key = self.platform.gateway().accounts.create_api_key("fuzz-hotline", "341702", 100_000)
        # 烟柳园's property company, registered in tracking and replicated to intake and meetings
        # (referrals and resolutions name it); the department caller is one of its members.
        self.tracking = matrix_tracking.TrackingWorld(self.platform.runtime("tracking"), SCOPES)
        for service in ("intake", "meetings"):
            wait_until(lambda s=service: self._replicated(s), what=f"the organisation in {service}'s replica")
        # The resident is in notify's directory with their account (whom an invitation may name),
        # replicated to meetings.
        self.resident_contact = self.contact(app_user_id=RESIDENT.subject)
        wait_until(self._resident_in_meetings, what="the resident's contact in meetings' replica")
        self._shared: dict[str, object] = {}

    def _replicated(self, service: str) -> bool:
        runtime = self.platform.runtime(service)
        with runtime.db.sessions() as session:
            table = runtime.spec.metadata.tables["organisation"]
            return get(session, table, matrix_tracking.ORGANISATION) is not None

    def _resident_in_meetings(self) -> bool:
        with self.platform.runtime("meetings").db.sessions() as session:
            return session.scalar(select(contacts.c.contact_id).where(contacts.c.app_user_id == RESIDENT.subject))

    # -- requests as a user makes them --------------------------------------------------------------

    def call(self, method: str, path: str, role: str, body: dict | None = None) -> dict:
        answer = self.client.open(
            path, method=method, json=body, headers={"Authorization": f"Bearer {self.tokens[role]}"}
        )
        assert answer.status_code < 300, (method, path, answer.status_code, answer.get_data(as_text=True))
        return answer.json

    # -- resources ----------------------------------------------------------------------------------

    def proposal(self) -> str:
        body = {
            "community_code": YANLIUYUAN,
            "title": "楼道灯不亮",
            "description": "三号楼楼道灯坏了",
            "category": "management",
        }
        return self.call("POST", "/api/v1/intake/proposals", "resident", body)["id"]

    def consultation(self, stage: str) -> dict[str, str]:
        """A consultation of 烟柳园 at ``stage`` (draft, announced with a round open and an opinion
        posted, or in session), with the resident invited: its id, topic and opinion."""
        meetings = self.platform.runtime("meetings")
        now = datetime.now(UTC)
        held = stage == "in_session"
        starts_at = now - timedelta(minutes=10) if held else now + timedelta(days=10)
        clock = FixedClock(starts_at - timedelta(days=8) if held else now)
        base = "/api/v1/meetings/consultations"
        meetings.clock = clock
        try:
            created = self.call(
                "POST",
                base,
                "community_worker",
                {
                    "division_code": YANLIUYUAN,
                    "title": "杏花家园停车难协商",
                    "form": "community_council",
                    "mode": "hybrid",
                    "starts_at": starts_at.isoformat(),
                    "venue": "烟柳园社区议事厅",
                    "online_link": "https://meet.example/yanliuyuan",
                    "materials": ["https://docs.example/plan.pdf"],
                },
            )
            one = f"{base}/{created['id']}"
            topic = self.call("POST", f"{one}/topics", "community_worker", {"title": "空地改建停车场"})["topics"][0]
            self.call(
                "POST",
                f"{one}/participants",
                "community_worker",
                {"person_id": RESIDENT.subject, "category": "stakeholder"},
            )
            values = {"consultation_id": created["id"], "topic_id": topic["id"], "number": "1"}
            if stage == "draft":
                return values
            self.call("POST", f"{one}/announce", "community_worker")
            if stage == "announced":
                window = {"opens_at": now.isoformat(), "closes_at": (now + timedelta(days=1)).isoformat()}
                self.call("POST", f"{one}/rounds", "community_worker", window)
                clock.advance(timedelta(minutes=1))
                opinion = {"topic_id": topic["id"], "stance": "support", "text": "支持建设停车场"}
                values["opinion_id"] = self.call("POST", f"{one}/opinions", "resident", opinion)["id"]
                return values
            clock.set(starts_at)
            code = self.call("GET", f"{one}/attendance-code", "community_worker")["attendance_code"]
            self.call("POST", f"{one}/sign-in", "resident", {"code": code})
            self.call("POST", f"{one}/start", "community_worker")
            return values
        finally:
            meetings.clock = SystemClock()

    def contact(self, app_user_id: str | None = None) -> str:
        body = {
            "app_user_id": app_user_id,
            "phone": f"139{uuid.uuid4().int % 10**8:08d}",
            "community_code": YANLIUYUAN,
            "kind": "resident",
            "channels": ["sms", "app"],
        }
        return self.call("POST", "/api/v1/notify/contacts", "community_worker", body)["id"]

    def notification(self) -> str:
        """A message in the resident's inbox, as notify's routing leaves one."""
        notification_id = str(uuid.uuid4())
        with self.platform.runtime("notify").db.transaction() as session:
            session.execute(
                insert(notifications).values(
                    id=notification_id, recipient_id=RESIDENT.subject, channel="app", template="proposal_received",
                    body="您的建议已收到", division_code=YANLIUYUAN, event_id=str(uuid.uuid4()),
                    created_at=datetime.now(UTC),
                )
            )  # fmt: skip
        return notification_id

    def task(self, stage: str, concerned: str) -> str:
        return self.tracking.new_task(PRINCIPALS[concerned], stage)

    # -- values the platform knows, for bodies and queries ------------------------------------------

    def vocabulary(self) -> dict[str, list[str]]:
        """Values a request's fields may name so that it gets past the look-ups (besides the random
        ones): the reference divisions, the intake categories, the registered organisation, the
        invited resident, a proposal, and times a consultation, a round or a task accepts."""
        now = datetime.now(UTC)
        return {
            "division": [YANLIUYUAN, CHIYANG, "341702"],
            "community": [YANLIUYUAN, XIJIE],
            "category": [item["code"] for item in self.call("GET", "/api/v1/intake/categories", "resident")],
            "organisation": [matrix_tracking.ORGANISATION],
            "person": [RESIDENT.subject],
            "proposal": [self._once(False, "proposal", self.proposal)],
            "later": [(now + timedelta(days=days)).isoformat() for days in (10, 11)],
            "soon": [(now + timedelta(hours=1)).isoformat()],
            "earlier": [(now - timedelta(days=2)).isoformat()],
            "day": [(now + timedelta(days=20)).date().isoformat()],
            "month": [f"{now.year}-{now.month:02d}", f"{now.year - 1}-{now.month:02d}"],
        }

    # -- what each path parameter may name ----------------------------------------------------------

    def path_values(self, template: str, fresh: bool) -> list[dict[str, str]]:
        """Combinations of existing resources for the path parameters of ``template``: made anew
        for an operation that changes state (``fresh``), else made once and shared."""
        names = set(re.findall(r"\{([^}]+)\}", template))
        return [
            {name: value for name, value in values.items() if name in names}
            for values in self._candidates(template, fresh)
            if names <= values.keys()
        ]

    def _candidates(self, template: str, fresh: bool) -> list[dict[str, str]]:
        if "{consultation_id}" in template:
            return [
                self._once(fresh, f"consultation:{stage}", lambda s=stage: self.consultation(s))
                for stage in CONSULTATION_STAGES
            ]
        if "{proposal_id}" in template:
            return [{"proposal_id": self._once(fresh, "proposal", self.proposal)}]
        if "{task_id}" in template:
            return [
                {"task_id": self._once(fresh, f"task:{stage}", lambda s=stage, c=concerned: self.task(s, c))}
                for stage, concerned in TASK_STAGES
            ]
        if "{contact_id}" in template:
            return [{"contact_id": self._once(fresh, "contact", self.contact)}]
        if "{notification_id}" in template:
            return [{"notification_id": self._once(fresh, "notification", self.notification)}]
        if "{organisation_id}" in template:
            return [{"organisation_id": matrix_tracking.ORGANISATION}]
        if "{service_request_id}" in template or "{token}" in template:
            proposal = self._once(fresh, "proposal", self.proposal)
            return [{"service_request_id": proposal, "token": proposal}]
        if "{service_code}" in template:
            return [{"service_code": "management"}]
        for name in ("community_code", "code"):
            if f"{{{name}}}" in template:
                return [{name: YANLIUYUAN}, {name: CHIYANG}]
        return []

    def _once(self, fresh: bool, key: str, make):
        if fresh or key not in self._shared:
            self._shared[key] = make()
        return self._shared[key]
