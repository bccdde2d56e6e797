"""Callers, their roles and division scopes, and the gateway-signed tokens that carry them.

Every service verifies the token itself (defence in depth): RS256 only, a known ``kid``, not
expired, issued by the gateway for this audience. The caller's role and scope come only from the
verified token. A scope is a division-code prefix: ``3417`` covers all of 池州市,
``341702001001`` one community.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import RSAAlgorithm

from shared.keys import KeyStore
from shared.principal import ROLES, Principal
from shared.problems import Unauthorized

ISSUER = "xieshang-gateway"
AUDIENCE = "xieshang"


class TokenIssuer:
    def __init__(self, keys: KeyStore, ttl: int = 900):
        self.keys = keys
        self.ttl = ttl

    def issue(self, principal: Principal, ttl: int | None = None) -> str:
        key = self.keys.current()
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": principal.subject,
            "role": principal.role,
            "scope": principal.scope,
            "iat": now,
            "nbf": now,
            "exp": now + (ttl or self.ttl),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.kid})


def jwks_keys(url: str, timeout: float = 3.0) -> Callable[[], dict[str, bytes]]:
    """Public keys from the gateway's ``/.well-known/jwks.json``, as PEM by kid."""

    def load() -> dict[str, bytes]:
        document = requests.get(url, timeout=timeout).json()
        keys = {}
        for jwk in document.get("keys", []):
            if jwk.get("kty") == "RSA" and jwk.get("kid"):
                public = RSAAlgorithm.from_jwk(json.dumps(jwk))
                keys[jwk["kid"]] = public.public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
        return keys

    return load


class TokenVerifier:
    """Verifies bearer tokens against the gateway's public keys.

    Keys are re-read when a token names an unknown kid (a rotation happened), at most once per
    ``reload_interval`` so that tokens with made-up kids cannot make every request fetch keys.
    """

    def __init__(self, public_keys: Callable[[], dict[str, bytes]], leeway: int = 30, reload_interval: float = 10.0):
        self._load = public_keys
        self._keys: dict[str, bytes] = {}
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()
        self.leeway = leeway
        self.reload_interval = reload_interval
        # Verified tokens until they expire: a client sends the same token for many requests, and
        # an RSA check plus claim validation costs more than the rest of the gateway's work.
        self._verified: dict[str, tuple[Principal, float]] = {}
        self.cache_size = 10_000

    def _key(self, kid: str) -> bytes:
        if kid not in self._keys and time.monotonic() - self._loaded_at >= self.reload_interval:
            with self._lock:
                try:
                    self._keys = self._load()
                except (OSError, ValueError, requests.RequestException):
                    pass  # keep the keys we have; the kid stays unknown
                self._loaded_at = time.monotonic()
        try:
            return self._keys[kid]
        except KeyError:
            raise Unauthorized("令牌的签名密钥未知") from None

    def verify(self, token: str) -> Principal:
        cached = self._verified.get(token)
        if cached is not None and time.time() < cached[1]:
            return cached[0]
        principal, expires = self._verify(token)
        if len(self._verified) >= self.cache_size:
            self._verified.clear()  # bounded; refilling costs one verification per live token
        self._verified[token] = (principal, expires)
        return principal

    def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("访问令牌格式不正确") from None
        if header.get("alg") != "RS256" or not isinstance(header.get("kid"), str):
            raise Unauthorized("访问令牌的签名算法不被接受")
        try:
            claims = jwt.decode(
                token,
                self._key(header["kid"]),
                algorithms=["RS256"],
                audience=AUDIENCE,
                issuer=ISSUER,
                leeway=self.leeway,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("访问令牌已过期") from None
        except jwt.PyJWTError:
            raise Unauthorized("访问令牌无效") from None
        role, scope = claims.get("role"), claims.get("scope")
        if role not in ROLES or not isinstance(scope, str) or (not scope.isdigit() and scope != ""):
            raise Unauthorized("访问令牌缺少有效的角色或范围")
        return Principal(subject=str(claims["sub"]), role=role, scope=scope), float(claims["exp"])


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None
