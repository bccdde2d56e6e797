"""Notify's contact directory: numbers encrypted at rest and masked everywhere, scope, import,
retention (services/notify/contacts_api.py, phones.py)."""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import stat
from datetime import UTC, datetime

import pytest
from cryptography.exceptions import InvalidTag
from sqlalchemy import select

from services.notify import domain
from services.notify.models import bus, contacts
from services.notify.phones import PhoneVault, mask
from services.notify.sms import quiet_until
from tests.conftest import QIUPU_COMMUNITY, XIJIE, YANLIUYUAN

URL = "/api/v1/notify/contacts"
PHONE, OTHER_PHONE, THIRD_PHONE = "13812341234", "15900001111", "18622223333"
PHONES = (PHONE, OTHER_PHONE, THIRD_PHONE)


@pytest.fixture
def client(notify):
    return notify.create_api().test_client()


@pytest.fixture
def worker(auth):
    return auth("community_worker", YANLIUYUAN)


def create(client, headers, phone=PHONE, community=YANLIUYUAN, **extra):
    return client.post(
        URL, json={"phone": phone, "community_code": community, "kind": "resident", **extra}, headers=headers
    )


def rows(notify) -> list[dict]:
    with notify.db.sessions() as session:
        return [dict(r) for r in session.execute(select(contacts)).mappings()]


def no_phone_in(text: str) -> None:
    for phone in PHONES:
        assert phone not in text


def test_created_contact_is_masked_and_encrypted_at_rest(client, notify, worker):
    answer = create(client, worker, app_user_id="resident-1", opt_outs=["proposal"], quiet_start="21:30")
    assert answer.status_code == 201, answer.json
    body = answer.json
    assert body["phone"] == "138****1234"
    assert body["opt_outs"] == ["proposal"]
    assert (body["quiet_start"], body["quiet_end"], body["quiet_timezone"]) == ("21:30", "07:00", "Asia/Shanghai")
    assert body["channels"] == ["sms", "app"]
    no_phone_in(answer.get_data(as_text=True))

    [row] = rows(notify)
    stored = repr(row)
    no_phone_in(stored)
    assert PHONE.encode() not in row["phone_cipher"]
    assert len(row["phone_hash"]) == 64 and row["live"] is True
    # and the raw database file holds no digits of the number either
    db_file = notify.settings.data_dir / "notify.db"
    assert PHONE.encode() not in db_file.read_bytes()

    key_file = notify.settings.data_dir / "keys" / "notify-phone.key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600


def test_every_answer_masks_the_number(client, worker):
    contact_id = create(client, worker).json["id"]
    answers = [
        client.get(URL, headers=worker),
        client.get(f"{URL}/{contact_id}", headers=worker),
        client.patch(f"{URL}/{contact_id}", json={"channels": ["app"]}, headers=worker),
        create(client, worker),  # the duplicate's problem
        client.delete(f"{URL}/{contact_id}", headers=worker),
    ]
    for answer in answers:
        no_phone_in(answer.get_data(as_text=True))
    assert answers[0].json["items"][0]["phone"] == "138****1234"
    assert answers[1].json["phone"] == "138****1234"
    assert answers[2].json["channels"] == ["app"]


def test_duplicate_phone_in_a_community_conflicts(client, worker, auth):
    assert create(client, worker).status_code == 201
    again = create(client, worker)
    assert again.status_code == 409
    assert again.mimetype == "application/problem+json"
    assert again.json["detail"] == "该社区已有此手机号的联系人"
    # the same number in another community is another contact
    assert create(client, auth("street_admin", "341702001"), community=XIJIE).status_code == 201


