"""The gateway's own routes: login, refresh, logout, who am I, browser sessions, residents'
registration by SMS code, administration of accounts, public keys, API documents.

A browser session is a cookie (``xs_session``: HttpOnly, SameSite=Lax, Secure unless the host is
the loopback) that the gateway turns into a gateway-signed token for the services
(``gateway.app``); its state-changing requests must carry the session's CSRF token in
``X-CSRF-Token`` (``GET /api/v1/auth/session`` gives it).
"""

import ipaddress

from flask import Response, current_app, jsonify, request

from gateway import domain
from gateway.openapi import docs_page
from gateway.runtime import SESSION_COOKIE
from gateway.schemas import (
    AccountIn,
    AccountList,
    AccountOut,
    AccountQuery,
    CodeIn,
    CodeOut,
    LoginIn,
    MeOut,
    PasswordIn,
    RefreshIn,
    RegisterIn,
    SessionIn,
    SessionOut,
    TokenOut,
)
from shared.http import Blueprint, current_principal, public, requires

auth = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="登录与令牌")
documents = Blueprint("documents", __name__, description="公开密钥与接口文档")


def _runtime():
    return current_app.extensions["xieshang.gateway"]


@auth.post("/token")
@auth.arguments(LoginIn)
@auth.response(200, TokenOut)
@auth.doc(security=[])
@public
def login(credentials):
    """Exchange a username and password for an access token and a refresh token."""
    address = request.remote_addr or "unknown"
    return _runtime().accounts.login(credentials["username"], credentials["password"], address).to_dict()


@auth.post("/refresh")
@auth.arguments(RefreshIn)
@auth.response(200, TokenOut)
@auth.doc(security=[])
@public
def refresh(body):
    """A new token pair for a refresh token; the old refresh token is spent."""
    return _runtime().accounts.refresh(body["refresh_token"]).to_dict()


@auth.post("/logout")
@auth.arguments(RefreshIn)
@auth.response(204)
@auth.doc(security=[])
@public
def logout(body):
    """End a login: its refresh tokens are revoked (access tokens expire within their lifetime)."""
    _runtime().accounts.logout(body["refresh_token"])


@auth.get("/me")
@auth.response(200, MeOut)
def me():
    """The caller as the platform sees it: role, scope, community, and for an account its username
    and display name."""
    return _runtime().accounts.me(current_principal())


# -- browser sessions ---------------------------------------------------------------------------------


def _loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0].strip("[]") if not host.startswith("[") else host[1:].split("]")[0]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@auth.post("/session")
@auth.arguments(SessionIn)
@auth.response(201, SessionOut)
@auth.doc(security=[])
@public
def open_session(credentials):
    """Sign a browser in: the session cookie (HttpOnly, SameSite=Lax, Secure outside the loopback)
    and the CSRF token its state-changing requests must send in ``X-CSRF-Token``."""
    runtime = _runtime()
    address = request.remote_addr or "unknown"
    opened = runtime.accounts.open_session(credentials["username"], credentials["password"], address)
    account = MeOut().dump({**opened.account, "subject": opened.account["id"]})
    response = jsonify(csrf_token=opened.csrf_token, account=account)
    response.status_code = 201
    response.set_cookie(
        SESSION_COOKIE, opened.cookie, max_age=opened.max_age, httponly=True, samesite="Lax", path="/",
        secure=not _loopback(request.host),
    )  # fmt: skip
    return response


@auth.get("/session")
@auth.response(200, SessionOut)
def get_session():
    """The caller and, for a browser session, its CSRF token."""
    return {"csrf_token": request.environ.get("xieshang.csrf"), "account": _runtime().accounts.me(current_principal())}


