"""Prometheus metrics shared by every service, correct under gunicorn's several workers.

API targets run with ``PROMETHEUS_MULTIPROC_DIR`` set before this module is imported (the CLI
does it): each worker process writes its samples to files there and ``/metrics`` aggregates them.
Gauges therefore declare how processes combine. Names follow Prometheus conventions: a
``xieshang_`` prefix, base units, ``_total`` for counters. Labels are bounded: service, route
template, event type, district at most; never a community or a person.
"""

from __future__ import annotations

import os
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
