import pytest

from shared import context
from shared.events import EventValidationError, new_event, parse_envelope

PAYLOAD = {
    "proposal_id": "p1",
    "community_code": "341702001001",
    "submitter_id": "u1",
    "title": "绣春巷开水炉扰民",
    "category": "environment",
    "channel": "app",
    "origin": "resident",
    "submitted_at": "2026-11-26T08:00:00+00:00",
}


def test_new_event_has_the_design_envelope():
    with context.bound(correlation_id="corr-1"):
        event = new_event("intake.proposal.submitted", PAYLOAD, producer="intake", division_code="341702001001")
    data = event.to_dict()
    assert set(data) == {
        "id", "type", "version", "occurred_at", "producer", "correlation_id", "division_code", "payload",
    }  # fmt: skip
    assert data["correlation_id"] == "corr-1"
    assert data["version"] == 1
    assert event.routing_key == "intake.proposal.submitted"


def test_a_bad_payload_never_becomes_an_event():
    with pytest.raises(EventValidationError) as caught:
        new_event("intake.proposal.submitted", {**PAYLOAD, "channel": "pigeon"}, producer="intake", division_code=None)
    assert "channel" in str(caught.value.errors)


def test_unknown_type_or_version_is_refused():
    with pytest.raises(EventValidationError):
        new_event("intake.proposal.vanished", {}, producer="intake", division_code=None)
    with pytest.raises(EventValidationError):
        new_event("intake.proposal.submitted", PAYLOAD, producer="intake", division_code=None, version=9)


def test_received_envelope_is_validated_round_trip():
    event = new_event("intake.proposal.submitted", PAYLOAD, producer="intake", division_code="341702001001")
    assert parse_envelope(event.to_dict()) == event
    broken = {**event.to_dict(), "payload": {**PAYLOAD, "community_code": "3417"}}
    with pytest.raises(EventValidationError):
        parse_envelope(broken)
    with pytest.raises(EventValidationError):
        parse_envelope({**event.to_dict(), "id": "not-a-uuid"})
    with pytest.raises(EventValidationError):
        parse_envelope(["not", "an", "object"])


@pytest.mark.parametrize(
    ("field", "value"),
    [("id", 7), ("type", "Intake.Proposal"), ("version", 0), ("version", True), ("occurred_at", "yesterday"),
     ("producer", ""), ("correlation_id", "x" * 129), ("division_code", "34-17"), ("payload", [])],
)  # fmt: skip
def test_each_envelope_field_is_checked_on_receipt(field, value):
    event = new_event("intake.proposal.submitted", PAYLOAD, producer="intake", division_code="341702001001")
    with pytest.raises(EventValidationError) as caught:
        parse_envelope({**event.to_dict(), field: value})
    assert list(caught.value.errors) == [field]
    missing = event.to_dict()
    del missing[field]
    with pytest.raises(EventValidationError):
        parse_envelope(missing)


def test_a_received_time_without_a_zone_is_read_as_utc():
    event = new_event("intake.proposal.submitted", PAYLOAD, producer="intake", division_code=None)
    parsed = parse_envelope({**event.to_dict(), "occurred_at": "2026-11-26T08:00:00"})
    assert parsed.occurred_at == "2026-11-26T08:00:00+00:00"


CONTACT = {"contact_id": "c-1", "app_user_id": "u1", "kind": "resident", "community_code": "341702001001",
           "removed": False}  # fmt: skip


def test_a_directory_event_carries_ids_and_nothing_personal():
    event = new_event("notify.contacts.changed", {"contacts": [CONTACT]}, producer="notify", division_code=None)
    assert event.payload == {"contacts": [CONTACT]}
    for bad in ({**CONTACT, "phone": "13800138000"}, {**CONTACT, "kind": "celebrity"}, {**CONTACT, "app_user_id": ""}):
        with pytest.raises(EventValidationError):
            new_event("notify.contacts.changed", {"contacts": [bad]}, producer="notify", division_code=None)
    for size in (0, 501):  # told in parts of at most 500
        with pytest.raises(EventValidationError):
            new_event("notify.contacts.changed", {"contacts": [CONTACT] * size}, producer="notify", division_code=None)


def test_the_free_text_of_a_payload_leaves_without_the_numbers_typed_into_it():
    typed = {**PAYLOAD, "title": "请联系13812345678张三"}
    event = new_event("intake.proposal.submitted", typed, producer="intake", division_code="341702001001")
    assert event.payload["title"] == "请联系[已隐去]张三"
    # A consumer checks what it receives and keeps it as it came (the places that show text redact it).
    received = {**event.to_dict(), "payload": {**event.payload, "title": typed["title"]}}
    assert parse_envelope(received).payload["title"] == typed["title"]


def test_redacting_keeps_a_payload_within_its_length_limits():
    title = "请联系13812345678" + "张" * 186  # 200 characters, the limit
    event = new_event("intake.proposal.submitted", {**PAYLOAD, "title": title}, producer="intake", division_code=None)
    assert event.payload["title"] == "请联系[已隐去]" + "张" * 186
