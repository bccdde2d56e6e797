"""Identity use cases: accounts, logins, refresh-token rotation, browser sessions, residents'
registration by SMS code, administration of accounts, API keys.

Errors never tell a caller whether a username exists: a wrong username and a wrong password give
the same 401, cost the same argon2 verification, and count against the same throttles.

Registration never stores a phone number here: a verification keeps the number's keyed hash (to
count codes per number and to match the number given back with the code); the number itself is
handed to notify's directory (``add_contact``) in the same step that creates the account, and a
refusal there leaves no account behind.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from gateway import domain
from gateway.models import accounts, api_keys, browser_sessions, login_throttle, refresh_tokens, sms_verifications
from shared.auth import TokenIssuer
from shared.db import Database
from shared.principal import Principal, validate_scope
from shared.problems import Conflict, Forbidden, Invalid, NotFound, TooManyRequests, Unauthorized
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
class BrowserSession:
    """A browser's session: who it is and the token its state-changing requests must carry."""

    principal: Principal
    csrf_token: str


@dataclass(frozen=True)
class OpenedSession:
    cookie: str  # the cookie's value, shown once, stored as a hash
    csrf_token: str
    account: dict
    max_age: int


def shown(row) -> dict:
    """An account as administrators and its owner see it (never a hash)."""
    scope = row["scope"]
    return {
        "id": row["id"],
        "username": row["username"],
        "display_name": row["display_name"],
        "role": row["role"],
        "scope": scope,
        "community": scope if len(scope) == 12 else None,
        "active": row["active"],
        "created_at": row["created_at"],
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
    def create_user(self, username: str, password: str, role: str, scope: str, display_name: str | None = None) -> str:
        values = self._new_account(username, password, role, scope, display_name)
        with self.db.transaction() as session:
            self._insert_account(session, values)
        return values["id"]

    @staticmethod
    def _new_account(username: str, password: str, role: str, scope: str, display_name: str | None) -> dict:
        for field, check in (
            ("username", lambda: domain.check_username(username)),
            ("password", lambda: domain.check_password(password)),
            ("scope", lambda: validate_scope(role, scope)),
            ("display_name", lambda: domain.check_display_name(display_name)),
        ):
            try:
                check()
            except ValueError as exc:
                raise Invalid(str(exc), field=field) from None
        return {
            "id": str(uuid.uuid4()),
            "username": username,
            "password_hash": domain.hash_password(password),
            "role": role,
            "scope": scope,
            "active": True,
            "created_at": datetime.now(UTC),
            "display_name": domain.check_display_name(display_name),
        }

    @staticmethod
    def _insert_account(session: Session, values: dict) -> None:
        if session.scalar(select(accounts.c.id).where(accounts.c.username == values["username"])):
            raise Conflict("用户名已被使用", field="username")
        session.execute(insert(accounts).values(**values))

    # -- administration (administrators in scope) --------------------------------------------------
    def _managed(self, session: Session, admin: Principal, account_id: str, *, for_update: bool = False):
        query = select(accounts).where(accounts.c.id == account_id)
        row = session.execute(locked(session, query) if for_update else query).mappings().first()
        if row is None or not row["scope"].startswith(admin.scope):
            raise NotFound("账户不存在")
        try:
            domain.check_manages(admin.role, admin.scope, row["role"], row["scope"])
        except PermissionError as exc:
            raise Forbidden(str(exc)) from None
        return row

    def create_account(self, admin: Principal, data: dict) -> dict:
        """An administrator creates a worker's, department's or supervisor's account in its scope."""
        role, scope = data["role"], data["scope"]
        if role not in domain.CREATABLE_ROLES:
            raise Invalid(f"只能创建以下角色的账户:{'、'.join(domain.CREATABLE_ROLES)}", field="role")
        try:
            domain.check_manages(admin.role, admin.scope, role, scope)
        except PermissionError as exc:
            raise Forbidden(str(exc)) from None
        values = self._new_account(data["username"], data["password"], role, scope, data.get("display_name"))
        with self.db.transaction() as session:
            self._insert_account(session, values)
        return shown(values)

    def list_accounts(self, admin: Principal, *, scope: str | None, role: str | None, limit: int) -> list[dict]:
        """Accounts within the administrator's scope (and ``scope``), by username."""
        if admin.role not in domain.ADMIN_LEVELS:
            raise Forbidden("您的角色无权管理账户")
        prefix = scope if scope and scope.startswith(admin.scope) else admin.scope
        if scope and not scope.startswith(admin.scope):
            return []
        query = select(accounts).where(accounts.c.scope.startswith(prefix, autoescape=True))
        if role:
            query = query.where(accounts.c.role == role)
        with self.db.sessions() as session:
            rows = session.execute(query.order_by(accounts.c.username).limit(limit)).mappings().all()
        return [shown(row) for row in rows]

    def set_active(self, admin: Principal, account_id: str, active: bool) -> dict:
        """Disable (its sessions and logins end at once) or enable an account in scope."""
        with self.db.transaction() as session:
            row = self._managed(session, admin, account_id, for_update=True)
            session.execute(update(accounts).where(accounts.c.id == account_id).values(active=active))
            if not active:
                self._end_logins(session, account_id)
            return shown({**row, "active": active})

    def reset_password(self, admin: Principal, account_id: str, password: str) -> dict:
        """Give an account in scope a new password; its sessions and logins end."""
        try:
            domain.check_password(password)
        except ValueError as exc:
            raise Invalid(str(exc), field="password") from None
        with self.db.transaction() as session:
            row = self._managed(session, admin, account_id, for_update=True)
            hashed = domain.hash_password(password)
            session.execute(update(accounts).where(accounts.c.id == account_id).values(password_hash=hashed))
            self._end_logins(session, account_id)
            return shown(row)

    def _end_logins(self, session: Session, account_id: str) -> None:
        session.execute(delete(browser_sessions).where(browser_sessions.c.account_id == account_id))
        session.execute(
            update(refresh_tokens)
            .where(refresh_tokens.c.account_id == account_id, refresh_tokens.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )

    def me(self, principal: Principal) -> dict:
        """The caller; username and display name when the subject is an account (not a key or token)."""
        with self.db.sessions() as session:
            row = session.execute(select(accounts).where(accounts.c.id == principal.subject)).mappings().first()
        scope = principal.scope
        return {
            "subject": principal.subject,
            "role": principal.role,
            "scope": scope,
            "community": scope if len(scope) == 12 else None,
            "username": row["username"] if row else None,
            "display_name": row["display_name"] if row else None,
        }

    # -- residents register themselves with an SMS code ---------------------------------------------
    def send_code(self, phone: str, address: str, key: bytes, send: Callable[[str, str], None]) -> dict:
        """A verification code to ``phone`` (through ``send``, notify's provider), rate limited per
        number and per address; stored as a keyed hash, valid ``domain.CODE_TTL``, single-use."""
        try:
            phone = domain.check_phone(phone)
        except ValueError as exc:
            raise Invalid(str(exc), field="phone") from None
        now = datetime.now(UTC)
        number = domain.keyed(key, phone)
        address = address[:64]
        code = domain.new_code()
        with self.db.transaction() as session:
            v = sms_verifications.c
            last = session.scalar(select(func.max(v.created_at)).where(v.number_hash == number))
            today = session.scalar(
                select(func.count()).where(v.number_hash == number, v.created_at > now - timedelta(days=1))
            )
            hour = session.scalar(
                select(func.count()).where(v.address == address, v.created_at > now - timedelta(hours=1))
            )
            wait = domain.code_wait(last, today, hour, now)
            if wait is not None:
                raise TooManyRequests("验证码发送过于频繁,请稍后再试", retry_after=wait)
            session.execute(
                insert(sms_verifications).values(
                    id=str(uuid.uuid4()), number_hash=number, address=address,
                    code_hash=domain.keyed(key, f"{number}:{code}"), created_at=now,
                    expires_at=now + domain.CODE_TTL, attempts=0,
                )
            )  # fmt: skip
            send(phone, code)  # a refusal there rolls the code back: nothing was sent
        return {
            "expires_in": int(domain.CODE_TTL.total_seconds()),
            "resend_after": int(domain.RESEND_AFTER.total_seconds()),
        }

    def register(self, data: dict, key: bytes, add_contact: Callable[[str, str, str], None]) -> dict:
        """A resident's account, bound to her community, once the code sent to her number matches;
        her number goes to notify's directory (``add_contact(account_id, phone, community)``) in
        the same step: if that is refused, no account is left."""
        try:
            phone = domain.check_phone(data["phone"])
        except ValueError as exc:
            raise Invalid(str(exc), field="phone") from None
        values = self._new_account(
            data["username"], data["password"], "resident", data["community_code"], data.get("display_name")
        )
        now = datetime.now(UTC)
        number = domain.keyed(key, phone)
        wrong = False
        with self.db.transaction() as session:
            v = sms_verifications.c
            query = (
                select(sms_verifications)
                .where(
                    v.number_hash == number, v.used_at.is_(None), v.expires_at > now, v.attempts < domain.CODE_ATTEMPTS
                )
                .order_by(v.created_at.desc())
                .limit(1)
            )
            found = session.execute(locked(session, query)).mappings().first()
            if found is None:
                raise Invalid("验证码已失效,请重新获取", field="code")
            expected = domain.keyed(key, f"{number}:{data['code'].strip()}")
            if not hmac.compare_digest(expected.encode(), found["code_hash"].encode()):
                wrong = True
                session.execute(update(sms_verifications).where(v.id == found["id"]).values(attempts=v.attempts + 1))
        if wrong:  # the wrong guess is counted (committed above), then refused
            raise Invalid("验证码不正确", field="code")
        with self.db.transaction() as session:
            query = select(sms_verifications).where(sms_verifications.c.id == found["id"])
            if session.execute(locked(session, query)).mappings().one()["used_at"] is not None:
                raise Invalid("验证码已失效,请重新获取", field="code")  # spent by a request at the same time
            session.execute(update(sms_verifications).where(sms_verifications.c.id == found["id"]).values(used_at=now))
            self._insert_account(session, values)
            add_contact(values["id"], phone, values["scope"])  # refused: everything here rolls back
        return shown(values)

    # -- browser sessions ----------------------------------------------------------------------------
    def open_session(self, username: str, password: str, address: str) -> OpenedSession:
        row = self._authenticated(username, password, address)
        cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        with self.db.transaction() as session:
            session.execute(delete(browser_sessions).where(browser_sessions.c.expires_at <= now))
            session.execute(
                insert(browser_sessions).values(
                    token_hash=domain.digest(cookie), account_id=row["id"], csrf_token=csrf,
                    created_at=now, expires_at=now + self.refresh_ttl,
                )
            )  # fmt: skip
        return OpenedSession(cookie, csrf, shown(row), int(self.refresh_ttl.total_seconds()))

    def session(self, cookie: str) -> BrowserSession | None:
        """The live session of a cookie's value, of an active account (None: no such session)."""
        now = datetime.now(UTC)
        query = (
            select(browser_sessions.c.csrf_token, accounts.c.id, accounts.c.role, accounts.c.scope)
            .join(accounts, accounts.c.id == browser_sessions.c.account_id)
            .where(
                browser_sessions.c.token_hash == domain.digest(cookie),
                browser_sessions.c.expires_at > now,
                accounts.c.active.is_(True),
            )
        )
        with self.db.sessions() as session:
            row = session.execute(query).mappings().first()
        if row is None:
            return None
        return BrowserSession(Principal(row["id"], row["role"], row["scope"]), row["csrf_token"])

    def close_session(self, cookie: str) -> None:
        with self.db.transaction() as session:
            session.execute(delete(browser_sessions).where(browser_sessions.c.token_hash == domain.digest(cookie)))

    # -- login and tokens ------------------------------------------------------------------------
    def login(self, username: str, password: str, address: str) -> TokenPair:
        row = self._authenticated(username, password, address)
        with self.db.transaction() as session:
            return self._issue(session, row, family_id=str(uuid.uuid4()), now=datetime.now(UTC))

    def _authenticated(self, username: str, password: str, address: str):
        """The active account of a username and password, within the login throttles."""
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
        return row

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
