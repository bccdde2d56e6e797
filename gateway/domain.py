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


# -- administering accounts ---------------------------------------------------------------------------
# Administrators and the levels they stand at: each manages the accounts of its scope below its own level.
ADMIN_LEVELS = {"city_operator": 3, "district_admin": 2, "street_admin": 1}
MANAGED_ROLES = ("community_worker", "street_admin", "district_admin", "department", "supervisor", "resident")
CREATABLE_ROLES = ("community_worker", "street_admin", "district_admin", "department", "supervisor")


def check_manages(admin_role: str, admin_scope: str, role: str, scope: str) -> None:
    """Raise ``PermissionError`` (Chinese message) unless an administrator may manage this account:
    within the administrator's scope, of a role it manages, never another administrator of its level
    or above."""
    if admin_role not in ADMIN_LEVELS:
        raise PermissionError("您的角色无权管理账户")
    if not scope.startswith(admin_scope):
        raise PermissionError("该账户不在您的管辖范围内")
    if role not in MANAGED_ROLES or ADMIN_LEVELS.get(role, 0) >= ADMIN_LEVELS[admin_role]:
        raise PermissionError("您无权管理该角色的账户")


def check_display_name(name: str | None) -> str | None:
    if name is None or not name.strip():
        return None
    name = " ".join(name.split())
    if len(name) > 32 or any(c in name for c in "<>\"'&"):
        raise ValueError("称呼最多32个字符,且不能包含 < > \" ' &")
    return name


# -- SMS verification codes ---------------------------------------------------------------------------
PHONE = re.compile(r"^1[3-9]\d{9}$")
CODE_DIGITS = 6
CODE_TTL = timedelta(minutes=10)
CODE_ATTEMPTS = 5  # wrong guesses before a code is spent
RESEND_AFTER = timedelta(seconds=60)  # per number
PER_NUMBER_PER_DAY = 5
PER_ADDRESS_PER_HOUR = 20


def check_phone(phone: str) -> str:
    phone = phone.strip()
    if not PHONE.fullmatch(phone):
        raise ValueError("请填写11位中国大陆手机号码")
    return phone


def new_code() -> str:
    return "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))


def keyed(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def code_wait(
    last_for_number: datetime | None, sent_to_number_today: int, sent_from_address_hour: int, now: datetime
) -> int | None:
    """Seconds before another code may be sent (None: now). Per number: one a minute, five a day;
    per address: twenty an hour (a whole office behind NAT registering is still fine)."""
    if last_for_number is not None and now - last_for_number < RESEND_AFTER:
        return max(1, int((last_for_number + RESEND_AFTER - now).total_seconds()))
    if sent_to_number_today >= PER_NUMBER_PER_DAY:
        return 3600
    if sent_from_address_hour >= PER_ADDRESS_PER_HOUR:
        return 600
    return None
