"""`make bench` gathers every benchmark's figures beside its goal into bench/results.json and the
table bench/RESULTS.md (bench/results.py)."""

import json
import os

import pytest

from bench.results import Results, peak_rss


@pytest.fixture
def results():
    found = Results()
    found.versions.update(postgresql_version="15.8", rabbitmq_version="3.10.8")
    found.record("coverage", "scrape of the domain gauges", 42.5, "ms", goal=100)
    found.record("submission", "submissions through the gateway", 92, "per s", goal=150, better="higher")
    found.record("duplicates", "pg_trgm look-up p95 beside it", 120.0, "ms")
    return found


def test_a_figure_meets_its_goal_on_the_side_that_is_better(results):
    scrape, rate, informative = results.figures
    assert scrape.met is True
    assert rate.met is False
    assert informative.met is None


def test_which_way_is_better_is_one_of_two():
    with pytest.raises(ValueError, match="better"):
        Results().record("bus", "publish", 1.0, "×", goal=0.5, better="more")


def test_the_run_writes_the_figures_and_a_table_with_the_machine_they_ran_on(results, tmp_path):
    as_json, as_table = results.write(tmp_path)
    document = json.loads(as_json.read_text(encoding="utf-8"))
    assert document["machine"]["cores"] == os.cpu_count()
    assert document["machine"]["postgresql_version"] == "15.8"
    assert [(f["name"], f["met"]) for f in document["figures"]] == [
        ("scrape of the domain gauges", True),
        ("submissions through the gateway", False),
        ("pg_trgm look-up p95 beside it", None),
    ]
    table = as_table.read_text(encoding="utf-8")
    assert "| coverage | scrape of the domain gauges | 42.5 ms | ≤ 100 ms | met |" in table
    assert "| submission | submissions through the gateway | 92.0 per s | ≥ 150 per s | **not met** |" in table
    assert "| duplicates | pg_trgm look-up p95 beside it | 120 ms |  |  |" in table
    assert "postgresql_version 15.8" in table


def test_peak_memory_is_read_from_the_kernel_for_a_process_group():
    assert peak_rss(os.getpgrp()) > 1_000_000  # this test process is in its own group's list
    results = Results()
    results.peak_memory("gateway", {"intake-api": 80 * 2**20})
    assert (results.figures[0].name, results.figures[0].value, results.figures[0].unit) == (
        "peak memory of intake-api",
        80.0,
        "MiB",
    )
