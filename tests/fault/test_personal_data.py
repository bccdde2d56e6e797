"""Personal data never leaves where it belongs: after the faults, everything the run produced —
every process's log, every event published on the broker, every target's ``/metrics``, the public
pages (the community's board and its JSON, the street's, the calendar feed, Open311's requests, the
residents' app's first page) — holds none of the load's residents' phone numbers (in any spelling)
nor their names as registered. Their numbers live in notify's directory, encrypted; their names in
the gateway's accounts. One resident also typed her number into a matter, as residents do: it is
stored as she typed it (for the community to reach her) but leaves masked. (A name she typed into
her matter would be published as she wrote it: free text is hers, and names cannot be told from
other words; ``shared/redaction.py`` masks numbers, identity and card numbers and addresses.)"""

from __future__ import annotations

import re

import requests

from tests.conftest import YANLIUYUAN
from tests.support import wait_until

STREET = YANLIUYUAN[:9]


def spellings(phone: str) -> list[str]:
    """A number as it could be written out: whole, in 3-4-4 groups with a space or a hyphen."""
    return [phone, f"{phone[:3]} {phone[3:7]} {phone[7:]}", f"{phone[:3]}-{phone[3:7]}-{phone[7:]}"]


def findings(sources: dict[str, str], secrets: dict[str, str]) -> list[str]:
    found = []
    for where, content in sources.items():
        for secret, whose in secrets.items():
            if secret in content:
                at = content.index(secret)
                found.append(f"{whose} in {where}: …{content[max(0, at - 80) : at + 40]}…")
    return found


def public_pages(stack, proposal_ids: list[str]) -> dict[str, str]:
    paths = [f"/public/{YANLIUYUAN}", f"/public/{YANLIUYUAN}.json", f"/public/area/{STREET}",
             f"/public/area/{STREET}.json", f"/api/v1/meetings/communities/{YANLIUYUAN}/calendar.ics",
             "/open311/v2/requests.json?jurisdiction_id=341700000000&status=open", "/"]  # fmt: skip
    paths += [f"/open311/v2/requests/{pid}.json" for pid in proposal_ids]
    pages = {}
    for path in paths:
        response = requests.get(stack.gateway + path, timeout=30)
        assert response.status_code == 200, f"{path}: {response.status_code} {response.text[:300]}"
        pages[f"public page {path}"] = response.text
    return pages


def test_no_phone_number_or_name_in_logs_events_metrics_or_public_pages(stack, ledger):
    resident = stack.residents[1]
    typed = {"community_code": YANLIUYUAN, "title": f"楼道灯坏了请联系{resident.phone}",
             "description": f"三号楼楼道灯坏了一周,我住三号楼,电话 {spellings(resident.phone)[1]}",
             "category": "environment"}  # fmt: skip
    status, matter = stack.call("POST", "/api/v1/intake/proposals", resident.token, typed)
    assert status == 201, matter
    wait_until(lambda: _told(ledger, resident), timeout=60, interval=0.5,
               what="the matter with a number typed in it told to its submitter")  # fmt: skip

    logs = {f"log {path.name}": path.read_text(errors="replace") for path in sorted(stack.logs.glob("*.log"))}
    events = stack.published_events()
    metrics = {f"/metrics of {name}": requests.get(f"{stack.urls[name]}/metrics", timeout=30).text
               for name in stack.running()}  # fmt: skip
    pages = public_pages(stack, [matter["id"]])
    sources = {
        **logs,
        **{f"event {headers.get('type')} #{i}": f"{headers} {body}"
           for i, (headers, body) in enumerate(events)},
        **metrics,
        **pages,
    }  # fmt: skip
    assert sum(len(text) for text in logs.values()) > 100_000, "the run's logs are there to scan"
    assert len(events) > 50, f"the run's events are there to scan ({len(events)})"
    assert any("/proposals" in text for text in logs.values())
    secrets = {}
    for r in stack.residents:
        secrets |= dict.fromkeys(spellings(r.phone), f"the number of {r.username}")
        secrets[r.display_name] = f"the name of {r.username}"
    found = findings(sources, secrets)
    assert not found, f"{len(found)} findings:\n" + "\n".join(found[:20])
    shown = requests.get(f"{stack.gateway}/open311/v2/requests/{matter['id']}.json", timeout=30).json()[0]
    assert "[已隐去]" in shown["description"] and re.search(r"1\d{10}", shown["description"]) is None


def _told(ledger, resident) -> bool:
    """Her in-app message about the matter is there: its event went through notify (and its log lines)."""
    query = "SELECT count(*) FROM notification WHERE recipient_id = :r AND body LIKE '%楼道灯坏了请联系%'"
    return ledger.rows("notify", query, r=resident.account_id)[0][0] > 0
