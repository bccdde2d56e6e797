"""Registration's SMS codes (HTTP, thin): the gateway, as the platform's ``system``, has notify's
provider send a resident the code it made (``services.send_verification_code``). Only the
gateway calls it; nothing is stored."""

from __future__ import annotations

from marshmallow import validate

from services.notify import services
from services.notify.phones import PHONE
from services.notify.providers import SmsProvider, provider_for
from shared.fields import In, Text
from shared.http import Blueprint, current_principal, requires
from shared.service import current_runtime

blp = Blueprint("verification", __name__, url_prefix="/api/v1/notify/sms", description="注册验证码短信")
_providers: dict[int, SmsProvider] = {}


class CodeIn(In):
    phone = Text(required=True, validate=validate.Regexp(PHONE.pattern, error="手机号须为11位中国大陆手机号"))
    code = Text(required=True, validate=validate.Regexp(r"^\d{6}$", error="验证码为6位数字"))


def _provider(settings) -> SmsProvider:
    provider = _providers.get(id(settings))
    if provider is None:
        provider = _providers[id(settings)] = provider_for(settings)
    return provider


@blp.post("/verification-codes")
@blp.arguments(CodeIn)
@blp.response(202)
@requires("system")
def send_code(data):
    """Send a registration code to a number now, through the SMS provider (not queued, not kept)."""
    settings = current_runtime().settings
    services.send_verification_code(
        _provider(settings), current_principal(), phone=data["phone"], code=data["code"],
        signature=settings.sms_signature,
    )  # fmt: skip
