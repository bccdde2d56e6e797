"""How many long-lived responses (event streams) one process holds open: per account and in total.

A WSGI server writes a response with the thread that made it, so under gunicorn's ``gthread``
worker every open event stream holds one of the worker's ``XIESHANG_WEB_THREADS`` threads for as
long as it stays open (up to ``XIESHANG_STREAM_MAX_SECONDS``). Left unbounded, a few streams of
one resident take every thread, and ``/healthz``, Open311 and every other request wait behind
them. ``OpenStreams`` admits a stream only while

- the account holds fewer than ``XIESHANG_STREAM_MAX_PER_ACCOUNT`` open streams, and
- the process holds fewer than its capacity: ``XIESHANG_STREAM_MAX_OPEN``, by default half of
  ``XIESHANG_WEB_THREADS``, and never more than ``XIESHANG_WEB_THREADS - RESERVED_THREADS``,

and refuses any other with a 429 problem (``Retry-After``) before the stream starts. There is one
``OpenStreams`` per process (the ``Platform`` owns it): a service's stream route takes a slot for
the stream it serves; the gateway takes one for each stream it proxies over HTTP (separate
targets), since it holds a thread per proxied stream as well. In ``all`` the gateway routes
in-process: the service's slot is the one thread the stream holds. The counts are per process:
with several gunicorn workers each worker bounds its own threads.

A slot is held by the response body (``Slot.hold``) and given back when the body ends, fails or
is closed — the WSGI server closes it when the client leaves, which the server notices the next
time the stream writes (a keep-alive comment at least every 15 s) — or when the request fails
before the body is handed over. A process that is stopping (SIGTERM) calls ``close``: every open
stream then ends at its next chunk (a keep-alive at least every 15 s), and the client reconnects,
to another replica, with ``Last-Event-ID``.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING

from shared.problems import TooManyRequests

if TYPE_CHECKING:
    from shared.config import Settings

RESERVED_THREADS = 2  # threads of a worker never given to event streams, whatever is configured
RETRY_AFTER = 15  # seconds: a departed client's stream gives its slot back by its next keep-alive


def capacity(settings: Settings) -> int:
    """Event streams one process may hold open: ``XIESHANG_STREAM_MAX_OPEN`` (0: half of the
    threads), capped so that ``RESERVED_THREADS`` threads always remain for ordinary requests."""
    wanted = settings.stream_max_open or settings.web_threads // 2
    return max(0, min(wanted, settings.web_threads - RESERVED_THREADS))


class OpenStreams:
    """The event streams open in this process, counted per subject and in total."""

    def __init__(self, per_subject: int, total: int, retry_after: int = RETRY_AFTER):
        self.per_subject = per_subject
        self.total = total
        self.retry_after = retry_after
        self._open: Counter[str] = Counter()
        self._lock = threading.Lock()
        # Slots of bodies collected unclosed, counted off under the lock at the next call: the garbage
        # collector may run a body's __del__ anywhere, even inside this lock (a deque's append is atomic).
        self._abandoned: deque[str] = deque()
        self.closing = threading.Event()

    @classmethod
    def for_settings(cls, settings: Settings) -> OpenStreams:
        return cls(settings.stream_max_per_account, capacity(settings))

    def admit(self, subject: str) -> Slot:
        """A slot for one more stream of ``subject``, or ``TooManyRequests`` (429) when the subject or
        the process already holds its most. Use it as a context manager around building the response:
        unless the slot was handed to the body (``hold``), it is given back when the block ends, and
        always when the block fails."""
        with self._lock:
            self._settle()
            if self._open[subject] >= self.per_subject:
                raise TooManyRequests(
                    f"您打开的实时消息连接过多(每个账号最多{self.per_subject}个),请关闭其他页面后再试",
                    retry_after=self.retry_after,
                )
            if self._open.total() >= self.total:
                raise TooManyRequests("实时消息连接已满,请稍后再试", retry_after=self.retry_after)
            self._open[subject] += 1
        return Slot(self, subject)

    def close(self) -> None:
        """The process is stopping: end every open stream at its next chunk. Safe in a signal handler."""
        self.closing.set()

    def count(self, subject: str | None = None) -> int:
        """Streams open now: of ``subject``, or in total."""
        with self._lock:
            self._settle()
            return self._open[subject] if subject is not None else self._open.total()

    def _release(self, subject: str) -> None:
        with self._lock:
            self._settle()
            self._count_off(subject)

    def _abandon(self, subject: str) -> None:
        self._abandoned.append(subject)

    def _settle(self) -> None:
        while self._abandoned:
            self._count_off(self._abandoned.popleft())

    def _count_off(self, subject: str) -> None:
        self._open[subject] -= 1
        if self._open[subject] <= 0:
            del self._open[subject]


class Slot:
    """One admitted stream. ``release`` is idempotent: the body, the ``with`` block and the garbage
    collector may each try."""

    def __init__(self, streams: OpenStreams, subject: str):
        self._streams = streams
        self.closing = streams.closing
        self.subject = subject
        self._held = False
        self._released = False
        self._lock = threading.Lock()

    def release(self) -> None:
        with self._lock:
            if self._released:
                return
            self._released = True
        self._streams._release(self.subject)

    def abandon(self) -> None:
        """``release`` for a finaliser: takes no lock (nothing else holds the slot any more)."""
        if not self._released:
            self._released = True
            self._streams._abandon(self.subject)

    def hold(self, body: Iterable[bytes]) -> Iterable[bytes]:
        """``body`` as a WSGI response body that gives the slot back when it ends, fails or is closed."""
        self._held = True
        return _HeldBody(body, self)

    def __enter__(self) -> Slot:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if kind is not None or not self._held:
            self.release()


class _HeldBody:
    """A response body holding a slot. Not a generator on purpose: closing a generator that never
    started runs none of its code, so a ``finally`` in it would not give the slot back when the
    client leaves before the first event."""

    def __init__(self, body: Iterable[bytes], slot: Slot):
        self._body = body
        self._chunks: Iterator[bytes] = iter(body)
        self._slot = slot

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self._slot.closing.is_set():  # the process is stopping: end here, the client reconnects
            self.close()
            raise StopIteration
        try:
            return next(self._chunks)
        except BaseException:  # the end (StopIteration) or an error: either way the stream is over
            self.close()
            raise

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._slot.release()

    def __del__(self) -> None:
        # A body dropped without close (a server that breaks the WSGI contract, an error after the
        # view returned, a test client's unread response) still gives its slot back.
        self._slot.abandon()
