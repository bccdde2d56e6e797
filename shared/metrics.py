"""Prometheus metrics shared by every service, correct under gunicorn's several workers.

API targets run with ``PROMETHEUS_MULTIPROC_DIR`` set before this module is imported (the CLI
does it): each worker process writes its samples to files there and ``/metrics`` aggregates them.
Gauges therefore declare how processes combine. Names follow Prometheus conventions: a
``xieshang_`` prefix, base units, ``_total`` for counters. Labels are bounded: service, route
template, event type, district at most; never a community or a person.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess

HTTP_REQUESTS = Counter(
    "xieshang_http_requests_total", "HTTP requests handled", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "xieshang_http_request_duration_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
EVENTS_PUBLISHED = Counter(
    "xieshang_events_published_total", "Events published from the outbox and confirmed", ["service", "type"]
)
EVENTS_CONSUMED = Counter(
    "xieshang_events_consumed_total",
    "Events received by a consumer, by outcome (processed, duplicate, retried, dead_lettered, invalid)",
    ["service", "type", "outcome"],
)
CONSUMER_LAG = Histogram(
    "xieshang_event_consume_lag_seconds",
    "Time from an event's occurrence (its producer's commit) to its consumer's commit",
    ["service"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
REDELIVERIES = Counter(
    "xieshang_bus_redeliveries_total",
    "Deliveries the broker marked as redelivered (a consumer died or lost its channel before the ack)",
    ["service"],
)
DEAD_LETTERED = Counter("xieshang_bus_dead_lettered_total", "Messages moved to a dead-letter queue", ["service"])
DEAD_LETTERS = Gauge(
    "xieshang_bus_dead_letters",
    "Messages waiting in a service's dead-letter queue (read from RabbitMQ by notify's dead-letter watch)",
    ["service"],
    multiprocess_mode="livemax",
)
HANDLER_LATENCY = Histogram(
    "xieshang_event_handler_duration_seconds", "Time to apply one event and commit", ["service", "type"]
)
OUTBOX_BACKLOG = Gauge(
    "xieshang_outbox_backlog", "Outbox rows not yet published", ["service"], multiprocess_mode="livemax"
)
OUTBOX_OLDEST_AGE = Gauge(
    "xieshang_outbox_oldest_age_seconds",
    "Age of the oldest outbox row not yet published (0 when none waits)",
    ["service"],
    multiprocess_mode="livemax",
)
OUTBOX_LAG = Histogram(
    "xieshang_outbox_publish_lag_seconds",
    "Time from an event's commit to the broker's confirm",
    ["service"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
NOTIFY_MESSAGES = Counter(
    "xieshang_notify_messages_total",
    "Notifications by channel and step: app written; sms queued, deferred (quiet hours), sent, retried, failed, "
    "delivered, suppressed (opted out after queuing)",
    ["channel", "status"],
)
NOTIFY_SMS_PARTS = Counter(
    "xieshang_notify_sms_parts_total",
    "SMS parts (segments billed by the operator) handed to the provider; rate() gives parts per second",
    [],
)
NOTIFY_SMS_WAITING = Gauge(
    "xieshang_notify_sms_waiting",
    "SMS not yet handed to the provider, by status (queued, deferred, sending)",
    ["status"],
    multiprocess_mode="livemax",
)


def multiprocess_enabled() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


# Gauges read at scrape time from a service's own tables (tracking's coverage by district): one
# query per scrape, the same figures whichever process serves it, so outside the multiprocess
# files. They render their own text: at national scale (tens of thousands of samples)
# prometheus_client's generic renderer was most of a scrape's time.
_live: dict[str, Callable[[], str]] = {}
log = logging.getLogger(__name__)


class Snapshot:
    """A live collector's last reading, so that a scrape does not wait for the database: the first
    scrape reads, later ones answer with the last text and, when it is ``max_age`` seconds old or
    older, start one new reading in the background (stale while revalidating, as postgres_exporter's
    ``cache_seconds``). The database then sees at most one reading per ``max_age`` whatever the
    number of Prometheus servers and their intervals; a figure is at most ``max_age`` plus one
    scrape interval late. ``max_age`` 0 reads at every scrape."""

    def __init__(self, read: Callable[[], str], max_age: float, clock: Callable[[], float] = time.monotonic):
        self.read, self.max_age, self.clock = read, max_age, clock
        self._text: str | None = None
        self._read_at = 0.0
        self._lock = threading.Lock()
        self._reading: threading.Thread | None = None

    def __call__(self) -> str:
        if self.max_age == 0:
            return self.read()
        with self._lock:
            text, age = self._text, self.clock() - self._read_at
            if text is not None and age >= self.max_age and self._reading is None:
                self._reading = threading.Thread(target=self._refresh, name="gauges-snapshot", daemon=True)
                self._reading.start()
        if text is None:
            return self._first()
        return text

    def _first(self) -> str:
        with self._lock:  # concurrent first scrapes: one reads, the others get its text
            if self._text is None:
                self._store(self.read())
            return self._text

    def _refresh(self) -> None:
        try:
            text = self.read()
        except Exception:
            log.warning("domain gauges not refreshed", exc_info=True)
            text = None
        with self._lock:
            if text is not None:
                self._store(text)
            self._reading = None

    def _store(self, text: str) -> None:
        self._text, self._read_at = text, self.clock()

    def wait(self, timeout: float | None = None) -> None:
        """Until the background reading in progress, if any, has finished (tests, shutdown)."""
        reading = self._reading
        if reading is not None:
            reading.join(timeout)


def add_live_collector(name: str, collector: Callable[[], str]) -> None:
    """Register ``collector`` (returning exposition text, see ``gauge_text``) under ``name``,
    replacing the one registered under that name before (the process's current runtime wins)."""
    _live[name] = collector


def remove_live_collector(name: str) -> None:
    _live.pop(name, None)


def _escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def labels_text(labels: Mapping[str, str]) -> str:
    """``key="value",…`` escaped as the text format wants: render a series' labels once, use them
    for each of its gauges."""
    return ",".join(f'{key}="{_escaped(value)}"' for key, value in labels.items())


def gauge_text(name: str, help_text: str, samples: Iterable[tuple[str, float]]) -> str:
    """One gauge family in the Prometheus text format (version 0.0.4): ``samples`` are (labels as
    ``labels_text`` renders them, or "" for none; value)."""
    escaped_help = help_text.replace("\\", "\\\\").replace("\n", "\\n")
    lines = [f"# HELP {name} {escaped_help}", f"# TYPE {name} gauge"]
    lines.extend(f"{name}{{{labels}}} {float(value)!r}" if labels else f"{name} {float(value)!r}"
                 for labels, value in samples)  # fmt: skip
    return "\n".join(lines) + "\n"


def exposition() -> tuple[bytes, str]:
    if multiprocess_enabled():
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    live = "".join(collector() for collector in list(_live.values()))
    return generate_latest(registry) + live.encode("utf-8"), CONTENT_TYPE_LATEST


def mark_process_dead(pid: int) -> None:
    if multiprocess_enabled():
        _multiprocess.mark_process_dead(pid)
