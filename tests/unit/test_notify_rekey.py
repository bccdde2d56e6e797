"""Rotating notify's phone key: while ``XIESHANG_NOTIFY_PHONE_KEY_PREVIOUS`` holds the retired key
everything stored under it is still read and matched, and ``xieshang contacts rekey`` moves every
ciphertext and hash to the new key, in batches, resumably (services/notify/phones.py, rekey.py)."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from services.notify import domain, handlers, replies, repository, services, sms
from services.notify.models import contacts, sms_messages, sms_replies, sms_stops
from services.notify.periodic.sender import SmsSender
from services.notify.phones import PhoneVault, vault_for
from services.notify.rekey import rekey
from shared.clock import FixedClock
from tests.conftest import XIJIE, YANLIUYUAN
from tests.unit.notify_events import SUBMITTER, apply, submitted
from tests.unit.test_notify_sms import Carrier

OLD, NEW = os.urandom(32), os.urandom(32)
PHONE, STOPPED, REMOVED, STRANGER = "13800138000", "13900139000", "15000150000", "18600186000"
DAYTIME = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 in Beijing


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


@pytest.fixture
def env(env):
    """notify runs mid-rotation: the new key current, the retired one previous."""
    return {**env, "XIESHANG_NOTIFY_PHONE_KEY": b64(NEW), "XIESHANG_NOTIFY_PHONE_KEY_PREVIOUS": b64(OLD)}


@pytest.fixture
def daytime(notify, monkeypatch):
    clock = FixedClock(DAYTIME)
    monkeypatch.setattr(handlers, "clock", clock)
    monkeypatch.setattr(notify, "clock", clock)
    return clock


def add_under(notify, vault: PhoneVault, phone: str, *, community=YANLIUYUAN, app_user_id=None, opt_outs=None) -> str:
    contact = domain.new_contact(kind="resident", community_code=community, department_id=None,
                                 app_user_id=app_user_id, channels=None, quiet_start="22:00", quiet_end="07:00",
                                 opt_outs=opt_outs, now=DAYTIME)  # fmt: skip
    with notify.db.transaction() as session:
        repository.add(session, vault, contact, phone)
    return contact.id


def receive(notify, vault: PhoneVault, sender: str, text: str) -> str:
    with notify.unit_of_work() as uow:
        return services.reply(uow, vault, provider="http", signature=vault.sign("replies:http"), sender=sender,
                              text=text, now=DAYTIME)  # fmt: skip


@pytest.fixture
def written_under_the_old_key(notify, daytime):
    """A directory as the old key left it: contacts (one removed, its opt-outs remembered by hash,
    its number still held by a contact in another community), a stopped number, a reply acted on,
    and a queued answer to a number without a contact (its number encrypted in the message)."""
    old = PhoneVault(OLD)
    ids = [add_under(notify, old, PHONE, app_user_id=SUBMITTER), add_under(notify, old, STOPPED)]
    for n in range(5):
        ids.append(add_under(notify, old, f"1370000000{n}"))
    removed = add_under(notify, old, REMOVED, opt_outs=["community"])
    ids.append(add_under(notify, old, REMOVED, community=XIJIE))
    with notify.db.transaction() as session:
        repository.remove(session, removed, DAYTIME)
        repository.record_reply(session, old.digests(PHONE), "question-1", "support", DAYTIME)
    assert receive(notify, old, STOPPED, "TD") == replies.STOP
    assert receive(notify, old, STRANGER, "你好") == "register"
    return ids


def snapshot(notify) -> dict:
    with notify.db.sessions() as session:
        return {
            "contacts": session.execute(
                select(contacts.c.id, contacts.c.phone_cipher, contacts.c.phone_hash).order_by(contacts.c.id)
            ).all(),
            "stops": session.scalars(select(sms_stops.c.phone_hash).order_by(sms_stops.c.phone_hash)).all(),
            "replies": session.execute(select(sms_replies.c.phone_hash, sms_replies.c.question_key)).all(),
            "answers": session.execute(
                select(sms_messages.c.id, sms_messages.c.phone_cipher).where(sms_messages.c.phone_cipher.is_not(None))
            ).all(),
        }


def assert_the_new_key_alone_finds_everything(notify, ids):
    new = PhoneVault(NEW)
    with notify.db.sessions() as session:
        rows = session.execute(select(contacts).where(contacts.c.id.in_(ids))).mappings().all()
        for row in rows:
            phone = new.decrypt(row["phone_cipher"], row["id"])
            assert repository.by_phone(session, row["community_code"], new.digests(phone)).id == row["id"]
        assert repository.is_stopped(session, new.digests(STOPPED))
        assert not repository.is_stopped(session, new.digests(PHONE))
        assert repository.remembered_opt_outs(session, YANLIUYUAN, new.digests(REMOVED)) == ("community",)
        assert not repository.record_reply(session, new.digests(PHONE), "question-1", "support", DAYTIME)
    assert len(rows) == len(ids)


def test_during_a_rotation_what_the_old_key_wrote_is_read_and_matched(notify, written_under_the_old_key):
    rotating = vault_for(notify.settings)
    assert rotating.rotating
    with notify.db.sessions() as session:
        assert repository.by_phone(session, YANLIUYUAN, rotating.digests(PHONE)).app_user_id == SUBMITTER
        assert repository.is_stopped(session, rotating.digests(STOPPED))
    assert rotating.verify("replies:http", PhoneVault(OLD).sign("replies:http"))  # URLs given out before
    assert not PhoneVault(NEW).verify("replies:http", PhoneVault(OLD).sign("replies:http"))


def test_a_number_stopped_during_the_rotation_gets_no_sms_whichever_key_its_contact_is_under(notify, daytime):
    add_under(notify, PhoneVault(OLD), PHONE, app_user_id=SUBMITTER)
    assert receive(notify, vault_for(notify.settings), PHONE, "TD") == replies.STOP
    apply(notify, submitted("p-1"))
    with notify.db.sessions() as session:
        assert session.scalars(select(sms_messages.c.status)).all() == []
    rekey(notify.unit_of_work, vault_for(notify.settings))
    with notify.db.sessions() as session:
        assert repository.is_stopped(session, PhoneVault(NEW).digests(PHONE))


def test_after_rekey_the_new_key_alone_finds_every_contact_and_the_sms_still_go(
    notify, written_under_the_old_key, daytime
):
    apply(notify, submitted("p-1"))  # an SMS queued to the submitter before the rekey
    done, complete = rekey(notify.unit_of_work, vault_for(notify.settings))
    assert complete and done.unreadable == 0
    assert (done.contacts, done.hashes, done.answers) == (8, 8, 1)  # the removed contact's cipher is gone
    assert_the_new_key_alone_finds_everything(notify, written_under_the_old_key)
    carrier = Carrier()
    settings = notify.settings.replace(notify_phone_key_previous=None)
    SmsSender(notify.db, notify.unit_of_work, carrier, vault_for(settings), settings, daytime).send_due()
    assert sorted(outgoing.phone for outgoing in carrier.sent) == [PHONE, STRANGER]
    with notify.db.sessions() as session:
        assert set(session.scalars(select(sms_messages.c.status))) == {sms.SENT}


def test_a_second_rekey_changes_nothing(notify, written_under_the_old_key):
    rekey(notify.unit_of_work, vault_for(notify.settings))
    before = snapshot(notify)
    done, complete = rekey(notify.unit_of_work, vault_for(notify.settings))
    assert complete and (done.contacts, done.hashes, done.answers, done.unreadable) == (0, 0, 0, 0)
    assert snapshot(notify) == before


def test_a_rekey_cut_short_completes_when_run_again(notify, written_under_the_old_key):
    first, complete = rekey(notify.unit_of_work, vault_for(notify.settings), batch=3, max_batches=1)
    assert not complete and first.contacts == 3  # one batch committed, as a crash after it leaves it
    rest, complete = rekey(notify.unit_of_work, vault_for(notify.settings), batch=3)
    assert complete
    assert (first.contacts + rest.contacts, first.answers + rest.answers) == (8, 1)
    assert_the_new_key_alone_finds_everything(notify, written_under_the_old_key)


def test_the_rekey_command_prints_counts_and_never_a_number(notify, written_under_the_old_key, cli):
    code, out = cli("contacts", "rekey", "--batch", "2")
    assert code == 0
    assert (
        out.strip()
        == "8 contact number(s) encrypted again, 8 number hash(es) moved, 1 queued answer(s) encrypted again"
    )
    code, out = cli("contacts", "rekey")
    assert code == 0 and out.startswith("0 contact number(s) encrypted again, 0 number hash(es) moved")


def test_without_the_previous_key_the_rekey_fails_and_changes_nothing(notify, written_under_the_old_key, cli,
                                                                       monkeypatch):  # fmt: skip
    before = snapshot(notify)
    monkeypatch.setenv("XIESHANG_NOTIFY_PHONE_KEY_PREVIOUS", "")
    assert cli("contacts", "rekey")[0] == 1  # "8 number(s) open under neither key" on stderr
    assert snapshot(notify) == before
