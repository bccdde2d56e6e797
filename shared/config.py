"""Typed configuration from environment variables (12-factor).

Every variable is declared once, as a typed field of one of the frozen dataclass sections below
(``ServerSettings``, ``BusSettings``, ``NotifySettings``, ...), with its environment variable, parser,
default and help text (``setting(...)``). ``Settings`` inherits every section, so each value is a flat,
typed attribute (``settings.amqp_url``, ``settings.sms_rate``) that an editor completes and mypy
checks. ``VARIABLES`` and the README's configuration table (``xieshang config``) are derived from
the same declarations. ``load_settings`` parses all of them and raises one ``ConfigError`` naming
every bad variable, so an operator fixes a deployment in one round instead of one variable per
restart.

Decision: plain dataclasses rather than pydantic-settings. The parsers and their messages already
exist and are what operators read; one ``ConfigError`` must list every bad variable in the
``NAME='raw': message`` form (pydantic's errors have their own shape); and the module stays
standard-library only, with no extra dependency for every target.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

SERVICES = ("intake", "meetings", "tracking", "notify")
DATABASES = (*SERVICES, "gateway")  # the gateway keeps accounts and API keys in its own database

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
T = TypeVar("T")


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


def _non_negative_float(raw: str) -> float:
    value = float(raw)
    if not value >= 0:  # also refuses nan
        raise ValueError("must be zero or a positive number")
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


def _networks(raw: str) -> tuple[Network, ...]:
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


def setting(env: str, parse: Callable[[str], T], default: T, help: str, *, secret: bool = False) -> T:
    """A settings field: read from ``env``, parsed by ``parse``, ``default`` when unset or empty.

    ``secret`` keeps the value out of ``repr(settings)``.
    """
    return field(default=default, repr=not secret, metadata={"env": env, "parse": parse, "help": help})


@dataclass(frozen=True)
class ServerSettings:
    """Local state and the HTTP server of every target."""

    data_dir: Path = setting(  # noqa: RUF009 (setting returns a dataclasses.field)
        "XIESHANG_DATA_DIR", Path, Path("var"), "Directory for SQLite files, keys and local state"
    )
    host: str = setting("XIESHANG_HOST", str, "127.0.0.1", "Address the HTTP server binds to")
    port: int = setting("PORT", _port, 8080, "Port the HTTP server listens on")
    web_concurrency: int = setting(
        "XIESHANG_WEB_CONCURRENCY", _positive_int, 2, "gunicorn worker processes per API target"
    )
    web_threads: int = setting(
        "XIESHANG_WEB_THREADS",
        _positive_int,
        8,
        "Threads per gunicorn worker (gthread): concurrent requests per worker, each open event stream holding one "
        "(see XIESHANG_STREAM_MAX_OPEN)",
    )


@dataclass(frozen=True)
class LoggingSettings:
    log_level: str = setting("XIESHANG_LOG_LEVEL", _log_level, "INFO", "Log level (JSON logs on stderr)")
    gauges_max_age: float = setting(
        "XIESHANG_GAUGES_MAX_AGE_SECONDS",
        _non_negative_float,
        15.0,
        "Seconds a scrape may answer with the last reading of a service's domain gauges (tracking's coverage) while "
        "one newer is read in the background; 0 reads them at every scrape",
    )


@dataclass(frozen=True)
class BusSettings:
    """The message bus: broker, queues, retries and the outbox relay."""

    amqp_url: str = setting("XIESHANG_AMQP_URL", _AMQP_URL, "memory://", "Broker URL; memory:// is the in-process bus")
    bus_namespace: str = setting("XIESHANG_BUS_NAMESPACE", str, "xieshang", "Prefix of the exchange and queue names")
    quorum_queues: bool = setting("XIESHANG_QUORUM_QUEUES", _bool, False, "Declare quorum queues (RabbitMQ cluster)")
    prefetch: int = setting("XIESHANG_PREFETCH", _positive_int, 128, "Unacknowledged messages per consumer")
    retry_delays: tuple[float, ...] = setting(
        "XIESHANG_RETRY_DELAYS",
        _delays,
        (1.0, 5.0, 30.0),
        "Back-off in seconds before each retry; after the last one a message is dead-lettered",
    )
    relay_interval: float = setting(
        "XIESHANG_RELAY_INTERVAL",
        _positive_float,
        1.0,
        "Seconds between outbox polls when no commit woke the relay",
    )
    relay_batch: int = setting("XIESHANG_RELAY_BATCH", _positive_int, 500, "Outbox rows published per confirm window")
    inbox_retention_days: int = setting(
        "XIESHANG_INBOX_RETENTION_DAYS",
        _positive_int,
        7,
        "Days a consumed event's id stays in the inbox, against redeliveries (published outbox rows stay 1 day)",
    )
    broker_timeout: float = setting(
        "XIESHANG_BROKER_TIMEOUT",
        _positive_float,
        5.0,
        "Seconds to wait for the broker to connect or confirm",
    )


@dataclass(frozen=True)
class AuthSettings:
    """The gateway's signing keys and the lifetimes of the tokens it issues."""

    jwt_keys_dir: Path | None = setting(  # noqa: RUF009 (setting returns a dataclasses.field)
        "XIESHANG_JWT_KEYS_DIR",
        Path,
        None,
        "Directory of the gateway's signing keys (default: <data dir>/keys)",
    )
    token_ttl: int = setting("XIESHANG_TOKEN_TTL", _positive_int, 900, "Lifetime of access tokens in seconds")
    refresh_ttl: int = setting("XIESHANG_REFRESH_TTL", _positive_int, 14 * 24 * 3600, "Lifetime of refresh tokens (s)")
    jwks_url: str | None = setting(
        "XIESHANG_JWKS_URL",
        _HTTP_URL,
        None,
        "Where services fetch the gateway's public keys (default: read them from the keys directory)",
    )


