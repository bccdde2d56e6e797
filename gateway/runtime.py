"""The gateway's running parts: its database, keys, accounts, rate limits and upstreams."""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from gateway import accounts as accounts_module
from gateway import internal
from gateway.openapi import OPEN311_TEMPLATES, RouteTemplates, merge_specs
from gateway.ratelimit import RateLimiter
from shared.auth import TokenIssuer, TokenVerifier
from shared.config import Settings
from shared.db import Database
from shared.keys import KeyStore
from shared.principal import Principal

MIGRATIONS = Path(__file__).parent / "migrations"
INTERNAL_TOKEN_TTL = 120
SESSION_COOKIE = "xs_session"
# Who the gateway is when it registers a resident's number in her community's directory.
REGISTRAR = "gateway:registration"


class GatewayRuntime:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.db = Database(settings.database_url("gateway"), "gateway")
        self.keys = KeyStore(settings.keys_dir)
        self.keys.current()  # the first start creates the signing key
        self.issuer = TokenIssuer(self.keys, settings.token_ttl)
        self.verifier = TokenVerifier(self.keys.public_keys)
        self.accounts = accounts_module.Accounts(
            self.db,
            self.issuer,
            refresh_ttl=settings.refresh_ttl,
            max_failures=settings.login_max_failures,
            lock_seconds=settings.login_lock_seconds,
        )
        self.limiter = RateLimiter()
        self.upstream_specs: dict[str, Callable[[], dict]] = {}
        self._spec: tuple[dict, RouteTemplates, float] | None = None
        self._own_spec: Callable[[], dict] = dict
        self._internal_tokens: dict[str, tuple[str, float]] = {}
        self._session_tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self.upstreams: dict[str, Callable] = {}
        self._hmac_key: bytes | None = None

    # -- browser sessions: a cookie stands for an account; the services see a gateway-signed token --
    def session_token(self, principal: Principal) -> str:
        now = time.monotonic()
        with self._lock:
            cached = self._session_tokens.get(principal.subject)
            if cached and cached[1] > now:
                return cached[0]
        token = self.issuer.issue(principal)
        with self._lock:
            if len(self._session_tokens) > 10_000:
                self._session_tokens.clear()
            self._session_tokens[principal.subject] = (token, now + self.issuer.ttl / 2)
        return token

    def forget_session_token(self, subject: str) -> None:
        with self._lock:
            self._session_tokens.pop(subject, None)

    # -- registration: the code through notify's provider, the number into notify's directory ------
    @property
    def hmac_key(self) -> bytes:
        """The gateway's key for the keyed hashes of numbers and codes (<keys dir>/verification.key)."""
        if self._hmac_key is None:
            path = Path(self.settings.keys_dir) / "verification.key"
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(descriptor, "wb") as out:
                    out.write(secrets.token_bytes(32))
            self._hmac_key = path.read_bytes()
        return self._hmac_key

    def _notify(self) -> Callable:
        notify = self.upstreams.get("notify")
        if notify is None:
            raise internal.Unavailable("注册服务暂不可用(未连接通知服务)")
        return notify

    def send_code(self, phone: str, code: str) -> None:
        city = self.settings.jurisdiction_id[:4]  # the city this platform serves
        token = self.issuer.issue(Principal(REGISTRAR, "system", city), ttl=INTERNAL_TOKEN_TTL)
        internal.call(self._notify(), "POST", "/api/v1/notify/sms/verification-codes", token,
                      {"phone": phone, "code": code})  # fmt: skip

    def add_resident_contact(self, account_id: str, phone: str, community: str) -> None:
        # A community worker of that one community: the narrowest principal notify lets add a contact.
        token = self.issuer.issue(Principal(REGISTRAR, "community_worker", community), ttl=INTERNAL_TOKEN_TTL)
        body = {"phone": phone, "community_code": community, "kind": "resident", "app_user_id": account_id}
        internal.call(self._notify(), "POST", "/api/v1/notify/contacts", token, body)

    # -- API keys are exchanged for short-lived internal tokens the services verify --------------
    def internal_token(self, key: accounts_module.ApiKey) -> str:
        now = time.monotonic()
        with self._lock:
            cached = self._internal_tokens.get(key.id)
            if cached and cached[1] > now:
                return cached[0]
        token = self.issuer.issue(key.principal, ttl=INTERNAL_TOKEN_TTL)
        with self._lock:
            self._internal_tokens[key.id] = (token, now + INTERNAL_TOKEN_TTL / 2)
        return token

    def authenticate_bearer(self, token: str) -> Principal:
        return self.verifier.verify(token)

    # -- the merged API document ------------------------------------------------------------------
    def set_specs(self, own: Callable[[], dict], upstreams: Mapping[str, Callable[[], dict]]) -> None:
        self._own_spec = own
        self.upstream_specs = dict(upstreams)

    def _merged(self) -> tuple[dict, RouteTemplates, float]:
        now = time.monotonic()
        cached = self._spec
        if cached is not None and cached[2] > now:
            return cached
        specs, complete = {}, True
        for name, load in self.upstream_specs.items():
            try:
                specs[name] = load()
            except (OSError, ValueError):
                complete = False  # a service is down: serve what we have, ask again in a while
        spec = merge_specs(self._own_spec(), specs)
        templates = RouteTemplates([*spec["paths"], *OPEN311_TEMPLATES])
        self._spec = (spec, templates, float("inf") if complete else now + 30)
        return self._spec

    def openapi(self) -> dict:
        return self._merged()[0]

    def route_template(self, path: str) -> str:
        return self._merged()[1].match(path)

    def stop(self) -> None:
        self.db.dispose()
