"""RFC 7807 problem details: the one error format of every HTTP API.

Domain code raises ``Problem`` subclasses; the HTTP layer renders them (and every other 4xx/5xx,
including routing and validation errors) as ``application/problem+json``. Titles are Chinese
because residents and officials read them; ``type`` is a stable English slug for programs.
"""

from __future__ import annotations

from typing import Any

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://xieshang.example/problems/"

_TITLES = {
    400: ("bad-request", "请求格式不正确"),
    401: ("unauthorized", "需要登录或有效的访问令牌"),
    403: ("forbidden", "无权执行此操作"),
    404: ("not-found", "请求的资源不存在"),
    405: ("method-not-allowed", "不支持该请求方法"),
    406: ("not-acceptable", "不支持请求的响应格式"),
    409: ("conflict", "操作与当前状态冲突"),
    413: ("payload-too-large", "请求内容过大"),
    414: ("uri-too-long", "请求地址过长"),
    415: ("unsupported-media-type", "不支持的请求内容类型"),
    417: ("expectation-failed", "无法满足请求的Expect条件"),
    422: ("validation-error", "提交的数据未通过校验"),
    429: ("too-many-requests", "请求过于频繁,请稍后再试"),
    431: ("request-header-fields-too-large", "请求头过大"),
    500: ("internal-error", "服务器内部错误"),
    501: ("not-implemented", "服务器不支持该功能"),
    502: ("bad-gateway", "上游服务响应异常"),
    503: ("service-unavailable", "服务暂时不可用,请稍后再试"),
    504: ("gateway-timeout", "上游服务响应超时"),
}


def default_title(status: int) -> tuple[str, str]:
    return _TITLES.get(status, ("error", "请求失败"))


class Problem(Exception):
    status = 400
    slug: str | None = None

    def __init__(self, detail: str | None = None, *, title: str | None = None, **extra: Any):
        slug, default = default_title(self.status)
        self.slug = self.slug or slug
        self.title = title or default
        self.detail = detail
        self.extra = extra
        super().__init__(detail or self.title)

    def to_dict(self, instance: str | None = None) -> dict[str, Any]:
        return problem_body(self.status, self.title, self.detail, slug=self.slug, instance=instance, **self.extra)


class BadRequest(Problem):
    status = 400


class Unauthorized(Problem):
    status = 401


class Forbidden(Problem):
    status = 403


class NotFound(Problem):
    status = 404


class Conflict(Problem):
    status = 409


class UnsupportedMediaType(Problem):
    status = 415


class Invalid(Problem):
    """Input that is well-formed but breaks a rule (unknown community, text too long...)."""

    status = 422


def problem_body(
    status: int,
    title: str | None = None,
    detail: str | None = None,
    *,
    slug: str | None = None,
    instance: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    default_slug, default = default_title(status)
    body: dict[str, Any] = {
        "type": TYPE_BASE + (slug or default_slug),
        "title": title or default,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


class TooManyRequests(Problem):
    status = 429

    def __init__(self, detail: str | None = None, *, retry_after: int = 1, **extra: Any):
        self.retry_after = max(1, int(retry_after))
        super().__init__(detail, **extra)