@dataclass(frozen=True)
class GatewaySettings:
    """The gateway's limits: rate limit, login lock-out, upstream timeout."""

    rate_limit: int = setting(
        "XIESHANG_RATE_LIMIT", _positive_int, 600, "Requests per minute per client at the gateway"
    )
    trusted_addresses: tuple[Network, ...] = setting(
        "XIESHANG_TRUSTED_ADDRESSES",
        _networks,
        (),
        "Comma-separated addresses or CIDRs of the platform's own infrastructure that calls the gateway "
        "without a token (the SMS gateway posting delivery reports and replies): not rate limited",
    )
    login_max_failures: int = setting(
        "XIESHANG_LOGIN_MAX_FAILURES",
        _positive_int,
        5,
        "Failed logins per account or address before it is locked",
    )
    login_lock_seconds: int = setting("XIESHANG_LOGIN_LOCK_SECONDS", _positive_int, 900, "How long a lock lasts (s)")
    registration_area: str = setting(
        "XIESHANG_REGISTRATION_AREA",
        str,
        "341702",
        "District (6 digits) or street (9) whose communities the web app's registration page offers residents",
    )
    upstream_timeout: float = setting(
        "XIESHANG_UPSTREAM_TIMEOUT",
        _positive_float,
        30.0,
        "Seconds the gateway waits for a service's answer before a 504",
    )


@dataclass(frozen=True)
class StreamSettings:
    """Server-sent event streams."""

    stream_poll_seconds: float = setting(
        "XIESHANG_STREAM_POLL_SECONDS",
        _positive_float,
        1.0,
        "Seconds between the checks of an open event stream (notify's inbox stream) for new rows",
    )
    stream_max_seconds: float = setting(
        "XIESHANG_STREAM_MAX_SECONDS",
        _positive_float,
        300.0,
        "Seconds an event stream stays open before it ends itself (the client reconnects with Last-Event-ID)",
    )
    stream_max_per_account: int = setting(
        "XIESHANG_STREAM_MAX_PER_ACCOUNT",
        _positive_int,
        2,
        "Event streams one account (at the gateway: one client) may hold open at once in one process; "
        "more are refused with 429",
    )
    stream_max_open: int = setting(
        "XIESHANG_STREAM_MAX_OPEN",
        _non_negative_int,
        0,
        "Event streams one process holds open at once, each holding a thread (0: half of XIESHANG_WEB_THREADS); "
        "never more than XIESHANG_WEB_THREADS - 2, so ordinary requests always have threads; more are refused with 429",
    )


