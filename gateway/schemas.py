"""The gateway's HTTP payloads."""

from marshmallow import Schema, fields, validate

from shared.fields import In, Text, Whole, digits, length, one_of


class LoginIn(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, validate=validate.Length(min=1, max=256), load_only=True)


class RefreshIn(Schema):
    refresh_token = fields.String(required=True, validate=validate.Length(min=1, max=256))


class TokenOut(Schema):
    access_token = fields.String()
    token_type = fields.String()
    expires_in = fields.Integer()
    refresh_token = fields.String()


class MeOut(Schema):
    subject = fields.String()
    role = fields.String()
    scope = fields.String()
    community = fields.String(allow_none=True, metadata={"description": "所属社区(12位代码),无则为空"})
    username = fields.String(allow_none=True, metadata={"description": "账户的用户名(API密钥或临时令牌为空)"})
    display_name = fields.String(allow_none=True)


# -- accounts, sessions, registration ---------------------------------------------------------------
# (Chinese messages from shared.fields: residents read them beside the field.)

MANAGED = ("community_worker", "street_admin", "district_admin", "department", "supervisor", "resident")


class AccountOut(Schema):
    id = fields.String()
    username = fields.String()
    display_name = fields.String(allow_none=True, metadata={"description": "称呼"})
    role = fields.String()
    scope = fields.String()
    community = fields.String(allow_none=True, metadata={"description": "所属社区(12位代码),无则为空"})
    active = fields.Boolean()
    created_at = fields.AwareDateTime()


class AccountList(Schema):
    items = fields.List(fields.Nested(AccountOut))


class AccountIn(In):
    username = Text(required=True, validate=length("用户名", 64, 3))
    password = Text(required=True, load_only=True, validate=length("密码", 256, 10))
    role = Text(required=True, validate=one_of(MANAGED[:-1], "角色"))
    scope = Text(required=True, validate=digits("管辖范围"))
    display_name = Text(load_default=None, allow_none=True, validate=length("称呼", 32))


class AccountQuery(Schema):
    scope = Text(load_default=None, validate=digits("管辖范围"))
    role = Text(load_default=None, validate=one_of(MANAGED, "角色"))
    limit = Whole(digits=True, load_default=100, validate=validate.Range(1, 500, error="条数须为1到500"))


class PasswordIn(In):
    password = Text(required=True, load_only=True, validate=length("密码", 256, 10))


class SessionIn(In):
    username = Text(required=True, validate=length("用户名", 64))
    password = Text(required=True, load_only=True, validate=length("密码", 256))


class SessionOut(Schema):
    csrf_token = fields.String(
        allow_none=True, metadata={"description": "页面与脚本的修改请求须在 X-CSRF-Token 头中带上它(凭令牌访问时为空)"}
    )
    account = fields.Nested(lambda: MeOut)


class CodeIn(In):
    phone = Text(required=True, validate=length("手机号", 11, 11))


class CodeOut(Schema):
    expires_in = fields.Integer(metadata={"description": "验证码有效秒数"})
    resend_after = fields.Integer(metadata={"description": "多少秒后可重新获取"})


class RegisterIn(In):
    phone = Text(required=True, validate=length("手机号", 11, 11))
    code = Text(required=True, validate=validate.Regexp(r"^\s*\d{6}\s*$", error="验证码为6位数字"))
    username = Text(required=True, validate=length("用户名", 64, 3))
    password = Text(required=True, load_only=True, validate=length("密码", 256, 10))
    community_code = Text(required=True, validate=validate.Regexp(r"^\d{12}$", error="请选择所在社区"))
    display_name = Text(load_default=None, allow_none=True, validate=length("称呼", 32))
