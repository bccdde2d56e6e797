"""The process's bound on open event streams (``shared.streams``): per account, in total, and the slot
given back however a stream ends."""

from __future__ import annotations

import gc

import pytest

from shared.config import load_settings
from shared.problems import TooManyRequests
from shared.streams import RESERVED_THREADS, OpenStreams, capacity


def events(*chunks: bytes):
    yield from chunks


def failing():
    yield b"data: one\n\n"
    raise OSError("the database went away")


def test_an_account_holds_at_most_its_share_and_others_still_get_theirs():
    streams = OpenStreams(per_subject=2, total=10)
    held = [streams.admit("resident-a"), streams.admit("resident-a")]
    with pytest.raises(TooManyRequests) as refused:
        streams.admit("resident-a")
    assert refused.value.status == 429
    assert refused.value.retry_after > 0
    assert "每个账号最多2个" in refused.value.detail
    streams.admit("resident-b")
    assert streams.count("resident-a") == 2 and streams.count() == 3
    held[0].release()
    streams.admit("resident-a")  # the freed slot is the account's again


def test_the_process_holds_at_most_its_total():
    streams = OpenStreams(per_subject=2, total=3)
    for subject in ("a", "a", "b"):
        streams.admit(subject)
    with pytest.raises(TooManyRequests) as refused:
        streams.admit("c")
    assert "实时消息连接已满" in refused.value.detail
    assert streams.count() == 3 and streams.count("c") == 0


@pytest.mark.parametrize(
    ("threads", "configured", "expected"),
    [
        ("8", "", 4),  # the default: half of the threads
        ("16", "", 8),
        ("8", "3", 3),  # fewer than half, as configured
        ("8", "8", 8 - RESERVED_THREADS),  # never every thread: ordinary requests keep some
        ("3", "", 1),
        ("2", "", 0),  # too few threads to give any to streams
    ],
)
def test_the_total_leaves_threads_for_ordinary_requests(threads, configured, expected):
    settings = load_settings({"XIESHANG_WEB_THREADS": threads, "XIESHANG_STREAM_MAX_OPEN": configured})
    assert capacity(settings) == expected
    assert OpenStreams.for_settings(settings).total == expected


def test_a_body_gives_its_slot_back_at_its_end():
    streams = OpenStreams(per_subject=1, total=1)
    with streams.admit("a") as slot:
        body = slot.hold(events(b"one", b"two"))
    assert streams.count("a") == 1  # held by the body, not by the block that built the response
    assert list(body) == [b"one", b"two"]
    assert streams.count("a") == 0


def test_a_body_closed_early_gives_its_slot_back_and_closes_what_it_wraps():
    streams = OpenStreams(per_subject=1, total=1)
    source = events(b"one", b"two")
    with streams.admit("a") as slot:
        body = slot.hold(source)
    assert next(iter(body)) == b"one"
    body.close()  # the server closes the body when the client has left
    assert streams.count() == 0
    assert next(source, None) is None  # the generator was closed too


def test_a_body_closed_before_its_first_chunk_gives_its_slot_back():
    streams = OpenStreams(per_subject=1, total=1)
    with streams.admit("a") as slot:
        body = slot.hold(events(b"one"))
    body.close()  # a generator's own finally would not run here: it never started
    assert streams.count() == 0


def test_a_body_that_fails_gives_its_slot_back():
    streams = OpenStreams(per_subject=1, total=1)
    with streams.admit("a") as slot:
        body = iter(slot.hold(failing()))
    assert next(body) == b"data: one\n\n"
    with pytest.raises(OSError):
        next(body)
    assert streams.count() == 0


def test_a_failure_before_the_body_exists_gives_the_slot_back():
    streams = OpenStreams(per_subject=1, total=1)
    with pytest.raises(LookupError), streams.admit("a"):
        raise LookupError("a bad cursor")
    assert streams.count() == 0
    with pytest.raises(LookupError), streams.admit("a") as slot:
        slot.hold(events(b"one"))
        raise LookupError("the response could not be built")
    assert streams.count() == 0
    with streams.admit("a"):
        pass  # no body was ever given the slot
    assert streams.count() == 0


def test_a_body_dropped_without_close_gives_its_slot_back():
    streams = OpenStreams(per_subject=1, total=1)
    with streams.admit("a") as slot:
        body = slot.hold(events(b"one"))
    del body
    gc.collect()
    assert streams.count() == 0


def test_releasing_twice_gives_back_one_slot():
    streams = OpenStreams(per_subject=2, total=2)
    first = streams.admit("a")
    streams.admit("a")
    first.release()
    first.release()
    assert streams.count("a") == 1