@dataclass(frozen=True)
class IntakeSettings:
    support_threshold: int = setting(
        "XIESHANG_SUPPORT_THRESHOLD",
        _positive_int,
        10,
        "Co-signatures (附议) that make a proposal eligible, where a community set no threshold",
    )


@dataclass(frozen=True)
class MeetingSettings:
    notice_days: int = setting(
        "XIESHANG_NOTICE_DAYS",
        _non_negative_int,
        3,
        "Days a consultation must be announced before it starts (2015 procedure: notify in advance)",
    )
    hearing_notice_days: int = setting(
        "XIESHANG_HEARING_NOTICE_DAYS",
        _non_negative_int,
        7,
        "Days of notice a hearing (民主听证会) needs",
    )


@dataclass(frozen=True)
class Open311Settings:
    jurisdiction_id: str = setting(
        "XIESHANG_JURISDICTION_ID",
        str,
        "341700000000",
        "Open311 jurisdiction_id: the 12-digit code of the city this platform serves",
    )


@dataclass(frozen=True)
class NotifySettings:
    """notify's contact phone key and its SMS: provider, sender, rate, retries, retention."""

    notify_phone_key: bytes | None = setting(
        "XIESHANG_NOTIFY_PHONE_KEY",
        _aes_key,
        None,
        "Base64 of 32 bytes: the key of notify's contact phone numbers (AES-GCM at rest, HMAC-SHA256 "
        "look-up hash). Unset: a per-installation key file <data dir>/keys/notify-phone.key (0600), "
        "created on first use; keep it with backups, without it the stored numbers cannot be read",
        secret=True,
    )
    notify_phone_key_previous: bytes | None = setting(
        "XIESHANG_NOTIFY_PHONE_KEY_PREVIOUS",
        _aes_key,
        None,
        "During a rotation of the phone key only: the key being retired (base64 of 32 bytes). Numbers and "
        "hashes it wrote are still read and matched until `xieshang contacts rekey` has moved them to "
        "XIESHANG_NOTIFY_PHONE_KEY; unset it afterwards (docs/operations.md)",
        secret=True,
    )
    sms_provider: str = setting(
        "XIESHANG_SMS_PROVIDER",
        _choice(("file", "kannel", "http")),
        "file",
        "Where SMS go: kannel (smsbox's sendsms), http (a city's SMS platform, JSON webhook) or file "
        "(<data dir>/sms-outbox.jsonl, numbers masked: the embedded default, nothing leaves the machine)",
    )
    sms_url: str | None = setting(
        "XIESHANG_SMS_URL",
        _HTTP_URL,
        None,
        "kannel: smsbox's sendsms URL (http://host:13013/cgi-bin/sendsms); http: the platform's send URL",
    )
    sms_username: str | None = setting("XIESHANG_SMS_USERNAME", str, None, "kannel: the sendsms-user's username")
    sms_password: str | None = setting(
        "XIESHANG_SMS_PASSWORD",
        str,
        None,
        "kannel: the sendsms-user's password; http: the bearer token sent to the platform",
        secret=True,
    )
    sms_sender: str = setting("XIESHANG_SMS_SENDER", str, "1069000000", "Sender number (the carrier-assigned port)")
    sms_signature: str = setting("XIESHANG_SMS_SIGNATURE", str, "池州社区协商", "The 【签名】 every SMS starts with")
    sms_max_parts: int = setting(
        "XIESHANG_SMS_MAX_PARTS",
        _positive_int,
        4,
        "Most parts one SMS may take (70 characters in one message, 67 per part beyond)",
    )
    sms_rate: float = setting("XIESHANG_SMS_RATE", _positive_float, 20.0, "SMS parts per second handed to the provider")
    sms_concurrency: int = setting(
        "XIESHANG_SMS_CONCURRENCY",
        _positive_int,
        8,
        "SMS one sender hands to the provider at once, within the rate (on SQLite one at a time)",
    )
    sms_retry_delays: tuple[float, ...] = setting(
        "XIESHANG_SMS_RETRY_DELAYS",
        _delays,
        (30.0, 120.0, 600.0, 1800.0, 3600.0),
        "Back-off in seconds before each new try of an SMS the provider could not take; then it failed",
    )
    sms_lease_seconds: float = setting(
        "XIESHANG_SMS_LEASE_SECONDS",
        _positive_float,
        120.0,
        "How long a claimed SMS waits for the provider's answer or report before another sender may "
        "send it again (a sender killed mid-send); longer than the provider's report latency",
    )
    sms_callback_url: str | None = setting(
        "XIESHANG_SMS_CALLBACK_URL",
        _HTTP_URL,
        None,
        "Public base URL of notify's SMS callbacks as the provider reaches them, e.g. "
        "https://gateway.example/api/v1/notify/sms (delivery reports; unset: none are asked for)",
    )
    public_url: str | None = setting(
        "XIESHANG_PUBLIC_URL",
        _HTTP_URL,
        None,
        "Public base URL of the gateway as residents reach it, e.g. https://xieshang.chizhou.example: "
        "outcome notices and rating asks sent by SMS end with <url>/public/<community code>, the "
        "community's public board (unset: no link)",
    )
    sms_retention_days: int = setting(
        "XIESHANG_SMS_RETENTION_DAYS",
        _positive_int,
        180,
        "Days a settled SMS (delivered, failed, suppressed) stays in notify's log",
    )
    sms_poll_seconds: float = setting(
        "XIESHANG_SMS_POLL_SECONDS",
        _positive_float,
        1.0,
        "Seconds between the SMS sender's looks for due messages",
    )


