"""``xieshang demo``: 池阳街道's matters from the research report, played through the gateway.

Accounts (a city operator, a district system's API key, community workers, a street and two
district administrators, departments and a property company with their organisations, a
supervisor, residents with their numbers in notify's directory), then each of the report's four
matters raised by a resident, co-signed, accepted as a topic, consulted in its own form and
recorded afterwards (补录) with its real-looking date, decided, carried out by its organisation and
rated by the residents; a year of consultations across 贵池区's other streets and a few of
东至县's, so that coverage sits below the target in some districts; and one online consultation
of 烟柳园社区 open to residents now, for trying the web app.

Everything goes through the gateway's API (the same routes an app calls); only the first operator
account and the API key are made with the accounts use cases, as ``xieshang users create`` does.
Idempotent: a finished demo leaves ``<data dir>/demo.json`` and a second run only prints it again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

PASSWORD = "Chiyang-2018-demo"  # noqa: S105 - every demo account's, printed: a trial, not a deployment
CHIYANG = "341702001"
YANLIUYUAN, XIJIE, HONGGUANG, XINGHUA = (f"{CHIYANG}{n:03d}" for n in (1, 2, 3, 4))
COMMUNITY_NAMES = {YANLIUYUAN: "烟柳园社区", XIJIE: "西街社区", HONGGUANG: "红光社区", XINGHUA: "杏花社区"}
ORGANISATIONS = {
    "xinghua-property": ("property_company", "杏花家园物业公司", XINGHUA),
    "guichi-housing": ("department", "贵池区住房和城乡建设局", "341702"),
    "chiyang-office": ("department", "池阳街道城管办", CHIYANG),
    "hongguang-owners": ("owners_committee", "红光新村业主委员会", HONGGUANG),
}
# The report's matters: community, title, description, place, category, form, months ago held,
# organisation, what was agreed, how it was carried out.
MATTERS = (
    (XINGHUA, "杏花家园停车难,建议改造闲置空地为停车场", "小区车位不足,车辆乱停占用消防通道,北侧空地长期闲置。",
     "杏花家园北侧空地", "management", "community_council", 10, "xinghua-property",
     "物业公司将北侧空地平整划线,改造为停车场,居民按月登记停放", "停车场已建成,划设车位46个,已投入使用"),
    (HONGGUANG, "红光市场3栋楼下下水道经常堵塞", "下水道堵塞污水外溢,气味难闻,影响楼上住户和市场经营。",
     "红光市场3栋", "environment", "online", 8, "guichi-housing",
     "住建局牵头疏通并更换3栋楼下排污管道,市场商户共同维护", "排污管道已更换,雨季未再外溢"),
    (XIJIE, "绣春巷开水炉噪音扰民", "开水炉鼓风机清晨五点开始运转,噪音很大,老人休息不好。",
     "绣春巷开水炉", "environment", "neighbourhood_point", 6, "chiyang-office",
     "开水炉更换低噪音鼓风机,早上六点半以后开炉", "已更换鼓风机并调整开炉时间,噪音明显降低"),
    (HONGGUANG, "红光新村业委会没有议事场所", "业委会成立后没有固定场所开会议事,只能在楼道里商量。",
     "红光新村", "management", "owners_meeting", 4, "hongguang-owners",
     "社区腾出一楼活动室,每周二、周五供业委会议事使用", "活动室已挂牌,业委会每周按时议事"),
)  # fmt: skip


@dataclass
class Answer:
    status: int
    body: dict | list


Transport = Callable[[str, str, dict | None, dict], Answer]


def http_transport(base_url: str) -> Transport:
    import urllib3

    pool = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=3, read=30))

    def send(method: str, path: str, body: dict | None, headers: dict) -> Answer:
        data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
        if data is not None:
            headers = {**headers, "Content-Type": "application/json"}
        response = pool.request(method, base_url.rstrip("/") + path, body=data, headers=headers)
        try:
            parsed = json.loads(response.data) if response.data else {}
        except ValueError:
            parsed = {}
        return Answer(response.status, parsed)

    return send


class DemoError(RuntimeError):
    pass


class Demo:
    def __init__(self, send: Transport, accounts, data_dir: Path, *, wait_seconds: float = 20.0, log=print):
        self.send, self.accounts, self.data_dir = send, accounts, Path(data_dir)
        self.wait_seconds, self.log = wait_seconds, log
        self.tokens: dict[str, str] = {}
        self.ids: dict[str, str] = {}
        self.people: list[tuple[str, str, str]] = []  # username, role, what for

    # -- plumbing ------------------------------------------------------------------------------------
    def call(self, who: str, method: str, path: str, body: dict | None = None, ok=(200, 201, 202, 204)) -> dict:
        headers = {"Authorization": f"Bearer {self.token(who)}"} if who else {}
        answer = self.send(method, path, body, headers)
        if answer.status not in ok:
            raise DemoError(f"{method} {path} as {who}: {answer.status} {answer.body}")
        return answer.body

    def until(self, what: str, attempt: Callable[[], object]):
        """Events move the platform on (a proposal reaching meetings, a task being made): ask again
        until it has, for a bounded while."""
        deadline, last = time.monotonic() + self.wait_seconds, None
        while True:
            try:
                value = attempt()
            except DemoError as refused:
                value, last = None, refused
            if value:
                return value
            if time.monotonic() > deadline:
                raise DemoError(f"gave up waiting for {what} ({last})")
            time.sleep(0.2)

    def token(self, username: str) -> str:
        if username not in self.tokens:
            answer = self.send("POST", "/api/v1/auth/token", {"username": username, "password": PASSWORD}, {})
            if answer.status != 200:
                raise DemoError(f"cannot sign in as {username}: {answer.status} {answer.body}")
            self.tokens[username] = answer.body["access_token"]
        return self.tokens[username]

    def account(self, username: str, role: str, scope: str, name: str, purpose: str) -> str:
        body = {"username": username, "password": PASSWORD, "role": role, "scope": scope, "display_name": name}
        self.ids[username] = self.call("chizhou.operator", "POST", "/api/v1/auth/accounts", body)["id"]
        self.people.append((username, role, purpose))
        return self.ids[username]

    # -- the demo ------------------------------------------------------------------------------------
    def run(self, today: date | None = None) -> dict:
        marker = self.data_dir / "demo.json"
        if marker.exists():
            return json.loads(marker.read_text(encoding="utf-8"))
        today = today or datetime.now(UTC).date()
        self.ids["chizhou.operator"] = self.accounts.create_user(
            "chizhou.operator", PASSWORD, "city_operator", "3417", "池州市运营"
        )
        self.people.append(("chizhou.operator", "city_operator", "池州市:覆盖率、三率、账户管理"))
        key = self.accounts.create_api_key("贵池区12345热线", "341702", 600)
        self._accounts()
        matters = [self._matter(today, *matter) for matter in MATTERS]
        self._history(today)
        live = self._live_consultation()
        summary = {
            "password": PASSWORD,
            "accounts": [{"username": u, "role": r, "for": p} for u, r, p in self.people],
            "api_key": {"name": "贵池区12345热线", "scope": "341702", "key": key},
            "matters": matters,
            "live_consultation": live,
        }
        marker.write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
        return summary

    def _accounts(self) -> None:
        for code, name in COMMUNITY_NAMES.items():
            self.account(f"worker.{code[-3:]}", "community_worker", code, f"{name}社工", f"{name}:分拣事项、组织协商")
        self.account("chiyang.street", "street_admin", CHIYANG, "池阳街道", "池阳街道:督办")
        self.account("guichi.district", "district_admin", "341702", "贵池区", "贵池区:补录与督办")
        self.account("dongzhi.district", "district_admin", "341721", "东至县", "东至县:补录")
        self.account("chiyang.supervisor", "supervisor", CHIYANG, "居务监督委员会", "池阳街道:监督")
        for org, (kind, name, scope) in ORGANISATIONS.items():
            self.call("chizhou.operator", "PUT", f"/api/v1/tracking/organisations/{org}",
                      {"kind": kind, "name": name, "scope": scope})  # fmt: skip
            member = self.account(f"org.{org}", "department", scope, name, f"{name}:签收、办理任务")
            self.call(
                "chizhou.operator", "POST", f"/api/v1/tracking/organisations/{org}/members", {"account_id": member}
            )
        for n, (code, name) in enumerate(COMMUNITY_NAMES.items()):
            for k, who in enumerate(("居民甲", "居民乙")):
                username = f"resident.{code[-3:]}.{k + 1}"
                self.ids[username] = self.accounts.create_user(username, PASSWORD, "resident", code, f"{name}{who}")
                self.people.append((username, "resident", f"{name}居民:提事项、附议、评价"))
                contact = {"phone": f"139{n:02d}56{k:04d}", "community_code": code, "kind": "resident",
                           "app_user_id": self.ids[username]}  # fmt: skip
                self.call(f"worker.{code[-3:]}", "POST", "/api/v1/notify/contacts", contact)

    def _matter(self, today, community, title, description, place, category, form, months, org, agreed, done) -> dict:
        c = community[-3:]
        worker, first, second = f"worker.{c}", f"resident.{c}.1", f"resident.{c}.2"
        body = {"community_code": community, "title": title, "description": description, "category": category,
                "location": {"address": place}}  # fmt: skip
        proposal = self.call(first, "POST", "/api/v1/intake/proposals", body)["id"]
        self.call(second, "POST", f"/api/v1/intake/proposals/{proposal}/support")
        self.call(worker, "POST", f"/api/v1/intake/proposals/{proposal}/accept")
        held = _months_ago(today, months)
        record = {
            "division_code": community, "title": f"{title[:20]}({_FORMS[form]})", "form": form,
            "mode": "online" if form == "online" else "offline", "held_at": held.isoformat(),
            "venue": None if form == "online" else f"{COMMUNITY_NAMES[community]}议事室",
            "topics": [{"proposal_id": proposal}],
            "attendance": {"resident_representative": 12, "party_member": 3, "stakeholder": 4},
            "decision": "decided", "minutes_url": "https://docs.example/minutes.pdf",
            "resolutions": [{"topic_index": 0, "organisation_id": org, "agreed": agreed,
                             "deadline": (today + timedelta(days=30)).isoformat()}],
        }  # fmt: skip
        self.until(
            f"{title} in meetings", lambda: self.call(worker, "POST", "/api/v1/meetings/consultations/recorded", record)
        )
        tasks = "/api/v1/tracking/tasks"
        task = self.until(f"the task of {title}", lambda: next(
            (t for t in self.call(f"org.{org}", "GET", f"{tasks}?community={community}&limit=100")["items"]
             if proposal in t["proposal_ids"]), None))  # fmt: skip
        self.call(f"org.{org}", "POST", f"{tasks}/{task['id']}/accept")
        self.call(f"org.{org}", "POST", f"{tasks}/{task['id']}/progress", {"percent": 60, "note": "施工过半"})
        self.call(f"org.{org}", "POST", f"{tasks}/{task['id']}/complete", {"summary": done})
        # The submitter rates; the co-signer may still (the web app's trial of 公众评事).
        self.until(f"{first} may rate", lambda: self.call(
            first, "POST", f"{tasks}/{task['id']}/ratings", {"choice": "satisfied", "comment": "办得好"}))  # fmt: skip
        state = self.until(
            f"{title} resolved", lambda: _resolved(self.call(first, "GET", f"/api/v1/intake/proposals/{proposal}"))
        )
        return {"title": title, "community": community, "proposal_id": proposal, "task_id": task["id"], "status": state}

    def _history(self, today) -> None:
        """A year of recorded consultations in 贵池区's other streets (most communities) and a few of
        东至县's: the city's coverage sits below its target, 东至县 far below."""
        board = self.send("GET", "/public/area/341702.json", None, {}).body
        elsewhere = [c["code"] for c in board.get("communities", []) if not c["code"].startswith(CHIYANG)]
        dongzhi = self.send("GET", "/public/area/341721.json", None, {}).body
        plan = [("guichi.district", code, n) for n, code in enumerate(elsewhere) if n % 4 != 3]
        plan += [("dongzhi.district", c["code"], n) for n, c in enumerate(dongzhi.get("communities", [])[:3])]
        for who, code, n in plan:
            record = {
                "division_code": code, "title": f"居民议事会({n % 11 + 1}月)", "form": "community_council",
                "mode": "offline", "held_at": _months_ago(today, n % 11 + 1).isoformat(), "venue": "社区议事室",
                "topics": [{"title": "小区环境整治", "origin": "top_down"}],
                "attendance": {"resident_representative": 8 + n % 5}, "decision": "no_consensus",
                "explanation": "意见尚未统一,下次继续协商",
                "minutes_url": "https://docs.example/minutes.pdf",
            }  # fmt: skip
            self.call(who, "POST", "/api/v1/meetings/consultations/recorded", record)

    def _live_consultation(self) -> dict:
        """An online consultation of 烟柳园社区 open now (where the deployment's notice period allows
        a same-day trial, ``XIESHANG_NOTICE_DAYS=0``; otherwise announced for the earliest day)."""
        worker, meetings = "worker.001", "/api/v1/meetings/consultations"
        starts = datetime.now(UTC) + timedelta(seconds=3)
        body = {
            "division_code": YANLIUYUAN, "title": "烟柳园楼道堆物怎么清理(线上协商)", "form": "online",
            "mode": "online", "online_link": "https://meeting.example/yanliuyuan", "starts_at": starts.isoformat(),
            "materials": ["https://docs.example/yanliuyuan-corridors.pdf"],
        }  # fmt: skip
        consultation = self.call(worker, "POST", meetings, body)
        cid = consultation["id"]
        self.call(worker, "POST", f"{meetings}/{cid}/topics", {"title": "楼道堆物清理方案", "origin": "top_down"})
        # And a matter of 烟柳园 waiting for co-signers, which a new resident's similar matter finds.
        waiting = {"community_code": YANLIUYUAN, "title": "烟柳园5栋楼道堆物占用消防通道", "category": "environment",
                   "description": "楼道里堆满旧家具和纸箱,消防通道被堵,存在安全隐患。"}  # fmt: skip
        self.ids["waiting_matter"] = self.call("resident.001.1", "POST", "/api/v1/intake/proposals", waiting)["id"]
        for username in ("resident.001.1", "resident.001.2"):
            invitation = {"person_id": self.ids[username], "category": "resident_representative"}
            self.until("the residents in meetings' directory",
                       lambda i=invitation: self.call(worker, "POST", f"{meetings}/{cid}/participants", i))  # fmt: skip
        announced = self.send(
            "POST", f"{meetings}/{cid}/announce", None, {"Authorization": f"Bearer {self.token(worker)}"}
        )
        if announced.status != 200:
            earliest = announced.body.get("earliest_start") if isinstance(announced.body, dict) else None
            if not earliest:
                raise DemoError(f"cannot announce the online consultation: {announced.body}")
            opens = (datetime.fromisoformat(earliest) + timedelta(minutes=10)).isoformat()
            self.call(worker, "PATCH", f"{meetings}/{cid}", {"starts_at": opens})
            self.call(worker, "POST", f"{meetings}/{cid}/announce")
            earliest = opens
            return {"id": cid, "status": "announced", "opens": earliest, "waiting_matter": self.ids["waiting_matter"]}
        time.sleep(max(0.0, (starts - datetime.now(UTC)).total_seconds()) + 0.2)
        self.call(worker, "POST", f"{meetings}/{cid}/start")
        now = datetime.now(UTC)
        self.call(worker, "POST", f"{meetings}/{cid}/rounds",
                  {"opens_at": now.isoformat(), "closes_at": (now + timedelta(days=7)).isoformat()})  # fmt: skip
        return {"id": cid, "status": "in_session", "waiting_matter": self.ids["waiting_matter"]}


_FORMS = {"community_council": "社区议事会", "online": "线上协商", "neighbourhood_point": "邻里议事点",
          "owners_meeting": "业主协商会"}  # fmt: skip


def _resolved(proposal: dict) -> str | None:
    return proposal["status"] if proposal.get("status") in ("resolved", "closed") else None


def _months_ago(today: date, months: int) -> datetime:
    """10:00 Beijing time on the 12th of the month ``months`` before ``today``'s."""
    index = today.year * 12 + today.month - 1 - months
    return datetime(index // 12, index % 12 + 1, 12, 2, tzinfo=UTC)


def printed(summary: dict, base_url: str) -> str:
    lines = [f"演示数据已就绪。所有演示账户的密码:{summary['password']}", ""]
    lines += [f"  {a['username']:<26} {a['role']:<17} {a['for']}" for a in summary["accounts"]]
    key = summary["api_key"]
    lines += ["", f"区级系统API密钥({key['name']},范围 {key['scope']}):{key['key']}", "", "事项:"]
    lines += [f"  {m['title']} → {m['status']}" for m in summary["matters"]]
    live = summary["live_consultation"]
    lines += ["", f"居民网页:{base_url}/  (如 resident.001.1 登录,参加线上协商 {base_url}/consultations/{live['id']})",
              f"居务公开:{base_url}/public/{YANLIUYUAN}",
              f"覆盖率:{base_url}/api/v1/tracking/coverage?scope=3417"]  # fmt: skip
    return "\n".join(lines)
