"""The gateway's running parts: its database, keys, accounts, rate limits and upstreams."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from gateway import accounts as accounts_module
from gateway.openapi import OPEN311_TEMPLATES, RouteTemplates, merge_specs
from gateway.ratelimit import RateLimiter
from shared.auth import TokenIssuer, TokenVerifier
from shared.config import Settings
from shared.db import Database
from shared.keys import KeyStore
from shared.principal import Principal

MIGRATIONS = Path(__file__).parent / "migrations"
INTERNAL_TOKEN_TTL = 120


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
        self._lock = threading.Lock()

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
