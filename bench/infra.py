"""Scratch PostgreSQL databases and RabbitMQ names for one benchmark run, removed at the end."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import secrets
import time
import timeit
from collections.abc import Iterator

import psycopg
from kombu import Connection
from psycopg import sql
from sqlalchemy.engine import make_url

from shared.bus.topology import Topology

log = logging.getLogger(__name__)


def add_database_url(parser: argparse.ArgumentParser) -> None:
    """``--database-url``: the PostgreSQL a benchmark connects to for creating its scratch databases."""
    parser.add_argument(
        "--database-url",
        default=os.environ.get("XIESHANG_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="a PostgreSQL database to connect to for creating the scratch databases "
        "(default: $XIESHANG_BENCH_DATABASE_URL)",
    )


def run_id() -> str:
    return secrets.token_hex(4)


def _libpq_url(url: str, database: str | None = None) -> str:
    """The SQLAlchemy-style ``url`` as a libpq URI (no ``+driver``), optionally for another database."""
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def _admin(url: str) -> psycopg.Connection:
    """An autocommit connection to ``url``'s database, for statements outside a transaction."""
    return psycopg.connect(_libpq_url(url), autocommit=True, connect_timeout=5)


class ScratchDatabases:
    """Creates databases next to ``admin_url``'s and drops them (with their connections) on close."""

    def __init__(self, admin_url: str):
        self.admin_url = admin_url
        self.created: list[str] = []
        self.server_version = ""

    def _admin(self) -> psycopg.Connection:
        return _admin(self.admin_url)

    def create(self, name: str) -> str:
        """Create database ``name``; return its SQLAlchemy URL."""
        with self._admin() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            version = conn.info.server_version  # e.g. 150020
            self.server_version = f"{version // 10000}.{version % 10000}"
        self.created.append(name)
        return _libpq_url(self.admin_url, name)

    def drop_all(self) -> None:
        if not self.created:
            return
        with self._admin() as conn:
            for name in reversed(self.created):
                try:
                    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
                except psycopg.Error:
                    log.warning("could not drop scratch database %s", name, exc_info=True)
        self.created.clear()


class BusAdmin:
    """One plain channel for declaring, counting, purging and finally deleting the bench's names."""

    def __init__(self, url: str, topology: Topology):
        self.topology = topology
        self.conn = Connection(url, connect_timeout=5, heartbeat=0)
        self.conn.ensure_connection(max_retries=1, timeout=5)
        self.channel = self.conn.channel()
        version = self.conn.connection.server_properties.get("version", "?")
        self.server_version = version.decode() if isinstance(version, bytes) else str(version)

    def declare(self) -> None:
        self.topology.declare(self.channel)

    def depth(self, queue: str) -> int:
        _name, count, _consumers = self.channel.queue_declare(queue=queue, passive=True)
        return count

    def purge(self, queue: str) -> None:
        self.channel.queue_purge(queue=queue)

    def delete_everything(self) -> None:
        for service in self.topology.subscriptions:
            for queue in self.topology.queues(service):
                try:
                    self.channel.queue_delete(queue=queue.name)
                except Exception:
                    log.warning("could not delete queue %s", queue.name, exc_info=True)
                    self.channel = self.conn.channel()
        try:
            self.channel.exchange_delete(exchange=self.topology.exchange.name)
        except Exception:
            log.warning("could not delete exchange %s", self.topology.exchange.name, exc_info=True)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.release()


@contextlib.contextmanager
def bus_admin(url: str, topology: Topology) -> Iterator[BusAdmin]:
    admin = BusAdmin(url, topology)
    try:
        admin.declare()
        yield admin
    finally:
        admin.delete_everything()
        admin.close()


def group_processes(pgid: int) -> Iterator[tuple[int, list[bytes]]]:
    """(pid, the fields of /proc/<pid>/stat after the command name) of each live process of
    process group ``pgid``: a target's gunicorn master and workers."""
    for pid, _command, fields in processes():
        if int(fields[2]) == pgid:  # state, ppid, pgrp, ...
            yield pid, fields


def processes() -> Iterator[tuple[int, bytes, list[bytes]]]:
    """(pid, command name, the fields of /proc/<pid>/stat after it) of each live process."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue  # gone meanwhile
        end = stat.rfind(b")")
        yield int(entry.name), stat[stat.find(b"(") + 1 : end], stat[end + 2 :].split()


QUIET_LOAD = 1.0  # the 1-minute load average a benchmark waits for (2 cores: one busy at most)


def pace() -> float:
    """Milliseconds this machine takes for a fixed pure-Python loop (best of five), printed beside the
    figures. This is a shared virtual machine: the same code's CPU time per submission measured 7.3
    and 20.6 ms in runs an hour apart, as this loop went 9.7 and 13.8 ms; it tells which state a run met."""
    return min(timeit.repeat("sum(range(1_000_000))", number=5, repeat=5)) / 5 * 1000


def settle(database_url: str, *, timeout: float = 120.0) -> str:
    """Before a benchmark: PostgreSQL's CHECKPOINT (what the set-up or the benchmark before wrote is
    flushed now rather than during the timing: a dropped scratch database alone forces one) and up to
    ``timeout`` seconds for this machine's 1-minute load average to fall to ``QUIET_LOAD`` (the
    processes of the benchmark before have stopped, their load decays); what was reached, to print."""
    started = time.monotonic()
    try:
        with _admin(database_url) as conn:
            conn.execute("CHECKPOINT")
    except psycopg.Error as exc:  # not a superuser nor pg_checkpoint: the figures carry the noise
        log.warning("no CHECKPOINT before the benchmark: %s", exc)
    while os.getloadavg()[0] > QUIET_LOAD and time.monotonic() - started < timeout:
        time.sleep(2.0)
    waited, load = time.monotonic() - started, os.getloadavg()[0]
    return f"(settled in {waited:.0f} s: CHECKPOINT, 1-minute load average {load:.2f}; reference loop {pace():.1f} ms)"