def test_bad_input_is_refused_in_chinese_and_writes_nothing(client, notify, auth):
    cases = [
        {"phone": "12812341234", "community_code": YANLIUYUAN, "kind": "resident"},
        {"phone": PHONE, "community_code": "3417", "kind": "resident"},
        {"phone": PHONE, "community_code": YANLIUYUAN, "kind": "robot"},
        {"phone": PHONE, "community_code": YANLIUYUAN, "kind": "department_contact"},
        {"phone": PHONE, "community_code": YANLIUYUAN, "kind": "resident", "quiet_start": "25:00"},
        {"phone": PHONE, "community_code": YANLIUYUAN, "kind": "resident", "opt_outs": ["ads"]},
        {"phone": PHONE, "community_code": YANLIUYUAN, "kind": "resident", "channels": ["fax"]},
        {"phone": PHONE, "community_code": YANLIUYUAN, "kind": "resident", "name": "张三"},
        {"phone": PHONE, "community_code": "341702001999", "kind": "resident"},  # no such community
    ]
    street = auth("street_admin", "341702001")
    for body in cases:
        answer = client.post(URL, json=body, headers=street)
        assert answer.status_code in (400, 422), (body, answer.status_code)
        assert answer.mimetype == "application/problem+json"
        text = answer.get_data(as_text=True)
        assert any("\u4e00" <= ch <= "\u9fff" for ch in text)
        no_phone_in(text)
    assert rows(notify) == []


def test_scope(client, notify, worker, auth):
    contact_id = create(client, worker).json["id"]
    outsider = auth("community_worker", QIUPU_COMMUNITY)
    assert create(client, outsider, phone=OTHER_PHONE).status_code == 403  # 烟柳园 is not theirs
    assert client.get(f"{URL}/{contact_id}", headers=outsider).status_code == 404
    assert client.patch(f"{URL}/{contact_id}", json={"channels": ["app"]}, headers=outsider).status_code == 404
    assert client.delete(f"{URL}/{contact_id}", headers=outsider).status_code == 404
    assert client.get(URL, headers=outsider).json["items"] == []
    assert [c["id"] for c in client.get(URL, headers=auth("district_admin", "341702")).json["items"]] == [contact_id]
    # residents reach only their own contact
    resident = auth("resident", YANLIUYUAN)
    assert client.get(URL, headers=resident).status_code == 403
    assert client.get(f"{URL}/{contact_id}", headers=resident).status_code == 403
    assert len(rows(notify)) == 1


def test_list_pages_with_a_cursor(client, worker):
    for phone in PHONES:
        assert create(client, worker, phone=phone).status_code == 201
    first = client.get(f"{URL}?limit=2", headers=worker).json
    second = client.get(f"{URL}?limit=2&cursor={first['next_cursor']}", headers=worker).json
    assert len(first["items"]) == 2 and len(second["items"]) == 1 and second["next_cursor"] is None
    assert {c["phone"] for c in first["items"] + second["items"]} == {mask(p) for p in PHONES}


def test_residents_see_and_change_their_own_contact(client, worker, auth):
    create(client, worker, app_user_id="resident-me")
    me = auth("resident", YANLIUYUAN, subject="resident-me")
    assert client.get(f"{URL}/me", headers=me).json["phone"] == "138****1234"
    changed = client.patch(
        f"{URL}/me", json={"opt_outs": ["consultation", "proposal"], "quiet_start": "23:00", "quiet_end": "06:30"},
        headers=me,
    )  # fmt: skip
    assert changed.status_code == 200
    assert (changed.json["opt_outs"], changed.json["quiet_start"], changed.json["quiet_end"]) == (
        ["consultation", "proposal"],
        "23:00",
        "06:30",
    )
    stored = client.get(f"{URL}/me", headers=me).json
    assert stored["opt_outs"] == ["consultation", "proposal"] and stored["quiet_end"] == "06:30"
    assert client.get(f"{URL}/me", headers=auth("resident", YANLIUYUAN)).status_code == 404
    assert client.patch(f"{URL}/me", json={}, headers=me).status_code == 422
    assert client.get(f"{URL}/me", headers=worker).status_code == 403