@auth.delete("/session")
@auth.response(204)
@auth.doc(security=[])
@public
def close_session():
    """Sign a browser out: its session ends and the cookie is cleared."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        _runtime().accounts.close_session(cookie)
    response = Response(status=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="Lax", secure=not _loopback(request.host))
    return response


# -- residents register themselves ------------------------------------------------------------------


@auth.post("/verification-codes")
@auth.arguments(CodeIn)
@auth.response(202, CodeOut)
@auth.doc(security=[])
@public
def send_code(body):
    """Send a 6-digit code by SMS to a resident's number (one a minute and five a day per number,
    twenty an hour per address; valid 10 minutes, once). The number is not kept here."""
    runtime = _runtime()
    address = request.remote_addr or "unknown"
    return runtime.accounts.send_code(body["phone"], address, runtime.hmac_key, runtime.send_code)


@auth.post("/register")
@auth.arguments(RegisterIn)
@auth.response(201, AccountOut)
@auth.doc(security=[])
@public
def register(body):
    """A resident's own account, bound to her community, with the code sent to her number; the
    number goes to notify's directory (encrypted), so she is told of her matters by SMS too."""
    runtime = _runtime()
    return runtime.accounts.register(body, runtime.hmac_key, runtime.add_resident_contact)


# -- administration ---------------------------------------------------------------------------------

ADMINS = tuple(domain.ADMIN_LEVELS)


@auth.post("/accounts")
@auth.arguments(AccountIn)
@auth.response(201, AccountOut)
@requires(*ADMINS)
def create_account(body):
    """Create a worker's, department's or supervisor's account within the caller's scope."""
    return _runtime().accounts.create_account(current_principal(), body)


@auth.get("/accounts")
@auth.arguments(AccountQuery, location="query")
@auth.response(200, AccountList)
@requires(*ADMINS)
def list_accounts(query):
    """Accounts within the caller's scope, by username."""
    return {"items": _runtime().accounts.list_accounts(current_principal(), **query)}


@auth.post("/accounts/<account_id>/disable")
@auth.response(200, AccountOut)
@requires(*ADMINS)
def disable_account(account_id: str):
    """Disable an account in scope: its sessions and refresh tokens end at once."""
    runtime = _runtime()
    account = runtime.accounts.set_active(current_principal(), account_id, False)
    runtime.forget_session_token(account_id)
    return account


@auth.post("/accounts/<account_id>/enable")
@auth.response(200, AccountOut)
@requires(*ADMINS)
def enable_account(account_id: str):
    """Enable a disabled account in scope again."""
    return _runtime().accounts.set_active(current_principal(), account_id, True)


@auth.post("/accounts/<account_id>/password")
@auth.arguments(PasswordIn)
@auth.response(200, AccountOut)
@requires(*ADMINS)
def reset_password(body, account_id: str):
    """Give an account in scope a new password; its sessions and refresh tokens end."""
    runtime = _runtime()
    account = runtime.accounts.reset_password(current_principal(), account_id, body["password"])
    runtime.forget_session_token(account_id)
    return account


def _answer(description: str, media_type: str, schema: dict) -> dict:
    """A route's documented 200, for routes that answer without a marshmallow schema."""
    return {"200": {"description": description, "content": {media_type: {"schema": schema}}}}


JWKS = {
    "type": "object",
    "required": ["keys"],
    "properties": {"keys": {"type": "array", "items": {"type": "object", "required": ["kty", "kid"]}}},
}


@documents.get("/.well-known/jwks.json")
@documents.doc(security=[], responses=_answer("JSON Web Key Set (RFC 7517)", "application/json", JWKS))
@public
def jwks():
    """The public keys that verify the gateway's tokens (all keys in rotation)."""
    return jsonify(keys=[key.jwk() for key in _runtime().keys.keys()])


@documents.get("/api/v1/openapi.json")
@documents.doc(security=[], responses=_answer("OpenAPI 3 document", "application/json", {"type": "object"}))
@public
def openapi():
    """The whole public API in one OpenAPI document."""
    return jsonify(_runtime().openapi())


@documents.get("/api/v1/docs")
@documents.doc(security=[], responses=_answer("HTML页面", "text/html", {"type": "string"}))
@public
def docs():
    """A browsable list of every route."""
    return Response(docs_page(_runtime().openapi()), mimetype="text/html")


def blueprints():
    return [auth, documents]
