"""The gateway's own routes: login, refresh, logout, who am I, public keys, API documents."""

from flask import Response, current_app, jsonify, request
from flask_smorest import Blueprint

from gateway.openapi import docs_page
from gateway.schemas import LoginIn, MeOut, RefreshIn, TokenOut
from shared.http import current_principal, public

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
    """The caller as the platform sees it."""
    principal = current_principal()
    return {"subject": principal.subject, "role": principal.role, "scope": principal.scope}


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
