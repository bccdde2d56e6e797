"""Test helpers: waiting, a cuttable TCP proxy, and a probe event with its own tables."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable

from marshmallow import Schema, fields
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select

from shared.bus.tables import bus_tables
from shared.events import register, registered_types

PROBE_EVENT = "probe.sample.sent"

if (PROBE_EVENT, 1) not in registered_types():

    @register(PROBE_EVENT)
    class ProbeSent(Schema):
        n = fields.Integer(required=True)


probe_metadata = MetaData()
probe_tables = bus_tables(probe_metadata)
probe_effects = Table(
    "probe_effect",
    probe_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False),
    Column("n", Integer, nullable=False),
)


def record_effect(uow, envelope) -> None:
    uow.session.execute(insert(probe_effects).values(event_id=envelope.id, n=envelope.payload["n"]))


def effect_count(db, event_id: str | None = None) -> int:
    query = select(func.count()).select_from(probe_effects)
    if event_id:
        query = query.where(probe_effects.c.event_id == event_id)
    with db.sessions() as session:
        return session.scalar(query)


def wait_until(predicate: Callable[[], object], timeout: float = 15.0, interval: float = 0.05, what: str = ""):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


class Seconds:
    """A monotonic clock (``time.monotonic``'s stand-in) standing still until ``now`` is moved."""

    def __init__(self, now: float = 100.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TcpProxy:
    """A TCP forwarder between the app and a real server that a test can cut and restore,
    to take the broker away without stopping the machine's RabbitMQ."""

    def __init__(self, upstream_host: str, upstream_port: int):
        self.upstream = (upstream_host, upstream_port)
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.restore()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Refuse new connections and break every open one."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            conns, self._conns = self._conns, set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    close = cut

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self._conns.update({client, server})
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


def forged_tokens(keys, principal, other_keys) -> dict[str, str]:
    """Tokens a service must refuse, each broken in one way, for ``principal``."""
    import base64
    import hashlib
    import hmac
    import json

    import jwt

    from shared.auth import TokenIssuer

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    key = keys.current()
    good = TokenIssuer(keys).issue(principal)
    claims = jwt.decode(good, options={"verify_signature": False})
    expired = jwt.encode(
        {**claims, "iat": claims["iat"] - 7200, "nbf": claims["iat"] - 7200, "exp": claims["iat"] - 3600},
        key.private_key,
        algorithm="RS256",
        headers={"kid": key.kid},
    )
    header = b64(json.dumps({"alg": "HS256", "kid": key.kid, "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    hs_signature = hmac.new(key.public_pem, f"{header}.{body}".encode(), hashlib.sha256).digest()
    none_header = b64(json.dumps({"alg": "none", "kid": key.kid, "typ": "JWT"}).encode())
    elevated = b64(json.dumps({**claims, "role": "city_operator", "scope": "34"}).encode())
    head, _, signature = good.split(".")
    return {
        "expired": expired,
        "other_key": TokenIssuer(other_keys).issue(principal),
        "alg_none": f"{none_header}.{body}.",
        "hs256_with_public_key": f"{header}.{body}.{b64(hs_signature)}",
        "tampered_claims": f"{head}.{elevated}.{signature}",
        "garbage": "not.a.token",
    }