@dataclass(frozen=True)
class ReminderSettings:
    """notify's clock: consultation reminders and the dead-letter watch."""

    reminder_hours: float = setting(
        "XIESHANG_REMINDER_HOURS",
        _positive_float,
        24.0,
        "How many hours before a consultation starts its invitees are reminded",
    )
    notify_clock_seconds: float = setting(
        "XIESHANG_NOTIFY_CLOCK_SECONDS",
        _positive_float,
        60.0,
        "Seconds between notify's looks for due reminders and piled-up dead letters",
    )
    dead_letter_alert: int = setting(
        "XIESHANG_DEAD_LETTER_ALERT",
        _positive_int,
        10,
        "Dead letters in one service's queue at which operators are told (at most once an hour per queue)",
    )


def _share(raw: str) -> float:
    value = float(raw)
    if not 0 < value <= 1:
        raise ValueError("must be a share above 0 and at most 1, e.g. 0.5")
    return value


def _date(raw: str) -> date:
    return date.fromisoformat(raw.strip())


@dataclass(frozen=True)
class TrackingSettings:
    """tracking: ratings, the working-day schedule of escalation, and the coverage target."""

    rating_window_days: int = setting(
        "XIESHANG_RATING_WINDOW_DAYS",
        _positive_int,
        15,
        "Days after a task is completed during which the residents concerned may rate it",
    )
    reopen_share: float = setting(
        "XIESHANG_REOPEN_SHARE",
        _share,
        0.5,
        "A completed task is reopened when more than this share of its ratings are 不满意",
    )
    remind_before_workdays: int = setting(
        "XIESHANG_REMIND_BEFORE_WORKDAYS",
        _non_negative_int,
        1,
        "Working days before a task's deadline its organisation is reminded (催办)",
    )
    notice_after_workdays: int = setting(
        "XIESHANG_NOTICE_AFTER_WORKDAYS",
        _positive_int,
        3,
        "Working days late after which a task is publicly noticed (通报) and escalated to the district",
    )
    tracking_clock_seconds: float = setting(
        "XIESHANG_TRACKING_CLOCK_SECONDS",
        _positive_float,
        60.0,
        "Seconds between tracking's looks for tasks to remind, escalate or evaluate",
    )
    coverage_target: float = setting(
        "XIESHANG_COVERAGE_TARGET",
        _share,
        1.0,
        "Share of communities that should hold consultations regularly (全覆盖: 1.0)",
    )
    coverage_deadline: date = setting(  # noqa: RUF009
        "XIESHANG_COVERAGE_DEADLINE",
        _date,
        date(2027, 12, 31),
        "Date by which the coverage target is to be reached",
    )
    coverage_window_months: int = setting(
        "XIESHANG_COVERAGE_WINDOW_MONTHS",
        _positive_int,
        12,
        "Months in which a community must have held a consultation to count as covered",
    )
    silent_months: int = setting(
        "XIESHANG_SILENT_MONTHS",
        _positive_int,
        6,
        "Months without a consultation after which a community is listed as silent",
    )


