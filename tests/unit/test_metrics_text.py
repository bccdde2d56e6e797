"""Gauges rendered straight to the Prometheus text format parse back as what they say."""

import threading

import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared.metrics import Snapshot, gauge_text, labels_text
from tests.support import Seconds


def test_gauge_text_parses_back_with_its_labels_values_and_help():
    odd = 'a "quoted" back\\slash\nnewline'
    text = gauge_text(
        "xieshang_example_ratio",
        "An example\nwith a newline",
        [
            (labels_text({"level": "district", "area": "341702"}), 0.25),
            (labels_text({"level": odd, "area": "1"}), 3),
            ("", 1),
        ],
    )
    (family,) = text_string_to_metric_families(text)
    assert family.name == "xieshang_example_ratio" and family.type == "gauge"
    assert family.documentation == "An example\nwith a newline"
    assert [(s.labels, s.value) for s in family.samples] == [
        ({"level": "district", "area": "341702"}, 0.25),
        ({"level": odd, "area": "1"}, 3.0),
        ({}, 1.0),
    ]


class Readings:
    """A collector that counts its readings and can be told to fail or to wait."""

    def __init__(self):
        self.count = 0
        self.fail = False
        self.release = threading.Event()
        self.release.set()

    def __call__(self) -> str:
        self.release.wait(5)
        if self.fail:
            raise RuntimeError("database away")
        self.count += 1
        return f"xieshang_reading {self.count}\n"


@pytest.fixture
def readings():
    return Readings()


@pytest.fixture
def clock():
    return Seconds()


def test_a_snapshot_reads_at_the_first_scrape_and_answers_later_ones_from_it(readings, clock):
    snapshot = Snapshot(readings, max_age=15, clock=clock)
    assert snapshot() == "xieshang_reading 1\n"
    clock.now += 14
    assert snapshot() == "xieshang_reading 1\n"
    assert readings.count == 1


def test_an_old_snapshot_is_answered_while_a_newer_one_is_read_in_the_background(readings, clock):
    snapshot = Snapshot(readings, max_age=15, clock=clock)
    snapshot()
    clock.now += 15
    readings.release.clear()  # the database is slow: the scrape must not wait for it
    assert snapshot() == "xieshang_reading 1\n"
    assert snapshot() == "xieshang_reading 1\n"  # one reading in flight, not one per scrape
    readings.release.set()
    snapshot.wait(5)
    assert snapshot() == "xieshang_reading 2\n"
    assert readings.count == 2


def test_a_failed_background_reading_keeps_the_last_text_and_is_tried_again(readings, clock):
    snapshot = Snapshot(readings, max_age=15, clock=clock)
    snapshot()
    clock.now += 15
    readings.fail = True
    snapshot()
    snapshot.wait(5)
    assert snapshot() == "xieshang_reading 1\n"
    snapshot.wait(5)
    readings.fail = False
    snapshot()
    snapshot.wait(5)
    assert snapshot() == "xieshang_reading 2\n"


def test_max_age_zero_reads_at_every_scrape(readings, clock):
    snapshot = Snapshot(readings, max_age=0, clock=clock)
    assert [snapshot(), snapshot()] == ["xieshang_reading 1\n", "xieshang_reading 2\n"]
