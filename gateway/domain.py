"""Identity rules: passwords, API keys, refresh tokens, login throttling. No Flask, no SQL."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# argon2id, memory-hard: 64 MiB and 3 passes per hash (OWASP's first recommended setting is 19 MiB, 2).
_HASHER = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=2)
_USERNAME = re.compile(r"^[A-Za-z0-9_.\-]{3,64}$")
MIN_PASSWORD = 10
KEY_PREFIX = "xs"
# Verified when the username is unknown, so a wrong username costs as long as a wrong password.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


def check_username(username: str) -> None:
    if not _USERNAME.match(username):
        raise ValueError("用户名须为3-64位字母、数字或 _ . -")


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"密码至少需要{MIN_PASSWORD}个字符")
    if len(set(password)) < 4:
        raise ValueError("密码过于简单")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def digest(secret: str) -> str:
    """API keys and refresh tokens are 256-bit random strings: a plain SHA-256 protects them at rest."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class NewApiKey:
    prefix: str
    secret_hash: str
    key: str  # shown once, never stored


def new_api_key() -> NewApiKey:
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return NewApiKey(prefix=prefix, secret_hash=digest(secret), key=f"{KEY_PREFIX}_{prefix}_{secret}")


def split_api_key(key: str) -> tuple[str, str] | None:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def secret_matches(secret: str, secret_hash: str) -> bool:
    return hmac.compare_digest(digest(secret), secret_hash)


def new_refresh_token() -> str:
    return secrets.token_urlsafe(48)


@dataclass(frozen=True)
class Throttle:
    """Failed logins counted in a window; too many lock the key for a while."""

    failures: int
    window_started_at: datetime
    locked_until: datetime | None = None

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until

    def retry_after(self, now: datetime) -> int:
        return max(1, int((self.locked_until - now).total_seconds())) if self.locked_until else 1

    def after_failure(self, now: datetime, max_failures: int, lock: timedelta) -> Throttle:
        state = self if now - self.window_started_at < lock else Throttle(0, now)
        failures = state.failures + 1
        locked_until = now + lock if failures >= max_failures else state.locked_until
        return replace(state, failures=failures, locked_until=locked_until)