def test_removal_erases_the_ciphertext_and_remembers_opt_outs(client, notify, worker):
    contact_id = create(client, worker, opt_outs=["consultation"]).json["id"]
    removed = client.delete(f"{URL}/{contact_id}", headers=worker)
    assert removed.status_code == 200
    assert removed.json["phone"] is None and removed.json["removed_at"]
    [row] = rows(notify)
    assert row["phone_cipher"] is None and row["removed_at"] is not None and row["live"] is None
    assert len(row["phone_hash"]) == 64
    assert client.get(f"{URL}/{contact_id}", headers=worker).status_code == 404
    assert client.delete(f"{URL}/{contact_id}", headers=worker).status_code == 404
    # the same number again: a new contact, that keeps the opt-out
    again = create(client, worker)
    assert again.status_code == 201
    assert again.json["opt_outs"] == ["consultation"]


CSV = (
    "phone,community_code,kind,app_user_id,department_id,channels,quiet_start,quiet_end\n"
    f"{PHONE},{YANLIUYUAN},resident,resident-a,,sms;app,22:30,07:00\n"  # 2 good
    f"12345,{YANLIUYUAN},resident,,,,,\n"  # 3 bad phone
    f"{OTHER_PHONE},{YANLIUYUAN},department_contact,,,sms,,\n"  # 4 no department
    f"{OTHER_PHONE},{QIUPU_COMMUNITY},resident,,,,,\n"  # 5 out of scope
    f"{THIRD_PHONE},{YANLIUYUAN},department_contact,,贵池区住建局,sms,,\n"  # 6 good
    f"{THIRD_PHONE},{YANLIUYUAN},department_contact,,贵池区住建局,app,,\n"  # 7 same number again
    f"{OTHER_PHONE},{YANLIUYUAN},resident,,,fax,26:00,\n"  # 8 bad channel and time
)


def test_import_keeps_good_rows_and_reports_bad_ones(client, notify, worker, caplog):
    caplog.set_level(logging.DEBUG)
    answer = client.post(f"{URL}/import", data=CSV.encode(), headers={**worker, "Content-Type": "text/csv"})
    assert answer.status_code == 200, answer.json
    body = answer.json
    assert (body["imported"], body["updated"]) == (2, 0)
    rejected = {r["line"]: r["errors"] for r in body["rejected"]}
    assert sorted(rejected) == [3, 4, 5, 7, 8]
    assert rejected[3] == ["手机号:手机号须为11位中国大陆手机号"]
    assert rejected[4] == ["部门联系人须填写部门(department_id)"]
    assert "不在您的管辖范围内" in rejected[5][0]
    assert rejected[7] == ["与第6行的手机号重复"]
    assert rejected[8] == ["渠道:渠道须为以下之一:sms、app", "免打扰开始:时间须为HH:MM格式(北京时间),如22:00"]
    no_phone_in(answer.get_data(as_text=True))
    assert len(rows(notify)) == 2
    listed = client.get(URL, headers=worker).json["items"]
    assert {c["phone"] for c in listed} == {"138****1234", "186****3333"}
    no_phone_in(caplog.text)

    # the same file again, as a multipart upload: the good rows now update their contacts
    again = client.post(
        f"{URL}/import", data={"file": (io.BytesIO(CSV.encode()), "contacts.csv")}, headers=worker,
        content_type="multipart/form-data",
    )  # fmt: skip
    assert again.status_code == 200
    assert (again.json["imported"], again.json["updated"]) == (0, 2)
    assert len(rows(notify)) == 2


