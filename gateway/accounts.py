"""Identity use cases: accounts, logins, refresh-token rotation, API keys.

Errors never tell a caller whether a username exists: a wrong username and a wrong password give
the same 401, cost the same argon2 verification, and count against the same throttles.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from gateway import domain
from gateway.models import accounts, api_keys, login_throttle, refresh_tokens
from shared.auth import TokenIssuer
from shared.db import Database
from shared.principal import Principal, validate_scope
from shared.problems import Conflict, Invalid, NotFound, TooManyRequests, Unauthorized
from shared.sql import insert_ignoring_duplicates, locked

BAD_LOGIN = "用户名或密码错误"
log = logging.getLogger("xieshang.gateway.accounts")


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int

    def to_dict(self) -> dict:
        return {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "refresh_token": self.refresh_token,
        }


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    role: str
    scope: str
    rate_per_minute: int

    @property
    def principal(self) -> Principal:
        return Principal(subject=f"apikey:{self.name}", role=self.role, scope=self.scope)


class Accounts:
    def __init__(
        self,
        db: Database,
        issuer: TokenIssuer,
        *,
        refresh_ttl: int = 14 * 24 * 3600,
        max_failures: int = 5,
        lock_seconds: int = 900,
    ):
        self.db = db
        self.issuer = issuer
        self.refresh_ttl = timedelta(seconds=refresh_ttl)
        self.max_failures = max_failures
        self.lock = timedelta(seconds=lock_seconds)

    # -- accounts --------------------------------------------------------------------------------
    def create_user(self, username: str, password: str, role: str, scope: str) -> str:
        try:
            domain.check_username(username)
            domain.check_password(password)
            validate_scope(role, scope)
        except ValueError as exc:
            raise Invalid(str(exc)) from None
        account_id = str(uuid.uuid4())
        with self.db.transaction() as session:
            if session.scalar(select(accounts.c.id).where(accounts.c.username == username)):
                raise Conflict("用户名已被使用")
            session.execute(
                insert(accounts).values(
                    id=account_id,
                    username=username,
                    password_hash=domain.hash_password(password),
                    role=role,
                    scope=scope,
                    active=True,
                    created_at=datetime.now(UTC),
                )
            )
        return account_id

    # -- login and tokens ------------------------------------------------------------------------
    def login(self, username: str, password: str, address: str) -> TokenPair:
        now = datetime.now(UTC)
        # An address is shared by a whole office behind NAT: it gets more tries than one account.
        limits = {
            f"account:{username.lower()}"[:200]: self.max_failures,
            f"address:{address}"[:200]: 4 * self.max_failures,
        }
        with self.db.transaction() as session:
            for state in (self._throttle(session, key) for key in limits):
                if state is not None and state.locked(now):
                    log.warning("login refused: locked", extra={"address": address})
                    raise TooManyRequests("登录失败次数过多,请稍后再试", retry_after=state.retry_after(now))
            row = session.execute(select(accounts).where(accounts.c.username == username)).mappings().first()
        valid = domain.verify_password(row["password_hash"] if row else None, password)
        if not valid or not row["active"]:
            with self.db.transaction() as session:
                for key, limit in limits.items():
                    self._count_failure(session, key, now, limit)
            log.warning("login refused: bad credentials", extra={"address": address})
            raise Unauthorized(BAD_LOGIN)
        with self.db.transaction() as session:
            return self._issue(session, row, family_id=str(uuid.uuid4()), now=now)

    def refresh(self, token: str) -> TokenPair:
        now = datetime.now(UTC)
        with self.db.transaction() as session:
            # Locked: the same token presented twice at once is spent once, the other use is a reuse.
            query = select(refresh_tokens).where(refresh_tokens.c.token_hash == domain.digest(token))
            stored = session.execute(locked(session, query)).mappings().first()
            if stored is None or stored["revoked_at"] is not None or stored["expires_at"] <= now:
                raise Unauthorized("刷新令牌无效或已过期")
            reused = stored["used_at"] is not None
            if reused:
                # A spent token came back: someone holds a copy. End the whole login (committed,
                # so the refusal below cannot roll it back).
                self._revoke_family(session, stored["family_id"], now)
            else:
                session.execute(update(refresh_tokens).where(refresh_tokens.c.id == stored["id"]).values(used_at=now))
                row = session.execute(select(accounts).where(accounts.c.id == stored["account_id"])).mappings().one()
                if not row["active"]:
                    raise Unauthorized("账户已停用")
                return self._issue(session, row, family_id=stored["family_id"], now=now)
        log.warning("refresh token reused: login revoked", extra={"family": stored["family_id"]})
        raise Unauthorized("刷新令牌已被使用,请重新登录")

    def logout(self, token: str) -> None:
        now = datetime.now(UTC)
        with self.db.transaction() as session:
            family = session.scalar(
                select(refresh_tokens.c.family_id).where(refresh_tokens.c.token_hash == domain.digest(token))
            )
            if family is not None:
                self._revoke_family(session, family, now)

    def _issue(self, session: Session, account, family_id: str, now: datetime) -> TokenPair:
        refresh = domain.new_refresh_token()
        session.execute(
            insert(refresh_tokens).values(
                id=str(uuid.uuid4()),
                token_hash=domain.digest(refresh),
                family_id=family_id,
                account_id=account["id"],
                expires_at=now + self.refresh_ttl,
            )
        )
        principal = Principal(subject=account["id"], role=account["role"], scope=account["scope"])
        return TokenPair(self.issuer.issue(principal), refresh, self.issuer.ttl)

    @staticmethod
    def _revoke_family(session: Session, family_id: str, now: datetime) -> None:
        session.execute(
            update(refresh_tokens)
            .where(refresh_tokens.c.family_id == family_id, refresh_tokens.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )

    @staticmethod
    def _throttle(session: Session, key: str, *, for_update: bool = False) -> domain.Throttle | None:
        query = select(login_throttle).where(login_throttle.c.key == key)
        row = session.execute(locked(session, query) if for_update else query).mappings().first()
        return domain.Throttle(row["failures"], row["window_started_at"], row["locked_until"]) if row else None

    def _count_failure(self, session: Session, key: str, now: datetime, limit: int) -> None:
        # The key's row made and locked before it is read: failures at once all count.
        insert_ignoring_duplicates(session, login_throttle, {"key": key, "failures": 0, "window_started_at": now})
        state = self._throttle(session, key, for_update=True).after_failure(now, limit, self.lock)
        session.execute(
            update(login_throttle)
            .where(login_throttle.c.key == key)
            .values(failures=state.failures, window_started_at=state.window_started_at, locked_until=state.locked_until)
        )

    # -- API keys --------------------------------------------------------------------------------
    def create_api_key(self, name: str, scope: str, rate_per_minute: int, role: str = "system") -> str:
        try:
            validate_scope(role, scope)
        except ValueError as exc:
            raise Invalid(str(exc)) from None
        if not 0 < rate_per_minute <= 100_000:
            raise Invalid("速率限制须在1到100000次/分钟之间")
        new = domain.new_api_key()
        with self.db.transaction() as session:
            if session.scalar(select(api_keys.c.id).where(api_keys.c.name == name)):
                raise Conflict("同名的API密钥已存在")
            session.execute(
                insert(api_keys).values(
                    id=str(uuid.uuid4()),
                    name=name,
                    prefix=new.prefix,
                    secret_hash=new.secret_hash,
                    role=role,
                    scope=scope,
                    rate_per_minute=rate_per_minute,
                    created_at=datetime.now(UTC),
                )
            )
        return new.key

    def revoke_api_key(self, name: str) -> None:
        with self.db.transaction() as session:
            result = session.execute(
                update(api_keys)
                .where(api_keys.c.name == name, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC))
            )
        if result.rowcount == 0:
            raise NotFound("没有这个有效的API密钥")

    def resolve_api_key(self, key: str) -> ApiKey | None:
        parts = domain.split_api_key(key)
        if parts is None:
            return None
        prefix, secret = parts
        with self.db.sessions() as session:
            row = session.execute(select(api_keys).where(api_keys.c.prefix == prefix)).mappings().first()
        if row is None or row["revoked_at"] is not None or not domain.secret_matches(secret, row["secret_hash"]):
            return None
        return ApiKey(row["id"], row["name"], row["role"], row["scope"], row["rate_per_minute"])
