"""Per-client token buckets: ``rate`` requests per minute, bursts of up to ten seconds' worth."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, clock=time.monotonic, idle_seconds: float = 600.0):
        self.clock = clock
        self.idle_seconds = idle_seconds
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()
        self._calls = 0

    @staticmethod
    def capacity(rate_per_minute: int) -> float:
        return max(5.0, rate_per_minute / 6)

    def acquire(self, client: str, rate_per_minute: int) -> float:
        """Take one token; return 0 if allowed, else the seconds until a token is available."""
        per_second = rate_per_minute / 60
        capacity = self.capacity(rate_per_minute)
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(client)
            if bucket is None:
                bucket = self._buckets[client] = _Bucket(capacity, now)
            bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated) * per_second)
            bucket.updated = now
            self._calls += 1
            if self._calls % 10_000 == 0:
                self._forget_idle(now)
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return 0.0
            return (1 - bucket.tokens) / per_second

    def _forget_idle(self, now: float) -> None:
        for client in [c for c, b in self._buckets.items() if now - b.updated > self.idle_seconds]:
            del self._buckets[client]


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