def test_import_without_a_good_row_writes_nothing(client, notify, worker, auth):
    bad = f"phone,community_code,kind\n123,{YANLIUYUAN},resident\n{PHONE},{YANLIUYUAN},alien\n"
    answer = client.post(f"{URL}/import", data=bad.encode(), headers={**worker, "Content-Type": "text/csv"})
    assert answer.status_code == 422
    assert [r["line"] for r in answer.json["rejected"]] == [2, 3]
    no_phone_in(answer.get_data(as_text=True))
    missing = client.post(f"{URL}/import", data=b"phone,kind\n", headers={**worker, "Content-Type": "text/csv"})
    assert missing.status_code == 422 and "community_code" in missing.json["detail"]
    outside = f"phone,community_code,kind\n{PHONE},{QIUPU_COMMUNITY},resident\n"
    refused = client.post(f"{URL}/import", data=outside.encode(), headers={**worker, "Content-Type": "text/csv"})
    assert refused.status_code == 403
    assert client.post(f"{URL}/import", data=b"x", headers={**worker, "Content-Type": "image/png"}).status_code == 415
    assert rows(notify) == []


def test_meetings_is_told_of_contacts_by_ids_and_the_resync_command_tells_them_again(client, notify, worker, cli):
    contact_id = create(client, worker, app_user_id="resident-1").json["id"]
    leaving = create(client, worker, phone=OTHER_PHONE).json["id"]
    assert client.delete(f"{URL}/{leaving}", headers=worker).status_code == 200
    code, out = cli("contacts", "resync")
    assert code == 0 and "2 contacts republished" in out
    with notify.db.sessions() as session:
        bodies = session.scalars(select(bus.outbox.c.body).order_by(bus.outbox.c.seq)).all()
    told = [json.loads(body) for body in bodies]
    assert [event["type"] for event in told] == ["notify.contacts.changed"] * 4  # two added, one removed, a resync
    assert told[0]["payload"]["contacts"] == [
        {"contact_id": contact_id, "app_user_id": "resident-1", "kind": "resident", "community_code": YANLIUYUAN,
         "removed": False}
    ]  # fmt: skip
    resynced = {(c["app_user_id"], c["removed"]) for c in told[-1]["payload"]["contacts"]}
    assert resynced == {("resident-1", False), (None, True)}
    no_phone_in("".join(bodies))


def test_no_phone_number_reaches_the_logs(client, worker, caplog):
    caplog.set_level(logging.DEBUG)
    contact_id = create(client, worker, app_user_id="resident-log").json["id"]
    create(client, worker)
    create(client, worker, phone="12812341234")
    client.patch(f"{URL}/{contact_id}", json={"opt_outs": ["proposal"]}, headers=worker)
    client.delete(f"{URL}/{contact_id}", headers=worker)
    assert caplog.records
    no_phone_in(caplog.text)


def test_configured_key_and_the_vault():
    key = os.urandom(32)
    vault = PhoneVault(key)
    blob = vault.encrypt(PHONE, "contact-1")
    assert vault.decrypt(blob, "contact-1") == PHONE
    assert vault.digest(PHONE) == PhoneVault(key).digest(PHONE) != PhoneVault(os.urandom(32)).digest(PHONE)
    with pytest.raises(InvalidTag):
        vault.decrypt(blob, "contact-2")  # bound to its row
    from shared.config import ConfigError, load_settings

    assert load_settings({"XIESHANG_NOTIFY_PHONE_KEY": base64.b64encode(key).decode()}).notify_phone_key == key
    with pytest.raises(ConfigError):
        load_settings({"XIESHANG_NOTIFY_PHONE_KEY": base64.b64encode(b"short").decode()})


def test_quiet_hours_span_midnight_in_beijing_time():
    contact = domain.new_contact(
        kind="resident", community_code=YANLIUYUAN, department_id=None, app_user_id=None, channels=None,
        quiet_start=None, quiet_end=None, opt_outs=None, now=datetime.now(UTC),
    )  # fmt: skip
    assert (contact.quiet_start, contact.quiet_end) == ("22:00", "07:00")
    assert quiet_until(contact.quiet_start, contact.quiet_end, datetime(2026, 12, 1, 15, 0, tzinfo=UTC))  # 23:00
    assert not quiet_until(contact.quiet_start, contact.quiet_end, datetime(2026, 12, 1, 1, 0, tzinfo=UTC))  # 09:00
