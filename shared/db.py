"""One SQLAlchemy engine and session factory per service database (SQLAlchemy 2.0 style)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import DateTime, Engine, TypeDecorator, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from shared import reference_cache


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC timestamp on every backend (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self):
        return datetime

    def process_bind_param(self, value: datetime | None, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given; use datetime.now(UTC)")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # pysqlite's own transaction handling is off: it would BEGIN only before the first write, so two
    # requests could both read a proposal as submitted and both accept it. ``_sqlite_begin`` says
    # how each transaction begins instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets readers go on while a request writes; busy_timeout makes writers queue, not fail.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _sqlite_reader_pragmas(dbapi_connection, _record) -> None:
    dbapi_connection.execute("PRAGMA query_only=ON")  # a read-only transaction cannot write by mistake


def _sqlite_begin(conn) -> None:
    """Every transaction takes the database's write lock when it begins (``BEGIN IMMEDIATE``): a
    second writer waits (busy_timeout) and then reads what the first committed, so a lock the code
    takes on PostgreSQL (``shared.sql.locked``: FOR UPDATE) holds here too: one writer at a time.
    Read-only transactions (``Database.transaction(read_only=True)``) begin deferred and, in WAL
    mode, neither wait for writers nor hold them up."""
    conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")


READ_ONLY = "xieshang_read_only"

# A pooled PostgreSQL connection that sat unused this long is pinged as it is checked out (a
# restart, a failover or a proxy's idle timeout may have closed it meanwhile), and replaced if it
# is dead. One used moments ago is not: pinging every checkout (``pool_pre_ping``) cost a round
# trip per transaction, about a tenth of the platform's database time under load, to catch only
# a cut within the last second, which the unit of work meets as a lost connection instead (an
# API answers 503 with Retry-After, a worker takes its message again).
PING_IDLE_SECONDS = 1.0
_CHECKED_IN = "xieshang_checked_in"


def _stamp_checkin(_dbapi_connection, record) -> None:
    record.info[_CHECKED_IN] = time.monotonic()


def _pinger(engine: Engine):
    def ping_if_idle(dbapi_connection, record, _proxy) -> None:
        # ``record.info`` goes with the DBAPI connection: a new one has no stamp and needs no ping.
        checked_in = record.info.get(_CHECKED_IN)
        if checked_in is None or time.monotonic() - checked_in < PING_IDLE_SECONDS:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError("idle connection found closed") from exc  # the pool connects anew
        if not alive:
            raise DisconnectionError("idle connection found closed")

    return ping_if_idle


def make_engine(url: str, *, read_only: bool = False) -> Engine:
    """The engine of a database URL. On SQLite every transaction takes the write lock as it begins
    (``_sqlite_begin``), but those of a ``read_only`` engine, whose connections refuse to write
    (``read_only`` is for SQLite files; ``Database`` gives PostgreSQL's READ ONLY its own way)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        in_memory = not parsed.database or parsed.database == ":memory:"
        if not in_memory:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # An in-memory database lives in its one connection: every session must share it.
        pool = {"poolclass": StaticPool} if in_memory else {}
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10}, **pool)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        if read_only:
            event.listen(engine, "connect", _sqlite_reader_pragmas)
            return engine.execution_options(**{READ_ONLY: True})
        return engine
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    engine = create_engine(parsed, pool_size=10, max_overflow=10)
    event.listen(engine, "checkin", _stamp_checkin)
    event.listen(engine, "checkout", _pinger(engine))
    return engine


class Database:
    """A service's database: engine, sessions and commit hooks.

    ``after_commit`` callbacks run once per committed transaction that flagged itself with
    ``mark(session, name)``; the outbox uses this to wake its relay right after a commit instead of
    waiting for the next poll. Every session carries the process's ``reference`` cache
    (``shared.reference_cache``).
    """

    def __init__(self, url: str, name: str = "db"):
        self.url = url
        self.name = name
        self.engine = make_engine(url)
        self.reference = reference_cache.ReferenceCache()
        info = {reference_cache.INFO_KEY: self.reference}
        self.sessions = sessionmaker(self.engine, expire_on_commit=False, info=info)
        self.reader = self._read_only_engine()
        self._read_sessions = sessionmaker(self.reader, expire_on_commit=False, info=info)
        self._hooks: dict[str, list[Callable[[], None]]] = {}
        self._lock = threading.Lock()
        event.listen(self.sessions, "after_commit", self._after_commit)
        event.listen(self.sessions, "after_rollback", self._after_rollback)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def _read_only_engine(self) -> Engine:
        """Where read-only transactions run: on PostgreSQL the same pool, READ ONLY; on a SQLite
        file a pool of its own whose connections refuse to write; an in-memory SQLite database is
        one connection, shared."""
        if not self.is_sqlite:
            return self.engine.execution_options(postgresql_readonly=True)
        if isinstance(self.engine.pool, StaticPool):
            return self.engine
        return make_engine(self.url, read_only=True)

    def on_commit(self, name: str, callback: Callable[[], None]) -> None:
        with self._lock:
            self._hooks.setdefault(name, []).append(callback)

    @staticmethod
    def mark(session: Session, name: str) -> None:
        session.info.setdefault("commit_marks", set()).add(name)

    def _after_commit(self, session: Session) -> None:
        for name in session.info.pop("commit_marks", ()):
            for callback in self._hooks.get(name, ()):
                callback()

    @staticmethod
    def _after_rollback(session: Session) -> None:
        session.info.pop("commit_marks", None)

    @contextlib.contextmanager
    def transaction(self, *, read_only: bool = False) -> Iterator[Session]:
        """A session inside one transaction: committed on success, rolled back on any error.

        On SQLite a transaction holds the database's write lock from its start (``_sqlite_begin``),
        so state changes queue up as row locks make them on PostgreSQL. ``read_only`` is for long
        passes that write nothing (scrape-time gauges): they neither wait for writers nor hold them
        up, and a write in one fails (SQLite's query_only, PostgreSQL's READ ONLY)."""
        factory = self._read_sessions if read_only else self.sessions
        with factory() as session, session.begin():
            yield session

    def ping(self) -> None:
        with self.reader.connect() as conn:  # a health check waits for no writer
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()
        self.reader.dispose()  # the same pool but on a SQLite file