@dataclass(frozen=True)
class CorsSettings:
    cors_origins: tuple[str, ...] = setting(
        "XIESHANG_CORS_ORIGINS", _origins, (), "Comma-separated origins allowed by CORS"
    )


def _database(service: str) -> str | None:
    return setting(
        f"XIESHANG_{service.upper()}_DATABASE_URL",
        _DATABASE_URL,
        None,
        f"SQLAlchemy URL of the {service} database (default: SQLite file under the data directory)",
    )


def _service(service: str) -> str | None:
    return setting(
        f"XIESHANG_{service.upper()}_URL",
        _HTTP_URL,
        None,
        f"Base URL of the {service} API, used by the gateway when services run as separate targets",
    )


@dataclass(frozen=True)
class DatabaseSettings:
    """One database per service in ``DATABASES``; unset: a SQLite file (``Settings.database_url``)."""

    intake_database_url: str | None = _database("intake")
    meetings_database_url: str | None = _database("meetings")
    tracking_database_url: str | None = _database("tracking")
    notify_database_url: str | None = _database("notify")
    gateway_database_url: str | None = _database("gateway")


@dataclass(frozen=True)
class ServiceUrlSettings:
    """Where the gateway reaches each service in ``SERVICES`` when they run as separate targets."""

    intake_url: str | None = _service("intake")
    meetings_url: str | None = _service("meetings")
    tracking_url: str | None = _service("tracking")
    notify_url: str | None = _service("notify")


# dataclasses collect fields from the end of the MRO, so the sections are listed last first: the
# fields of Settings (and VARIABLES, and the README's table) come in ServerSettings ... ServiceUrlSettings order.
@dataclass(frozen=True)
class Settings(
    ServiceUrlSettings,
    DatabaseSettings,
    CorsSettings,
    TrackingSettings,
    ReminderSettings,
    NotifySettings,
    Open311Settings,
    MeetingSettings,
    IntakeSettings,
    StreamSettings,
    GatewaySettings,
    AuthSettings,
    BusSettings,
    LoggingSettings,
    ServerSettings,
):
    """Every section's fields as flat, typed attributes, plus what is computed from them."""

    def database_url(self, service: str) -> str:
        url: str | None = getattr(self, f"{service}_database_url", None)
        return url or self.sqlite_url(self.data_dir, service)

    @staticmethod
    def sqlite_url(data_dir: Path, service: str) -> str:
        """The embedded default: the service's SQLite file under the data directory."""
        return f"sqlite:///{(data_dir / f'{service}.db').resolve()}"

    def service_url(self, service: str) -> str | None:
        url: str | None = getattr(self, f"{service}_url", None)
        return url

    @property
    def keys_dir(self) -> Path:
        return self.jwt_keys_dir or self.data_dir / "keys"

    @property
    def uses_broker(self) -> bool:
        return not self.amqp_url.startswith("memory://")

    def replace(self, **changes: Any) -> Settings:
        """A copy with these attributes changed (an unknown name is a TypeError)."""
        return replace(self, **changes)


SECTIONS: tuple[type, ...] = tuple(reversed(Settings.__bases__))


@dataclass(frozen=True)
class Variable:
    """One environment variable, as declared by its field in a section."""

    name: str
    attr: str
    parse: Callable[[str], Any]
    default: Any
    help: str


VARIABLES: tuple[Variable, ...] = tuple(
    Variable(f.metadata["env"], f.name, f.metadata["parse"], f.default, f.metadata["help"]) for f in fields(Settings)
)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    problems: list[str] = []
    for var in VARIABLES:
        raw = environ.get(var.name)
        if raw is None or raw == "":
            continue  # the field's default
        try:
            values[var.attr] = var.parse(raw)
        except ValueError as exc:
            problems.append(f"{var.name}={raw!r}: {exc}")
    if problems:
        raise ConfigError(problems)
    return Settings(**values)


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
