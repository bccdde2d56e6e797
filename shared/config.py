"""Typed configuration from environment variables (12-factor).

Every variable is declared once in ``VARIABLES`` with its type, default and help text; the README's
configuration table is generated from the same list (``xieshang config``). ``load_settings`` parses
all of them and raises one ``ConfigError`` naming every bad variable, so an operator fixes a
deployment in one round instead of one variable per restart.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SERVICES = ("intake", "meetings", "tracking", "notify")
DATABASES = (*SERVICES, "gateway")  # the gateway keeps accounts and API keys in its own database


class ConfigError(ValueError):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError("expected 1/0, true/false, yes/no or on/off")


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError("must be a positive integer")
    return value


def _non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("must be zero or a positive integer")
    return value


def _port(raw: str) -> int:
    value = int(raw)
    if not 0 < value < 65536:
        raise ValueError("must be a TCP port (1-65535)")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if value <= 0:
        raise ValueError("must be a positive number")
    return value


def _delays(raw: str) -> tuple[float, ...]:
    values = tuple(float(part) for part in raw.split(",") if part.strip())
    if not values or any(v <= 0 for v in values):
        raise ValueError("must be a comma-separated list of positive seconds, e.g. 1,5,30")
    return values


def _origins(raw: str) -> tuple[str, ...]:
    origins = tuple(part.strip().rstrip("/") for part in raw.split(",") if part.strip())
    for origin in origins:
        if origin != "*" and not origin.startswith(("http://", "https://")):
            raise ValueError("origins must be http(s)://host[:port] or *")
    return origins


def _aes_key(raw: str) -> bytes:
    import base64
    import binascii

    try:
        key = base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("must be base64") from None
    if len(key) != 32:
        raise ValueError("must be the base64 of exactly 32 bytes (AES-256)")
    return key


def _choice(choices: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return value

    return parse


def _networks(raw: str) -> tuple:
    import ipaddress

    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in raw.split(",") if part.strip())


def _log_level(raw: str) -> str:
    value = raw.strip().upper()
    if value not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
    return value


def _url(schemes: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        scheme = raw.split("://", 1)[0] if "://" in raw else ""
        if scheme not in schemes:
            raise ValueError(f"must be a URL with scheme {' or '.join(schemes)}")
        return raw

    return parse


_DATABASE_URL = _url(("sqlite", "postgresql", "postgresql+psycopg"))
_AMQP_URL = _url(("memory", "amqp", "amqps", "pyamqp"))
_HTTP_URL = _url(("http", "https"))


@dataclass(frozen=True)
class Variable:
    name: str
    attr: str
    parse: Callable[[str], Any]
    default: Any
    help: str


def _service_vars() -> list[Variable]:
    out = []
    for svc in DATABASES:
        out.append(
            Variable(
                f"XIESHANG_{svc.upper()}_DATABASE_URL",
                f"{svc}_database_url",
                _DATABASE_URL,
                None,
                f"SQLAlchemy URL of the {svc} database (default: SQLite file under the data directory)",
            )
        )
    for svc in SERVICES:
        out.append(
            Variable(
                f"XIESHANG_{svc.upper()}_URL",
                f"{svc}_url",
                _HTTP_URL,
                None,
                f"Base URL of the {svc} API, used by the gateway when services run as separate targets",
            )
        )
    return out


VARIABLES: tuple[Variable, ...] = (
    Variable("XIESHANG_DATA_DIR", "data_dir", Path, Path("var"), "Directory for SQLite files, keys and local state"),
    Variable("XIESHANG_HOST", "host", str, "127.0.0.1", "Address the HTTP server binds to"),
    Variable("PORT", "port", _port, 8080, "Port the HTTP server listens on"),
    Variable(
        "XIESHANG_WEB_CONCURRENCY", "web_concurrency", _positive_int, 2, "gunicorn worker processes per API target"
    ),
    Variable(
        "XIESHANG_WEB_THREADS",
        "web_threads",
        _positive_int,
        8,
        "Threads per gunicorn worker (gthread): concurrent requests per worker, each open event stream holding one",
    ),
    Variable("XIESHANG_LOG_LEVEL", "log_level", _log_level, "INFO", "Log level (JSON logs on stderr)"),
    Variable("XIESHANG_AMQP_URL", "amqp_url", _AMQP_URL, "memory://", "Broker URL; memory:// is the in-process bus"),
    Variable("XIESHANG_BUS_NAMESPACE", "bus_namespace", str, "xieshang", "Prefix of the exchange and queue names"),
    Variable("XIESHANG_QUORUM_QUEUES", "quorum_queues", _bool, False, "Declare quorum queues (RabbitMQ cluster)"),
    Variable("XIESHANG_PREFETCH", "prefetch", _positive_int, 128, "Unacknowledged messages per consumer"),
    Variable(
        "XIESHANG_RETRY_DELAYS",
        "retry_delays",
        _delays,
        (1.0, 5.0, 30.0),
        "Back-off in seconds before each retry; after the last one a message is dead-lettered",
    ),
    Variable(
        "XIESHANG_RELAY_INTERVAL",
        "relay_interval",
        _positive_float,
        1.0,
        "Seconds between outbox polls when no commit woke the relay",
    ),
    Variable("XIESHANG_RELAY_BATCH", "relay_batch", _positive_int, 500, "Outbox rows published per confirm window"),
    Variable(
        "XIESHANG_BROKER_TIMEOUT",
        "broker_timeout",
        _positive_float,
        5.0,
        "Seconds to wait for the broker to connect or confirm",
    ),
    Variable(
        "XIESHANG_JWT_KEYS_DIR",
        "jwt_keys_dir",
        Path,
        None,
        "Directory of the gateway's signing keys (default: <data dir>/keys)",
    ),
    Variable("XIESHANG_TOKEN_TTL", "token_ttl", _positive_int, 900, "Lifetime of access tokens in seconds"),
    Variable("XIESHANG_REFRESH_TTL", "refresh_ttl", _positive_int, 14 * 24 * 3600, "Lifetime of refresh tokens (s)"),
    Variable(
        "XIESHANG_JWKS_URL",
        "jwks_url",
        _HTTP_URL,
        None,
        "Where services fetch the gateway's public keys (default: read them from the keys directory)",
    ),
    Variable("XIESHANG_RATE_LIMIT", "rate_limit", _positive_int, 600, "Requests per minute per client at the gateway"),
    Variable(
        "XIESHANG_TRUSTED_ADDRESSES",
        "trusted_addresses",
        _networks,
        (),
        "Comma-separated addresses or CIDRs of the platform's own infrastructure that calls the gateway "
        "without a token (the SMS gateway posting delivery reports and replies): not rate limited",
    ),
    Variable(
        "XIESHANG_LOGIN_MAX_FAILURES",
        "login_max_failures",
        _positive_int,
        5,
        "Failed logins per account or address before it is locked",
    ),
    Variable("XIESHANG_LOGIN_LOCK_SECONDS", "login_lock_seconds", _positive_int, 900, "How long a lock lasts (s)"),
    Variable(
        "XIESHANG_UPSTREAM_TIMEOUT",
        "upstream_timeout",
        _positive_float,
        30.0,
        "Seconds the gateway waits for a service's answer before a 504",
    ),
    Variable(
        "XIESHANG_STREAM_POLL_SECONDS",
        "stream_poll_seconds",
        _positive_float,
        1.0,
        "Seconds between the checks of an open event stream (notify's inbox stream) for new rows",
    ),
    Variable(
        "XIESHANG_STREAM_MAX_SECONDS",
        "stream_max_seconds",
        _positive_float,
        300.0,
        "Seconds an event stream stays open before it ends itself (the client reconnects with Last-Event-ID)",
    ),
    Variable(
        "XIESHANG_SUPPORT_THRESHOLD",
        "support_threshold",
        _positive_int,
        10,
        "Co-signatures (附议) that make a proposal eligible, where a community set no threshold",
    ),
    Variable(
        "XIESHANG_NOTICE_DAYS",
        "notice_days",
        _non_negative_int,
        3,
        "Days a consultation must be announced before it starts (2015 procedure: notify in advance)",
    ),
    Variable(
        "XIESHANG_HEARING_NOTICE_DAYS",
        "hearing_notice_days",
        _non_negative_int,
        7,
        "Days of notice a hearing (民主听证会) needs",
    ),
    Variable(
        "XIESHANG_JURISDICTION_ID",
        "jurisdiction_id",
        str,
        "341700000000",
        "Open311 jurisdiction_id: the 12-digit code of the city this platform serves",
    ),
    Variable(
        "XIESHANG_NOTIFY_PHONE_KEY",
        "notify_phone_key",
        _aes_key,
        None,
        "Base64 of 32 bytes: the key of notify's contact phone numbers (AES-GCM at rest, HMAC-SHA256 "
        "look-up hash). Unset: a per-installation key file <data dir>/keys/notify-phone.key (0600), "
        "created on first use; keep it with backups, without it the stored numbers cannot be read",
    ),
    Variable(
        "XIESHANG_SMS_PROVIDER",
        "sms_provider",
        _choice(("file", "kannel", "http")),
        "file",
        "Where SMS go: kannel (smsbox's sendsms), http (a city's SMS platform, JSON webhook) or file "
        "(<data dir>/sms-outbox.jsonl, numbers masked: the embedded default, nothing leaves the machine)",
    ),
    Variable(
        "XIESHANG_SMS_URL",
        "sms_url",
        _HTTP_URL,
        None,
        "kannel: smsbox's sendsms URL (http://host:13013/cgi-bin/sendsms); http: the platform's send URL",
    ),
    Variable("XIESHANG_SMS_USERNAME", "sms_username", str, None, "kannel: the sendsms-user's username"),
    Variable(
        "XIESHANG_SMS_PASSWORD",
        "sms_password",
        str,
        None,
        "kannel: the sendsms-user's password; http: the bearer token sent to the platform",
    ),
    Variable("XIESHANG_SMS_SENDER", "sms_sender", str, "1069000000", "Sender number (the carrier-assigned port)"),
    Variable("XIESHANG_SMS_SIGNATURE", "sms_signature", str, "池州社区协商", "The 【签名】 every SMS starts with"),
    Variable(
        "XIESHANG_SMS_MAX_PARTS",
        "sms_max_parts",
        _positive_int,
        4,
        "Most parts one SMS may take (70 characters in one message, 67 per part beyond)",
    ),
    Variable("XIESHANG_SMS_RATE", "sms_rate", _positive_float, 20.0, "SMS parts per second handed to the provider"),
    Variable(
        "XIESHANG_SMS_RETRY_DELAYS",
        "sms_retry_delays",
        _delays,
        (30.0, 120.0, 600.0, 1800.0, 3600.0),
        "Back-off in seconds before each new try of an SMS the provider could not take; then it failed",
    ),
    Variable(
        "XIESHANG_SMS_LEASE_SECONDS",
        "sms_lease_seconds",
        _positive_float,
        120.0,
        "How long a claimed SMS waits for the provider's answer or report before another sender may "
        "send it again (a sender killed mid-send); longer than the provider's report latency",
    ),
    Variable(
        "XIESHANG_SMS_CALLBACK_URL",
        "sms_callback_url",
        _HTTP_URL,
        None,
        "Public base URL of notify's SMS callbacks as the provider reaches them, e.g. "
        "https://gateway.example/api/v1/notify/sms (delivery reports; unset: none are asked for)",
    ),
    Variable(
        "XIESHANG_SMS_RETENTION_DAYS",
        "sms_retention_days",
        _positive_int,
        180,
        "Days a settled SMS (delivered, failed, suppressed) stays in notify's log",
    ),
    Variable(
        "XIESHANG_SMS_POLL_SECONDS",
        "sms_poll_seconds",
        _positive_float,
        1.0,
        "Seconds between the SMS sender's looks for due messages",
    ),
    Variable(
        "XIESHANG_REMINDER_HOURS",
        "reminder_hours",
        _positive_float,
        24.0,
        "How many hours before a consultation starts its invitees are reminded",
    ),
    Variable(
        "XIESHANG_NOTIFY_CLOCK_SECONDS",
        "notify_clock_seconds",
        _positive_float,
        60.0,
        "Seconds between notify's looks for due reminders and piled-up dead letters",
    ),
    Variable(
        "XIESHANG_DEAD_LETTER_ALERT",
        "dead_letter_alert",
        _positive_int,
        10,
        "Dead letters in one service's queue at which operators are told (at most once an hour per queue)",
    ),
    Variable("XIESHANG_CORS_ORIGINS", "cors_origins", _origins, (), "Comma-separated origins allowed by CORS"),
    *_service_vars(),
)


@dataclass(frozen=True)
class Settings:
    values: Mapping[str, Any] = field(default_factory=dict)

    def __getattr__(self, attr: str) -> Any:
        try:
            return self.values[attr]
        except KeyError:
            raise AttributeError(attr) from None

    def database_url(self, service: str) -> str:
        url = self.values.get(f"{service}_database_url")
        if url:
            return url
        return f"sqlite:///{(self.data_dir / f'{service}.db').resolve()}"

    def service_url(self, service: str) -> str | None:
        return self.values.get(f"{service}_url")

    @property
    def keys_dir(self) -> Path:
        return self.jwt_keys_dir or self.data_dir / "keys"

    @property
    def uses_broker(self) -> bool:
        return not self.amqp_url.startswith("memory://")

    def replace(self, **changes: Any) -> Settings:
        return Settings({**self.values, **changes})


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    problems: list[str] = []
    for var in VARIABLES:
        raw = environ.get(var.name)
        if raw is None or raw == "":
            values[var.attr] = var.default
            continue
        try:
            values[var.attr] = var.parse(raw)
        except ValueError as exc:
            problems.append(f"{var.name}={raw!r}: {exc}")
    if problems:
        raise ConfigError(problems)
    return Settings(values)


def configuration_table() -> str:
    """Markdown table of every variable, for the README."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for var in VARIABLES:
        default = var.default
        if isinstance(default, tuple):
            default = ",".join(f"{d:g}" for d in default)
        shown = "" if default is None else f"`{default}`"
        rows.append(f"| `{var.name}` | {shown} | {var.help} |")
    return "\n".join(rows)
