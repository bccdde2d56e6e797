"""Tracking's part of the authorisation matrix (tests/unit/test_authorization_matrix.py): the
scenarios of its routes and the data they act on, all in 烟柳园社区, owned by one organisation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from fractions import Fraction

from services.tracking import domain, services
from shared.principal import Principal
from tests.conftest import YANLIUYUAN

TRACKING = "/api/v1/tracking"
ORGANISATION = "matrix-property"
SEEDER = Principal("matrix-seeder", "city_operator", "3417")
WORKER = Principal("matrix-department", "department", "341702")


class TrackingWorld:
    """Fresh tasks of 烟柳园's property company at a stage of their life; a department caller in
    scope belongs to the company, a resident in scope is concerned by the matter."""

    def __init__(self, runtime, in_scope: dict[str, str]):
        self.runtime = runtime
        self.in_scope = in_scope
        now = datetime.now(UTC)
        with runtime.unit_of_work() as uow:
            record = {"id": ORGANISATION, "kind": "property_company", "name": "烟柳园物业", "scope": YANLIUYUAN}
            services.put_organisation(uow, SEEDER, record, now)
            services.add_member(uow, SEEDER, ORGANISATION, WORKER.subject, now)
        self.task_id = self.new_task(Principal("reader", "community_worker", YANLIUYUAN))

    def _ours(self, principal: Principal) -> bool:
        return principal.scope == self.in_scope[principal.role]

    def new_task(self, principal: Principal, stage: str = "assigned") -> str:
        now = datetime.now(UTC)
        proposal_id = str(uuid.uuid4())
        with self.runtime.unit_of_work() as uow:
            if principal.role == "department" and self._ours(principal):
                services.add_member(uow, SEEDER, ORGANISATION, principal.subject, now)
            if principal.role == "resident" and self._ours(principal):
                services.concerned(uow, "proposal", proposal_id, [principal.subject])
            task = domain.new_task(
                source="referral",
                source_id=proposal_id,
                community_code=YANLIUYUAN,
                title="楼道灯不亮",
                agreed="更换灯具",
                organisation_id=ORGANISATION,
                deadline=now.date() + timedelta(days=10),
                now=now,
                proposal_ids=[proposal_id],
            )
            services.assign(uow, task)
            if stage in ("accepted", "completed", "evaluated", "extension"):
                services.accept(uow, WORKER, task.id, now)
            if stage == "extension":
                services.request_extension(uow, WORKER, task.id, now, days=5, reason="材料未到")
            if stage in ("completed", "evaluated"):
                window = timedelta(0) if stage == "evaluated" else timedelta(days=15)
                services.complete(uow, WORKER, task.id, now, summary="已更换", rating_window=window)
        if stage == "evaluated":
            with self.runtime.unit_of_work() as uow:
                services.evaluate_due(uow, datetime.now(UTC), Fraction(1, 2))
        return task.id


def scenarios(Scenario, Request) -> dict:
    """The scenarios, given the matrix's own ``Scenario`` and ``Request`` types."""

    def on_task(stage: str, action: str = "", method: str = "POST", body=None):
        def build(world, principal):
            task_id = world.tracking.new_task(principal, stage)
            return Request(method, f"{TRACKING}/tasks/{task_id}{action}", body)

        return build

    def on_cases(suffix: str):
        """The case library, after a fresh case of 烟柳园 (a task evaluated) that only callers in
        scope may see."""

        def build(world, principal):
            world.tracking.new_task(principal, "evaluated")
            return Request("GET", f"{TRACKING}/cases{suffix}")

        return build

    def feature(world, principal):
        task_id = world.tracking.new_task(principal, "evaluated")
        return Request("PUT", f"{TRACKING}/cases/{task_id}/featured", {"featured": True})

    def shows_world_task(body, principal) -> bool:
        return any(item["community_code"] == YANLIUYUAN for item in body["items"])

    since = "2020-01-01T00:00:00%2B08:00"
    area_rates = f"scope={YANLIUYUAN}&level=community&since={since}&until=2099-12-31T00:00:00Z"
    return {
        ("GET", f"{TRACKING}/organisations"): Scenario(
            lambda w, p: Request("GET", f"{TRACKING}/organisations"),
            leaks=lambda body, p: any(o["id"] == ORGANISATION for o in body),
        ),
        ("PUT", f"{TRACKING}/organisations/{{organisation_id}}"): Scenario(
            lambda w, p: Request(
                "PUT",
                f"{TRACKING}/organisations/org-{uuid.uuid4().hex[:8]}",
                {"kind": "social_organisation", "name": "烟柳园志愿者协会", "scope": YANLIUYUAN},
            )
        ),
        ("POST", f"{TRACKING}/organisations/import"): Scenario(
            lambda w, p: Request(
                "POST",
                f"{TRACKING}/organisations/import",
                {"csv": f"id,kind,name,scope\norg-{uuid.uuid4().hex[:8]},resident_unit,池州供电公司,{YANLIUYUAN}\n"},
            ),
            leaks=lambda body, p: body["imported"] > 0,
        ),
        ("POST", f"{TRACKING}/organisations/{{organisation_id}}/members"): Scenario(
            lambda w, p: Request(
                "POST",
                f"{TRACKING}/organisations/{ORGANISATION}/members",
                {"account_id": f"dept-{uuid.uuid4().hex[:6]}"},
            )
        ),
        ("GET", f"{TRACKING}/tasks"): Scenario(
            lambda w, p: (w.tracking.new_task(p), Request("GET", f"{TRACKING}/tasks"))[1], leaks=shows_world_task
        ),
        ("GET", f"{TRACKING}/tasks/{{task_id}}"): Scenario(on_task("assigned", method="GET")),
        ("GET", f"{TRACKING}/tasks/{{task_id}}/history"): Scenario(on_task("assigned", "/history", "GET")),
        ("GET", f"{TRACKING}/tasks/{{task_id}}/progress"): Scenario(on_task("assigned", "/progress", "GET")),
        ("GET", f"{TRACKING}/tasks/{{task_id}}/ratings"): Scenario(on_task("completed", "/ratings", "GET")),
        ("POST", f"{TRACKING}/tasks/{{task_id}}/accept"): Scenario(on_task("assigned", "/accept")),
        ("POST", f"{TRACKING}/tasks/{{task_id}}/progress"): Scenario(
            on_task("accepted", "/progress", body={"percent": 40, "note": "已采购灯具"})
        ),
        ("POST", f"{TRACKING}/tasks/{{task_id}}/complete"): Scenario(
            on_task("accepted", "/complete", body={"summary": "已更换"})
        ),
        ("POST", f"{TRACKING}/tasks/{{task_id}}/extension"): Scenario(
            on_task("accepted", "/extension", body={"days": 5, "reason": "材料未到"})
        ),
        ("POST", f"{TRACKING}/tasks/{{task_id}}/extension/decision"): Scenario(
            on_task("extension", "/extension/decision", body={"approve": True})
        ),
        ("POST", f"{TRACKING}/tasks/{{task_id}}/close"): Scenario(on_task("evaluated", "/close")),
        ("POST", f"{TRACKING}/tasks/{{task_id}}/ratings"): Scenario(
            on_task("completed", "/ratings", body={"choice": "satisfied"})
        ),
        ("GET", f"{TRACKING}/cases"): Scenario(on_cases(""), leaks=shows_world_task),
        ("GET", f"{TRACKING}/cases/export"): Scenario(on_cases("/export?format=json"), leaks=shows_world_task),
        ("PUT", f"{TRACKING}/cases/{{task_id}}/featured"): Scenario(feature),
        ("GET", f"{TRACKING}/coverage"): Scenario(
            lambda w, p: Request("GET", f"{TRACKING}/coverage?scope={YANLIUYUAN}&level=community")
        ),
        ("GET", f"{TRACKING}/coverage/period"): Scenario(
            lambda w, p: Request(
                "GET", f"{TRACKING}/coverage/period?scope={YANLIUYUAN}&level=community&since=2026-01&until=2026-12"
            )
        ),
        ("GET", f"{TRACKING}/rates"): Scenario(
            lambda w, p: Request("GET", f"{TRACKING}/rates?scope={YANLIUYUAN}&since={since}&until=2099-12-31T00:00:00Z")
        ),
        ("GET", f"{TRACKING}/rates/areas"): Scenario(
            lambda w, p: Request("GET", f"{TRACKING}/rates/areas?{area_rates}")
        ),
    }
